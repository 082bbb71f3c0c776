"""What ``make claims`` measures, and the committed files the chapters read their rankings from.

Every run is stored, keyed by its settings, in ``book/_results/claims_runs.jsonl`` as soon as it finishes, so an
interrupted ``make claims`` resumes where it stopped and a rerun skips what is there. From the stored runs,
:func:`write_comparisons` builds ``book/_results/comparisons.json``: one verdict of
:func:`course_lib.experiments.protocol.compare` per pair of methods, task and label budget, with a ``note`` where
no ranking may be stated (an unbracketed learning rate, a capped run), whatever the interval.

What is measured, in this order (each step is useful on its own, so a partial run still informs the book):

1. ``baselines``: TF-IDF on whole texts and on the text the models read, and MiniLM's linear probe (features
   computed once, eval mode; its learning rate searched at every run: it costs seconds), on Rotten Tomatoes and IMDB
   at every label budget and seed.
2. ``pretrained``: the MiniLM strategies (:mod:`course_lib.experiments.pretrained`) on Rotten Tomatoes: the
   learning rate of each searched on validation at seed 0 and the tuning budget, then reused at the other seeds
   (that this is where it was tuned is recorded with every run).
3. ``encoder``: the source's experiment (the small news-pretrained encoder, chapters 1, 4, 5) at the chapters'
   budget: learning rates searched at seed 0, then seeds 1 and 2.

Sizes (chosen so that the whole of ``make claims`` fits in a few hours on a 2-core CPU; a GPU runs the same code):
see :data:`PLAN`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.env import REPO_ROOT
from course_lib.experiments import protocol

RESULTS = REPO_ROOT / "book" / "_results"
RUNS_FILE = "claims_runs.jsonl"
COMPARISONS_FILE = "comparisons.json"
SEEDS = (0, 1, 2)
PROFILE, SOURCE = "fast", "offline"


@dataclass(frozen=True)
class Plan:
    """The sizes of ``make claims``."""

    seeds: tuple[int, ...] = SEEDS
    baseline_budgets: dict = field(default_factory=lambda: {"rotten_tomatoes": (50, 100, 500, 2000),
                                                            "imdb": (50, 100, 500, 2000)})
    pretrained_tasks: tuple[str, ...] = ("rotten_tomatoes", "imdb")
    # the trained strategies' budgets per task: Rotten Tomatoes' snippets (64 tokens) train about twice as fast as
    # IMDB's 128 tokens, so only they go to 2,000 labels (full fine-tuning there: 6 to 8.5 minutes a run on 2 cores)
    pretrained_budgets: dict = field(default_factory=lambda: {"rotten_tomatoes": (50, 100, 500, 2000),
                                                              "imdb": (50, 100, 500)})
    tuning_budget: int = 100  # where the trained strategies' learning rates are searched (seed 0)
    # in the order they run at each budget: the pretrained ones first, so that a stopped run has compared them
    pretrained_strategies: tuple[str, ...] = ("full_finetune", "lora", "adapters", "partial_unfreeze", "scratch")
    max_length: dict = field(default_factory=lambda: {"rotten_tomatoes": 64, "imdb": 128})


PLAN = Plan()


# ------------------------------------------------------------------------------------------------ the store

class RunStore:
    """Finished runs, one JSON object a line, keyed by the settings that produced them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.runs: dict[str, dict] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    if row.get("learning_rate_scores"):
                        # judged by today's rule, so runs stored before a change of the rule agree with new ones
                        row["bracketed"] = protocol.is_bracketed(row["learning_rate_grid"],
                                                                 row["learning_rate_scores"])
                    self.runs[row["key"]] = row

    @staticmethod
    def key(settings: dict) -> str:
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    def get(self, settings: dict) -> dict | None:
        return self.runs.get(self.key(settings))

    def put(self, settings: dict, result: dict) -> dict:
        row = {"key": self.key(settings), "settings": settings, **result}
        self.runs[row["key"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        return row

    def rewrite(self) -> Path:
        """Write the file again, one line per key, each run judged by today's rules.

        Appending keeps a run that is interrupted from losing the others; rewriting (after a change of a rule, or
        when a key was stored twice) keeps the committed file saying what :meth:`__init__` reads from it.
        """
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in self.runs.values()))
        tmp.replace(self.path)
        return self.path

    def select(self, **match) -> list[dict]:
        return [r for r in self.runs.values() if all(r["settings"].get(k) == v for k, v in match.items())]


