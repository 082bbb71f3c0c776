"""The comparison protocol: how every ranking in the book is earned.

A course about what each way of reusing a model buys must compare fairly, or its lessons are noise. Every
comparison of the book follows these rules, and this module holds the code for each:

1. **Learning rate bracketed.** Each strategy's learning rate is picked on validation from a grid that is widened
   while the best value sits on an edge (:func:`search_learning_rate`), up to a stated number of widenings. The grid
   tried, the validation scores and whether the chosen value is *bracketed* (both ends of the grid scored lower
   than the best, :func:`is_bracketed`) are recorded. An unbracketed learning rate may be the reason a strategy
   loses: no ranking is stated from it.
2. **Converged.** Training stops when validation stops improving (patience) under an epoch cap; a chosen run whose
   best epoch is the cap is recorded as ``capped`` (it might still have improved) and no ranking is stated from it
   (:func:`rankable`).
3. **Frozen parts in eval mode.** A frozen module runs without dropout (``course_lib.train.classifier`` sets it);
   a linear probe trains on features computed once in eval mode.
4. **Labels counted honestly.** A label budget counts every labelled example a run touches: the training examples
   *and* the validation examples it selects on (:func:`split_budget`).
5. **Baselines read what the models read.** TF-IDF is scored on the same truncated text as the models, beside
   TF-IDF on the whole texts (``course_lib.train.baselines.tfidf_logreg(..., max_words=...)``).
6. **One verdict.** :func:`compare` takes the per-test-example correctness of two methods at each seed (the test
   set is the same at every seed), and bootstraps the paired difference over test examples *and* seeds: the
   interval holds both the seed-to-seed spread and the test-sampling error. "A beats B" only when the 95%
   interval excludes 0; otherwise "indistinguishable". A comparison involving a run that is not rankable (rules 1
   and 2) carries a ``note`` and states no ranking, whatever its interval: "indistinguishable" is a finding too, and
   an unbracketed run cannot support it. :func:`sentence` turns a verdict into the words a chapter may print, and
   every ranking sentence of the book is one of those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

MIN_SEEDS = 3
N_BOOTSTRAP = 4000
VERDICTS = ("a better", "b better", "indistinguishable")


# ------------------------------------------------------------------------------------------ label budgets

def split_budget(budget: int, validation_share: float = 0.2, min_validation: int = 10) -> tuple[int, int]:
    """``(train, validation)`` examples for a budget of ``budget`` labelled examples in all.

    The validation examples are part of the budget: a run that picks its learning rate and best epoch on 100
    held-out labels has used those labels too. At least ``min_validation`` go to validation.
    """
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 2 * min_validation:
        raise ValueError(f"budget must be an int of at least {2 * min_validation} labelled examples, got {budget!r}")
    if not 0 < validation_share < 1:
        raise ValueError(f"validation_share must be between 0 and 1, got {validation_share}")
    validation = max(min_validation, round(budget * validation_share))
    return budget - validation, validation


# ------------------------------------------------------------------------------------------ learning rates

@dataclass
class LearningRateSearch:
    """What :func:`search_learning_rate` tried and chose."""

    grid: list[float]  # every learning rate tried, ascending
    scores: list[float]  # validation score of each
    learning_rate: float  # the argmax
    bracketed: bool  # the best score is reached only inside the grid: both ends scored lower (see is_bracketed)
    extensions: int  # how many times the grid was widened
    extra: dict = field(default_factory=dict)  # whatever ``train`` returned for the chosen value

    def as_record(self) -> dict:
        return {"learning_rate_grid": self.grid, "learning_rate_scores": self.scores,
                "learning_rate": self.learning_rate, "bracketed": self.bracketed}


def search_learning_rate(train: Callable[[float], float | tuple[float, dict]], grid: Sequence[float], *,
                         max_extensions: int = 2, factor: float | None = None,
                         limits: tuple[float, float] = (1e-7, 1.0)) -> LearningRateSearch:
    """Try every learning rate of ``grid``; while the best score is reached at an end of it, try one step beyond.

    ``train(lr)`` returns the validation score (or ``(score, extra)``). The step is ``factor`` (default: the ratio
    of the grid's first two values, e.g. 3 for ``1e-3, 3e-3, 1e-2``); at most ``max_extensions`` values are added,
    never outside ``limits``. Ties go to the smaller learning rate. A search whose best score is still reached at an
    end of the grid is returned with ``bracketed=False`` (:func:`is_bracketed`): report it, do not rank with it.
    """
    grid = sorted(float(g) for g in grid)
    if len(grid) < 2:
        raise ValueError("a learning-rate grid needs at least two values to bracket anything")
    factor = factor or grid[1] / grid[0]
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    scores: dict[float, float] = {}
    extras: dict[float, dict] = {}

    def measure(lr: float) -> None:
        out = train(lr)
        score, extra = (out if isinstance(out, tuple) else (out, {}))
        scores[lr], extras[lr] = float(score), extra

    for lr in grid:
        measure(lr)
    extensions = 0
    while extensions < max_extensions:
        tried = sorted(scores)
        top = max(scores.values())
        # widen past the end where the best score is reached (the lower end first: ties go to the smaller rate)
        if scores[tried[0]] == top:
            nxt = tried[0] / factor
        elif scores[tried[-1]] == top:
            nxt = tried[-1] * factor
        else:
            break
        if not limits[0] <= nxt <= limits[1]:
            break
        measure(_round(nxt))
        extensions += 1
    tried = sorted(scores)
    best = max(tried, key=lambda lr: (scores[lr], -lr))
    ordered = [scores[lr] for lr in tried]
    return LearningRateSearch(tried, ordered, best, is_bracketed(tried, ordered), extensions, extras[best])


def is_bracketed(grid: Sequence[float], scores: Sequence[float]) -> bool:
    """Whether a search's best validation score lies inside its grid: reached at no end of it.

    Both ends scored strictly lower than the best, so the optimum is not beyond the range searched. Best values tied
    *inside* the grid (common on a small validation set, where scores move in steps of 1/n) still bracket it; a
    flat search, or one whose best is reached at an end, does not.
    """
    pairs = sorted(zip(grid, scores))
    if len(pairs) < 3:
        return False
    top = max(s for _, s in pairs)
    return pairs[0][1] < top and pairs[-1][1] < top


def _round(x: float) -> float:
    """Three significant digits, so that 1e-3 / 3 / 3 prints as 1.11e-4, not 0.00011111111."""
    return float(f"{x:.3g}")


# ------------------------------------------------------------------------------------------ convergence

def is_capped(best_epoch: int, max_epochs: int) -> bool:
    """A run whose best validation epoch is its last allowed one may still have been improving."""
    return best_epoch >= max_epochs


def rankable(record: Mapping) -> tuple[bool, str]:
    """``(ok, why_not)``: may a ranking be stated from this recorded run?

    Not if its learning rate was not bracketed, or if it hit its epoch cap (``capped``). Records without those
    fields (a baseline with no learning rate, such as TF-IDF) are rankable.
    """
    if record.get("bracketed") is False:
        grid = ", ".join(f"{g:g}" for g in record.get("learning_rate_grid", []))
        return False, (f"its learning-rate search ({grid}) found no bracketed optimum: its best validation score is "
                       "reached at an end of the grid")
    if record.get("capped"):
        return False, f"it was still improving at its epoch cap ({record.get('max_epochs')})"
    return True, ""


def no_ranking_note(records: Mapping[str, Mapping[int, Mapping] | Iterable[Mapping]]) -> str:
    """Why no ranking may be stated from a comparison of these runs, ``""`` if every run is rankable.

    ``records``: ``{method: {seed: record}}`` (or ``{method: [record, ...]}``), the runs the comparison pools. The
    first unrankable run of each method is named (:func:`rankable`), with its seed unless the reason is the
    learning-rate search.
    """
    notes = []
    for name, runs in records.items():
        items = sorted(runs.items()) if isinstance(runs, Mapping) else [(r.get("seed"), r) for r in runs]
        for seed, record in items:
            ok, why = rankable(record)
            if not ok:
                notes.append(f"{name}: {why}" + ("" if "search" in why or seed is None else f" (seed {seed})"))
                break  # once per method
    return "; ".join(notes[:2]) + ("; ..." if len(notes) > 2 else "")


# ------------------------------------------------------------------------------------------ per-example results

def encode_correct(correct: Iterable[bool]) -> str:
    """Per-test-example correctness as a compact string of ``0``/``1`` (stored in the JSON results files)."""
    return "".join("1" if bool(c) else "0" for c in correct)


def decode_correct(bits: str) -> np.ndarray:
    if set(bits) - {"0", "1"}:
        raise ValueError("a correctness string holds only '0' and '1'")
    return np.frombuffer(bits.encode(), dtype=np.uint8) == ord("1")


# ------------------------------------------------------------------------------------------ the verdict

@dataclass
class Comparison:
    """The verdict on "method ``a`` vs method ``b``" (the fields of ``comparisons.json``)."""

    task: str
    budget: int | None
    a: str
    b: str
    mean_difference: float  # accuracy of a minus accuracy of b, pooled over seeds
    ci95: tuple[float, float]
    verdict: str  # one of VERDICTS
    n_test: int
    seeds: list[int]
    mean_a: float
    mean_b: float
    note: str = ""  # why no ranking may be stated, whatever the interval (a run not `rankable`); "" if it may

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        return d


def compare(a: Mapping[int, Sequence[bool] | str], b: Mapping[int, Sequence[bool] | str], *, task: str,
            budget: int | None, names: tuple[str, str], n_bootstrap: int = N_BOOTSTRAP, min_seeds: int = MIN_SEEDS,
            rng_seed: int = 0, level: float = 0.95,
            records: tuple[Mapping[int, Mapping], Mapping[int, Mapping]] | None = None) -> Comparison:
    """Paired comparison of two methods on the same test examples, pooled over seeds.

    ``a[seed]``/``b[seed]``: whether each test example was classified correctly (booleans, or the strings of
    :func:`encode_correct`); the test examples must be the same, in the same order, at every seed. The statistic is
    the mean over seeds and examples of ``correct_a - correct_b``. Each bootstrap draw resamples the seeds *and* the
    test examples (the same examples for every seed drawn), so the interval covers both sources of noise. The verdict
    is ``"a better"`` when the whole interval is above 0, ``"b better"`` when below, else ``"indistinguishable"``.

    ``records`` (``({seed: run record of a}, {seed: run record of b})``, as stored by ``make claims``): when a run
    of either method at a compared seed is not :func:`rankable`, the comparison gets a ``note`` saying why, whatever
    the interval, and :func:`sentence` states no ranking from it.
    """
    seeds = sorted(set(a) & set(b))
    if len(seeds) < min_seeds:
        raise ValueError(f"{names[0]} vs {names[1]} on {task}: {len(seeds)} common seed(s) {seeds}; "
                         f"a verdict needs at least {min_seeds} (run `make claims`)")
    ca = np.stack([_as_bool(a[s]) for s in seeds]).astype(np.float64)  # (S, N)
    cb = np.stack([_as_bool(b[s]) for s in seeds]).astype(np.float64)
    if ca.shape != cb.shape:
        raise ValueError(f"{names[0]} and {names[1]} were tested on different numbers of examples: "
                         f"{ca.shape[1]} vs {cb.shape[1]}")
    diff = ca - cb  # (S, N)
    n_seeds, n = diff.shape
    rng = np.random.default_rng(rng_seed)
    # per seed and per example differences; a draw = (seeds with replacement) x (examples with replacement)
    boot = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        s_idx = rng.integers(0, n_seeds, n_seeds)
        e_idx = rng.integers(0, n, n)
        boot[i] = diff[np.ix_(s_idx, e_idx)].mean()
    alpha = (1 - level) / 2
    lo, hi = (float(x) for x in np.quantile(boot, [alpha, 1 - alpha]))
    verdict = "a better" if lo > 0 else "b better" if hi < 0 else "indistinguishable"
    note = "" if records is None else no_ranking_note(
        {names[0]: {s: records[0][s] for s in seeds if s in records[0]},
         names[1]: {s: records[1][s] for s in seeds if s in records[1]}})
    return Comparison(task, budget, names[0], names[1], float(diff.mean()), (lo, hi), verdict, n, seeds,
                      float(ca.mean()), float(cb.mean()), note)


def _as_bool(x: Sequence[bool] | str) -> np.ndarray:
    return decode_correct(x) if isinstance(x, str) else np.asarray(x, dtype=bool)


def standing(c: dict | None) -> str | None:
    """A comparison in one word, as a chapter's prose branches on it: ``None`` where it was not measured (what
    ``claims.verdict_for`` returns then), ``"no ranking"`` where a run of the pair is not rankable (its ``note``),
    else its verdict (``"a better"``, ``"b better"`` or ``"indistinguishable"``)."""
    return None if c is None else "no ranking" if c.get("note") else c["verdict"]


def sentence(c: Comparison | Mapping, labels: Mapping[str, str] | None = None) -> str:
    """What a chapter may say about a comparison: a ranking only for an interval that excludes 0 between runs that
    are rankable; with a ``note``, "no ranking" and why, whatever the interval."""
    c = c if isinstance(c, Mapping) else c.as_dict()
    labels = labels or {}
    la, lb = labels.get(c["a"], c["a"]), labels.get(c["b"], c["b"])
    lo, hi = c["ci95"]
    seeds = ", ".join(map(str, c["seeds"]))
    where = f"{c['n_test']:,} test examples x seeds {seeds}"
    if c.get("budget"):
        where = f"{c['budget']:,} labels, " + where
    if c.get("note"):
        return (f"{la} vs {lb}: no ranking ({c['note']}); mean {c['mean_a']:.3f} vs {c['mean_b']:.3f} "
                f"({where})")
    if c["verdict"] == "b better":  # say it with the winner first
        la, lb, lo, hi = lb, la, -hi, -lo
        mean_a, mean_b, diff = c["mean_b"], c["mean_a"], -c["mean_difference"]
    else:
        mean_a, mean_b, diff = c["mean_a"], c["mean_b"], c["mean_difference"]
    interval = f"95% interval {100 * lo:+.1f} to {100 * hi:+.1f} points"
    if c["verdict"] in ("a better", "b better"):
        return f"{la} beats {lb}: {mean_a:.3f} vs {mean_b:.3f}, {100 * diff:+.1f} points ({interval}; {where})"
    return (f"{la} and {lb} are indistinguishable: {mean_a:.3f} vs {mean_b:.3f} ({interval} for the difference; "
            f"{where})")


def find(comparisons: Iterable[Mapping], task: str, a: str, b: str, budget: int | None = None) -> dict | None:
    """The comparison of ``a`` and ``b`` on ``task`` (at ``budget``) in a list of comparison dicts, either order.

    Found in the other order, it is returned flipped (``a`` and ``b`` swapped, the difference and interval negated),
    so the caller reads it the way it asked.
    """
    for c in comparisons:
        if c["task"] != task or (budget is not None and c.get("budget") != budget):
            continue
        if (c["a"], c["b"]) == (a, b):
            return dict(c)
        if (c["a"], c["b"]) == (b, a):
            flipped = {"a better": "b better", "b better": "a better"}.get(c["verdict"], c["verdict"])
            return {**c, "a": a, "b": b, "mean_difference": -c["mean_difference"],
                    "ci95": [-c["ci95"][1], -c["ci95"][0]], "verdict": flipped,
                    "mean_a": c["mean_b"], "mean_b": c["mean_a"]}
    return None


def is_finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