class Progress:
    """``[k/n] what (took s) | elapsed, about m min left``, the estimate from the mean time per finished run."""

    def __init__(self, total: int, log: Callable[[str], None] = print):
        self.total, self.done, self.log, self.start = total, 0, log, time.perf_counter()
        self.spent = 0.0

    def step(self, what: str, seconds: float, skipped: bool = False) -> None:
        self.done += 1
        if skipped:
            self.log(f"[{self.done}/{self.total}] {what}: stored, skipped")
            return
        self.spent += seconds
        ran = max(1, self.done)
        left = (self.total - self.done) * self.spent / ran
        self.log(f"[{self.done}/{self.total}] {what} ({seconds:.0f} s) | "
                 f"{(time.perf_counter() - self.start) / 60:.1f} min so far, about {left / 60:.0f} min left")


# ------------------------------------------------------------------------------------------------ data

def budget_splits(task: str, budget: int, seed: int):
    """``train``/``validation``/``test`` for a label budget (validation counted in it; the test split is fixed)."""
    from course_lib.data.loaders import Sizes, load_text_classification

    n_train, n_val = protocol.split_budget(budget)
    return load_text_classification(task, SOURCE, Sizes(train=n_train, validation=n_val, test=None), seed=seed)


# ------------------------------------------------------------------------------------------------ steps

def _store_tfidf(store: RunStore, settings: dict, splits, seed: int, cut: Callable[[list[str]], list[str]]) -> None:
    """Store the two TF-IDF baselines of one (task, budget, seed): on the whole text, and on the text ``cut`` keeps
    (what the compared model reads), so a ranking against a model can be made on the same input."""
    from course_lib.train.baselines import tfidf_logreg

    for method, kwargs in (("tfidf_whole", {}), ("tfidf_truncated", {"truncate": cut})):
        res = tfidf_logreg(splits["train"], splits["validation"], splits["test"], seed=seed, **kwargs)
        store.put({**settings, "method": method},
                  {"accuracy": res.accuracy, "validation_accuracy": res.validation_accuracy,
                   "test_correct": protocol.encode_correct(res.setting["correct"]), "C": res.setting["C"],
                   "trainable_params": res.trainable_params})


def run_baselines(store: RunStore, plan: Plan = PLAN, log=print) -> None:
    """TF-IDF (whole and truncated) and MiniLM's linear probe at every task, budget and seed."""
    from course_lib.experiments import pretrained

    path = pretrained.minilm_path(SOURCE)
    cfg = pretrained.PretrainedConfig()
    todo = [(t, b, s) for t, budgets in plan.baseline_budgets.items() for b in budgets for s in plan.seeds]
    progress = Progress(len(todo), log)
    for task, budget, seed in todo:
        start = time.perf_counter()
        settings = {"kind": "baselines", "task": task, "budget": budget, "seed": seed,
                    "max_length": plan.max_length[task]}
        if store.select(**settings, method="linear_probe"):
            progress.step(f"{task} {budget} seed {seed} baselines", 0, skipped=True)
            continue
        splits = budget_splits(task, budget, seed)
        cut = lambda texts: pretrained.truncate_like_model(texts, path, plan.max_length[task])  # noqa: E731
        _store_tfidf(store, settings, splits, seed, cut)
        pcfg = pretrained.PretrainedConfig(max_length=plan.max_length[task])
        loaders = pretrained.loaders_for(dict(splits), path, pcfg, seed)
        _search_and_store(store, {**settings, "method": "linear_probe"}, "linear_probe", loaders, path, pcfg, seed,
                          pretrained.LEARNING_RATE_GRIDS["linear_probe"], test_key=(task, plan.max_length[task]))
        progress.step(f"{task} {budget} seed {seed} baselines", time.perf_counter() - start)
    del cfg


def _search_and_store(store, settings, name, loaders, path, cfg, seed, grid, test_key=None) -> dict:
    """Search the learning rate of one run on validation, store the chosen run with the search's record."""
    from course_lib.experiments import pretrained

    results: dict[float, dict] = {}

    def train(lr):
        results[lr] = pretrained.run_strategy(name, loaders, path=path, num_labels=2, learning_rate=lr, cfg=cfg,
                                              seed=seed, run_key=RunStore.key(settings), test_key=test_key)
        return results[lr]["validation_accuracy"]

    search = protocol.search_learning_rate(train, grid)
    chosen = results[search.learning_rate]
    return store.put(settings, {**chosen, **search.as_record(), "tuned_here": True})


def run_pretrained(store: RunStore, plan: Plan = PLAN, log=print) -> None:
    """The MiniLM strategies: learning rates searched at seed 0 on the tuning budget, reused elsewhere."""
    from course_lib.experiments import pretrained

    path = pretrained.minilm_path(SOURCE)
    # task by task: the searches first, then the tuning budget's other seeds, then the other budgets (smallest
    # first), each strategy at every seed (a strategy with all its seeds is a usable comparison even if the run is
    # stopped before the next one)
    todo = []
    for t in plan.pretrained_tasks:
        budgets = [plan.tuning_budget] + sorted(b for b in plan.pretrained_budgets[t] if b != plan.tuning_budget)
        todo += [(t, plan.tuning_budget, 0, name) for name in plan.pretrained_strategies]
        todo += [(t, b, s, name) for b in budgets for name in plan.pretrained_strategies for s in plan.seeds
                 if (b, s) != (plan.tuning_budget, 0)]
    progress = Progress(len(todo), log)
    for task, budget, seed, name in todo:
        start = time.perf_counter()
        settings = {"kind": "pretrained", "task": task, "budget": budget, "seed": seed, "method": name,
                    "max_length": plan.max_length[task]}
        if store.get(settings):
            progress.step(f"{task} {budget} seed {seed} {name}", 0, skipped=True)
            continue
        cfg = pretrained.PretrainedConfig(max_length=plan.max_length[task])
        loaders = pretrained.loaders_for(dict(budget_splits(task, budget, seed)), path, cfg, seed)
        if (budget, seed) == (plan.tuning_budget, 0):
            _search_and_store(store, settings, name, loaders, path, cfg, seed, pretrained.LEARNING_RATE_GRIDS[name])
        else:
            tuned = store.get({**settings, "budget": plan.tuning_budget, "seed": 0})
            if tuned is None:
                raise RuntimeError(f"{name} on {task} has no tuned learning rate yet: run the tuning step first")
            res = pretrained.run_strategy(name, loaders, path=path, num_labels=2,
                                          learning_rate=tuned["learning_rate"], cfg=cfg, seed=seed,
                                          run_key=RunStore.key(settings))
            store.put(settings, {**res, "learning_rate_grid": tuned["learning_rate_grid"],
                                 "learning_rate_scores": tuned["learning_rate_scores"],
                                 "bracketed": tuned["bracketed"], "tuned_here": False,
                                 "tuned_at": {"budget": plan.tuning_budget, "seed": 0}})
        progress.step(f"{task} {budget} seed {seed} {name}", time.perf_counter() - start)


def run_encoder(store: RunStore, plan: Plan = PLAN, log=print) -> None:
    """The source's experiment at the chapters' budget: learning rates searched at seed 0, then seeds 1 and 2.

    The chapter-1 strategies on the news-pretrained encoder, chapter 5's embedding-bag runs, and TF-IDF on the whole
    reviews and on the first ``max_len`` tokens the encoder reads, all on the same splits.
    """
    from course_lib.config import Profile, start_chapter
    from course_lib.data.text import basic_english
    from course_lib.experiments import bag_transfer as ch05_lora
    from course_lib.experiments import encoder_transfer as transfer
    from course_lib.train.classifier import evaluate

    base = transfer.config_for(Profile(PROFILE))
    budget = base.sentiment_sizes.train + base.sentiment_sizes.validation
    methods = (*transfer.STRATEGIES, *ch05_lora.BAG_STRATEGIES, "tfidf")
    todo = [(s, n) for s in plan.seeds for n in methods]
    progress = Progress(len(todo), log)
    loaded: dict[int, tuple] = {}

    def setup(seed):
        if seed not in loaded:
            run = start_chapter("01_transfer_learning", PROFILE, SOURCE, seed, tempfile.mkdtemp(), quiet=True)
            cfg = transfer.config_for(run.profile)
            loaded.clear()
            loaded[seed] = (run, cfg, transfer.load_transfer_data(run, cfg), ch05_lora.config_for(run.profile))
        return loaded[seed]

    for seed, name in todo:
        start = time.perf_counter()
        settings = {"kind": "encoder", "task": "imdb", "budget": budget, "seed": seed, "method": name}
        if name == "tfidf":
            if store.get({**settings, "method": "tfidf_truncated"}):
                progress.step(f"encoder seed {seed} {name}", 0, skipped=True)
                continue
            run, cfg, data, _ = setup(seed)
            s = data.sentiment
            cut = lambda texts: [" ".join(basic_english(t)[: cfg.max_len]) for t in texts]  # noqa: E731
            _store_tfidf(store, settings, s, seed, cut)
            progress.step(f"encoder seed {seed} {name}", time.perf_counter() - start)
            continue
        if store.get(settings):
            progress.step(f"encoder seed {seed} {name}", 0, skipped=True)
            continue
        run, cfg, data, lcfg = setup(seed)

        def train(lr, name=name, run=run, cfg=cfg, data=data, lcfg=lcfg):
            if name in ch05_lora.BAG_STRATEGIES:
                model = ch05_lora.build_bag_strategy(name, run, data, lcfg)
                history, acc = ch05_lora.train_bag_strategy(run, data, lcfg, name, model, learning_rate=lr)
                test = evaluate(model, data.loader("sentiment", "test", 256), predictions=True)
                from course_lib.nn.params import count_parameters

                trainable, total = count_parameters(model)
                return history.best_val_accuracy, {
                    "value": acc, "test_correct": protocol.encode_correct(test["correct"]), "learning_rate": lr,
                    "best_epoch": history.best_epoch, "max_epochs": history.max_epochs, "capped": history.capped,
                    "trainable_params": trainable, "total_params": total}
            model = transfer.build_strategy(name, run, data, cfg)
            history, _ = transfer.adapt_to_sentiment(run, data, cfg, name, model, learning_rate=lr)
            return history.best_val_accuracy, dict(run.runs[-1])

        if seed == plan.seeds[0]:
            search = protocol.search_learning_rate(train, transfer.LR_GRID)
            row = {**search.extra, **search.as_record(), "tuned_here": True}
        else:
            tuned = store.get({**settings, "seed": plan.seeds[0]})
            if tuned is None:
                raise RuntimeError(f"{name}: no tuned learning rate at seed {plan.seeds[0]} yet")
            _, row = train(tuned["learning_rate"])
            row = {**row, "learning_rate_grid": tuned["learning_rate_grid"], "bracketed": tuned["bracketed"],
                   "learning_rate_scores": tuned["learning_rate_scores"], "tuned_here": False}
        row["accuracy"] = row.pop("value")
        store.put(settings, {k: v for k, v in row.items() if k not in ("name", "task", "metric")})
        progress.step(f"encoder seed {seed} {name}", time.perf_counter() - start)


# ------------------------------------------------------------------------------------------------ verdicts

PRETRAINED_PAIRS = (("full_finetune", "tfidf_truncated"), ("full_finetune", "tfidf_whole"),
                    ("linear_probe", "tfidf_truncated"), ("full_finetune", "scratch"),
                    ("full_finetune", "linear_probe"), ("adapters", "full_finetune"), ("lora", "full_finetune"),
                    ("partial_unfreeze", "full_finetune"), ("lora", "adapters"), ("tfidf_whole", "tfidf_truncated"),
                    ("adapters", "linear_probe"), ("adapters", "tfidf_truncated"), ("lora", "tfidf_truncated"))
ENCODER_PAIRS = (("full_finetune", "scratch"), ("full_finetune", "linear_probe"),
                 ("partial_unfreeze", "linear_probe"), ("linear_probe", "scratch"), ("adapters", "full_finetune"),
                 ("adapters", "linear_probe"), ("adapters", "scratch"), ("lora_encoder", "adapters"),
                 ("lora_encoder", "full_finetune"), ("lora", "lora_baseline_scratch"),
                 ("scratch", "tfidf_truncated"), ("full_finetune", "tfidf_truncated"),
                 ("tfidf_whole", "tfidf_truncated"), ("lora_baseline_scratch", "tfidf_truncated"))


def _by_method(rows: Iterable[dict]) -> dict[tuple, dict[str, dict[int, dict]]]:
    """``{(kind, task, budget): {method: {seed: row}}}`` (baselines and MiniLM runs share a group)."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = {}
    for r in rows:
        s = r["settings"]
        kind = "encoder" if s["kind"] == "encoder" else "pretrained"
        groups.setdefault((kind, s["task"], s["budget"]), {}).setdefault(s["method"], {})[s["seed"]] = r
    return groups


def comparisons(store: RunStore, plan: Plan = PLAN) -> list[dict]:
    """Every verdict the stored runs allow (pairs with at least 3 seeds on each side)."""
    out = []
    for (kind, task, budget), methods in sorted(_by_method(store.runs.values()).items(), key=str):
        pairs = ENCODER_PAIRS if kind == "encoder" else PRETRAINED_PAIRS
        for a, b in pairs:
            if a not in methods or b not in methods:
                continue
            ra, rb = methods[a], methods[b]
            seeds = sorted(set(ra) & set(rb))
            if len(seeds) < protocol.MIN_SEEDS:
                continue
            # a run that is not rankable gives the pair a note (no ranking), whatever the interval
            c = protocol.compare({s: ra[s]["test_correct"] for s in seeds}, {s: rb[s]["test_correct"] for s in seeds},
                                 task=task, budget=budget, names=(a, b), records=(ra, rb))
            d = c.as_dict()
            d["experiment"] = "small encoder (news -> sentiment)" if kind == "encoder" else "MiniLM and baselines"
            out.append(d)
    return out


def chosen_runs(store: RunStore) -> list[dict]:
    """Every stored run without its per-example bits: what the summary tabulates."""
    return [{**r["settings"], **{k: v for k, v in r.items() if k not in ("settings", "test_correct", "key")}}
            for r in store.runs.values()]


def write_comparisons(store: RunStore, results_dir: Path = RESULTS, plan: Plan = PLAN) -> Path:
    payload = {"profile": PROFILE, "source": SOURCE, "seeds": list(plan.seeds),
               "protocol": "paired bootstrap over test examples and seeds, 95% interval "
                           "(course_lib.experiments.protocol.compare)",
               "comparisons": comparisons(store, plan), "runs": chosen_runs(store)}
    path = Path(results_dir) / COMPARISONS_FILE
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def read_comparisons(results_dir: str | Path | None = None) -> dict | None:
    """The committed ``comparisons.json`` (``None`` if ``make claims`` has not written one)."""
    path = Path(results_dir or RESULTS) / COMPARISONS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def verdict_for(payload: dict | None, task: str, a: str, b: str, *, budget: int | None = None,
                profile: str = PROFILE, source: str = SOURCE, labels: dict | None = None) -> tuple[dict | None, str]:
    """``(comparison, sentence)`` for a chapter: the committed verdict where it was measured for a run like the
    chapter's (same profile and source), else ``(None, "... not measured at this scale ...")``."""
    labels = labels or {}
    la, lb = labels.get(a, a), labels.get(b, b)
    if payload is None:
        return None, f"{la} vs {lb}: not measured yet (run `make claims`)"
    if (payload["profile"], payload["source"]) != (profile, source):
        return None, (f"{la} vs {lb}: not measured at this scale (the committed comparisons are "
                      f"PROFILE={payload['profile']} SOURCE={payload['source']}; this run is {profile}/{source})")
    c = protocol.find(payload["comparisons"], task, a, b, budget)
    if c is None:
        at = f" at {budget:,} labels" if budget else ""
        return None, f"{la} vs {lb}: not measured at this scale{at} (`make claims` has no such comparison yet)"
    return c, protocol.sentence(c, labels)
