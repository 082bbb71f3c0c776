"""The summary chapter: every chapter's results files, read (never typed in), checked, tabulated and plotted.

Where the numbers come from
    Each chapter run writes ``<RESULTS_DIR>/<chapter>.json`` (schema in :mod:`course_lib.results`). The notebooks
    committed in the repository are executed by ``scripts/execute_chapter.py``, which points the chapters at
    ``book/_results/``; that folder is committed with them, so the summary shows exactly the run whose outputs the
    book shows, and nbval can re-execute the summary without re-running (or racing) the other chapters. Your own
    runs (``make chapter ...``) write ``results/`` at the repository root; pass that folder as ``RESULTS_DIR``.

What is checked
    Every chapter's file must exist (:class:`FileNotFoundError` naming all missing chapters and the command that
    writes them) and all must come from the same ``profile`` and ``source`` (:class:`ResultsMismatchError`): a fast
    offline accuracy next to a full hub one would compare nothing.

The source's published numbers
    :data:`SOURCE_REFERENCE` quotes the accuracies the source notebooks *reported* on the full IMDB data. They are
    shown beside ours, labelled as the full-data reference, never as our result.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib.env import REPO_ROOT
from course_lib.nbtools import and_list
from course_lib.results import read_results_file, results_path

CHAPTERS = ("01_transfer_learning", "02_hf_inference", "03_mlm_pretraining", "04_adapters", "05_lora",
            "06_supervised_finetuning")
COMMITTED_RESULTS_DIR = REPO_ROOT / "book" / "_results"

TRANSFORMER = "Transformer encoder (ch. 1, 4, 5)"
EMBEDDING_BAG = "embedding-bag MLP (ch. 5)"
BASELINE = "baseline (ch. 1)"


@dataclass(frozen=True)
class Strategy:
    """One way of adapting a model to the sentiment task, and where its result is recorded."""

    name: str  # the run name in the results file
    chapter: str
    label: str
    model: str


STRATEGIES = (
    Strategy("scratch", "01_transfer_learning", "trained from scratch", TRANSFORMER),
    Strategy("full_finetune", "01_transfer_learning", "full fine-tuning", TRANSFORMER),
    Strategy("linear_probe", "01_transfer_learning", "linear probing", TRANSFORMER),
    Strategy("partial_unfreeze", "01_transfer_learning", "partial unfreezing", TRANSFORMER),
    Strategy("adapters", "04_adapters", "adapters", TRANSFORMER),
    Strategy("lora_encoder", "05_lora", "LoRA in the encoder", TRANSFORMER),
    Strategy("tfidf_truncated", "01_transfer_learning", "TF-IDF on the first 128 tokens", BASELINE),
    Strategy("lora", "05_lora", "LoRA", EMBEDDING_BAG),
    Strategy("lora_baseline_scratch", "05_lora", "LoRA's baseline (scratch)", EMBEDDING_BAG),
)
SENTIMENT_TASK = "sentiment"

# Test accuracies the source notebooks reported on the full IMDB data (GloVe 6B, many epochs, a GPU). Quoted from
# the source's text, for comparison only: not our measurement. It reported no number for partial unfreezing.
SOURCE_REFERENCE: dict[str, float] = {
    "scratch": 0.83,
    "full_finetune": 0.86,
    "linear_probe": 0.64,
    "adapters": 0.856,
    "lora": 0.692,
    "lora_baseline_scratch": 0.662,
}
REFERENCE_LABEL = "source notebooks, full IMDB (reference, not our run)"


class ResultsMismatchError(ValueError):
    """The chapters' results files come from different profiles or sources (or not the one asked for)."""


def default_results_dir(results_dir: str | Path | None = None) -> Path:
    """``results_dir`` if given, else ``book/_results`` (the committed results of the run the book shows)."""
    return Path(results_dir) if results_dir else COMMITTED_RESULTS_DIR


def load_all(results_dir: str | Path | None = None, chapters: tuple[str, ...] = CHAPTERS, *,
             profile: str | None = None, source: str | None = None) -> dict[str, dict[str, Any]]:
    """Read every chapter's results file and check that they belong together.

    ``profile``/``source`` (``None`` or ``"auto"``: any) are what the caller expects; all files must agree with
    each other and with them. Returns ``{chapter: payload}`` in chapter order.
    """
    results_dir = default_results_dir(results_dir)
    # each profile has its own file names (course_lib.results.results_path): read the asked profile's (else fast's)
    paths = {c: results_path(results_dir, c, profile if profile not in (None, "auto") else "fast") for c in chapters}
    missing = [c for c, path in paths.items() if not path.exists()]
    if missing:
        raise FileNotFoundError(
            f"No results for chapter(s) {', '.join(missing)} in {results_dir.resolve()}: run "
            + ", ".join(f"book/{c}.ipynb" for c in missing)
            + " first (`make chapter NB=<chapter> PROFILE=... SOURCE=...`, which writes results/; "
              "`make execute NB=<chapter>` refreshes the committed book/_results), with the same PROFILE and SOURCE "
              "as the other chapters.")
    results = {c: read_results_file(path) for c, path in paths.items()}
    for key, wanted in (("profile", profile), ("source", source)):
        values = {c: r[key] for c, r in results.items()}
        distinct = sorted(set(values.values()))
        if len(distinct) > 1:
            groups = "; ".join(f"{key}={v}: {', '.join(c for c, x in values.items() if x == v)}" for v in distinct)
            raise ResultsMismatchError(
                f"The results in {results_dir} mix {key}s ({groups}). Re-run the odd chapter(s) with the same "
                f"{key.upper()} as the others, so that the summary compares like with like.")
        if wanted not in (None, "auto") and distinct and distinct[0] != wanted:
            raise ResultsMismatchError(
                f"The results in {results_dir} are {key}={distinct[0]}, but {key.upper()}={wanted!r} was asked for: "
                f"pass the folder your {key}={wanted} runs wrote (results/ for `make chapter` runs) as RESULTS_DIR.")
    return results


def find_run(results: dict[str, dict[str, Any]], chapter: str, name: str, task: str | None = None) -> dict | None:
    """The row named ``name`` (and ``task``, if given) in ``chapter``'s results, or None."""
    for row in results.get(chapter, {}).get("runs", []):
        if row["name"] == name and (task is None or row["task"] == task):
            return row
    return None


def strategy_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per adaptation strategy on the sentiment task, sorted by accuracy (best first).

    A strategy whose chapter recorded no such run is left out (``missing_strategies`` names them).
    """
    rows = []
    for s in STRATEGIES:
        row = find_run(results, s.chapter, s.name, SENTIMENT_TASK)
        if row is None:
            continue
        rows.append({"strategy": s.name, "label": s.label, "model": s.model, "chapter": s.chapter,
                     "metric": row["metric"], "value": row["value"], "trainable_params": row["trainable_params"],
                     "total_params": row["total_params"], "reference": SOURCE_REFERENCE.get(s.name)})
    return sorted(rows, key=lambda r: -r["value"])


def missing_strategies(results: dict[str, dict[str, Any]]) -> list[str]:
    return [s.name for s in STRATEGIES if find_run(results, s.chapter, s.name, SENTIMENT_TASK) is None]


def all_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run of every chapter, with the chapter's wall time, device, profile and source."""
    rows = []
    for chapter, payload in results.items():
        for row in payload["runs"]:
            trainable, total = row["trainable_params"], row["total_params"]
            rows.append({"chapter": chapter[:2], "run": row["name"], "task": row["task"], "metric": row["metric"],
                         "value": row["value"], "trainable": "-" if trainable is None else trainable,
                         "total": "-" if total is None else total,
                         "wall time": f"{payload['wall_time_s']:.0f} s", "device": payload["device"],
                         "profile": payload["profile"], "source": payload["source"]})
    return rows


def provenance(results: dict[str, dict[str, Any]]) -> str:
    """One stable line: which chapters, profile and source the numbers come from."""
    profiles = sorted({r["profile"] for r in results.values()})
    sources = sorted({r["source"] for r in results.values()})
    return (f"{len(results)} chapters' results, all PROFILE={'/'.join(profiles)} SOURCE={'/'.join(sources)}: "
            + ", ".join(c[:2] for c in results))


MODEL_COLORS = {TRANSFORMER: "tab:blue", EMBEDDING_BAG: "tab:orange", BASELINE: "tab:gray"}


def _percent(v: float) -> str:
    return f"{100 * v:.1f}%"


def plot_accuracy(rows: list[dict[str, Any]], ax=None, *, show_reference: bool = True):
    """Sorted, annotated bars of each strategy's sentiment accuracy; the source's numbers beside, hatched.

    Bars of the embedding-bag model (LoRA, chapter 5) are coloured apart: it is a different model.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.8))
    rows = sorted(rows, key=lambda r: -r["value"])
    x = np.arange(len(rows))
    width = 0.4 if show_reference else 0.7
    colors = [MODEL_COLORS[r["model"]] for r in rows]
    bars = ax.bar(x - (width / 2 if show_reference else 0), [r["value"] for r in rows], width, color=colors)
    for bar, r in zip(bars, rows):
        ax.annotate(_percent(r["value"]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9, fontweight="bold")
    handles = [Patch(color=MODEL_COLORS[TRANSFORMER], label=f"ours: {TRANSFORMER}"),
               Patch(color=MODEL_COLORS[EMBEDDING_BAG], label=f"ours: {EMBEDDING_BAG}*"),
               Patch(color=MODEL_COLORS[BASELINE], label=f"ours: {BASELINE}")]
    if show_reference:
        for i, r in enumerate(rows):
            if r["reference"] is None:
                ax.annotate("no\nreference", (i + width / 2, 0.02), ha="center", fontsize=7, color="grey")
                continue
            bar = ax.bar(i + width / 2, r["reference"], width, color="white", edgecolor="grey", hatch="//")[0]
            ax.annotate(_percent(r["reference"]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8, color="dimgrey")
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label=REFERENCE_LABEL))
    ax.set_xticks(x, [r["label"] for r in rows], rotation=20, ha="right")
    ax.set(ylim=(0, 1.3), ylabel="sentiment test accuracy", title="Adaptation strategies on the sentiment task")
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.95)
    ax.figure.text(0.01, 0.005, "* the source's LoRA was measured on the embedding-bag MLP of chapter 5; "
                   "'LoRA in the encoder' is the same LoRA in chapter 1's Transformer.", fontsize=8, style="italic")
    ax.figure.tight_layout(rect=(0, 0.04, 1, 1))
    return ax


def plot_trainable(rows: list[dict[str, Any]], ax=None):
    """Trainable parameters per strategy, horizontal bars on a log scale, annotated with the share of the total."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.8))
    rows = sorted([r for r in rows if r["trainable_params"]], key=lambda r: r["trainable_params"])
    colors = [MODEL_COLORS[r["model"]] for r in rows]
    bars = ax.barh([r["label"] for r in rows], [r["trainable_params"] for r in rows], color=colors)
    for bar, r in zip(bars, rows):
        # no share of a total: totals differ by model and count frozen word vectors in some and not in others
        ax.annotate(f"{r['trainable_params']:,}", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["trainable_params"] for r in rows) * 30 if rows else 10)
    ax.set(xlabel="trainable parameters (log scale)", title="What each strategy trains")
    ax.figure.tight_layout()
    return ax


# --- runtimes: the intro's generated table -------------------------------------------------------------------

def runtime_entries(results_dir: str | Path | None = None, chapters: tuple[str, ...] = CHAPTERS) -> list[dict]:
    """One entry per chapter results file present in ``results_dir``: wall times, device, profile, source."""
    results_dir = default_results_dir(results_dir)
    entries = []
    for chapter in chapters:
        path = results_path(results_dir, chapter)
        if not path.exists():
            continue
        payload = read_results_file(path)
        machine = payload.get("machine", {})
        entries.append({"chapter": chapter, "profile": payload["profile"], "source": payload["source"],
                        "device": payload["device"], "device_name": machine.get("gpu") or
                        f"{machine.get('cpu_count', '?')}-core CPU", "wall_time_s": payload["wall_time_s"],
                        "notebook_wall_time_s": payload.get("notebook_wall_time_s")})
    return entries


def runtime_markdown(entries: list[dict]) -> str:
    """A MyST/markdown table of measured chapter times, one block per (device, profile, source), with totals."""
    if not entries:
        return "*(no chapter has been measured yet)*\n"
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((e["device"], e["device_name"], e["profile"], e["source"]), []).append(e)
    lines = ["| chapter | device | profile / source | chapter's own work | whole notebook |",
             "|---|---|---|---:|---:|"]
    for (device, name, profile, source), group in groups.items():
        for e in sorted(group, key=lambda e: e["chapter"]):
            nb = e["notebook_wall_time_s"]
            lines.append(f"| {e['chapter']} | {device} ({name}) | {profile} / {source} | "
                         f"{_minutes(e['wall_time_s'])} | {_minutes(nb) if nb else '-'} |")
        own = sum(e["wall_time_s"] for e in group)
        nbs = [e["notebook_wall_time_s"] for e in group]
        whole = _minutes(sum(nbs)) if all(nbs) else "-"
        lines.append(f"| **all {len(group)} chapters** | {device} ({name}) | {profile} / {source} | "
                     f"**{_minutes(own)}** | **{whole}** |")
    return "\n".join(lines) + "\n"


def _minutes(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


# ------------------------------------------------------------------------------- the protocol's committed verdicts

METHOD_LABELS = {
    "scratch": "trained from scratch", "full_finetune": "full fine-tuning", "linear_probe": "linear probing",
    "partial_unfreeze": "partial unfreezing", "adapters": "adapters", "lora_encoder": "LoRA in the encoder",
    "lora": "LoRA", "lora_baseline_scratch": "embedding bag from scratch",
    "tfidf_whole": "TF-IDF on whole texts", "tfidf_truncated": "TF-IDF on the text the models read",
}
EXPERIMENTS = {"encoder": "small encoder, news -> sentiment (the source's experiment)",
               "pretrained": "real pretrained encoder (all-MiniLM-L6-v2)"}


def method_label(kind: str, method: str) -> str:
    """A human name for ``method`` in experiment ``kind`` (``"encoder"`` or ``"pretrained"``)."""
    from course_lib.experiments import pretrained

    if kind == "pretrained" and method in pretrained.LABELS:
        return pretrained.LABELS[method]
    if kind == "encoder" and method in ("lora", "lora_baseline_scratch"):
        return {"lora": "LoRA (embedding bag)", "lora_baseline_scratch": "embedding bag from scratch"}[method]
    return METHOD_LABELS.get(method, method)


def labels_for(kind: str) -> dict[str, str]:
    names = set(METHOD_LABELS) | {"full_finetune", "scratch", "linear_probe", "partial_unfreeze", "adapters", "lora"}
    return {m: method_label(kind, m) for m in names}


def run_groups(payload: dict) -> dict[tuple, dict[str, list[dict]]]:
    """``{(kind, task, budget): {method: [run per seed]}}`` from ``comparisons.json``'s ``runs``."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in payload["runs"]:
        kind = "encoder" if r["kind"] == "encoder" else "pretrained"
        groups.setdefault((kind, r["task"], r["budget"]), {}).setdefault(r["method"], []).append(r)
    return groups


def method_rows(payload: dict, kind: str, task: str, budget: int) -> list[dict[str, Any]]:
    """Mean, min and max test accuracy over seeds of every method measured at (``kind``, ``task``, ``budget``),
    with what the protocol recorded at each seed (learning rates, bracketed, capped). Best first.

    ``bracketed`` is True only when the learning rate was bracketed at every seed (``bracketed_seeds`` counts the
    seeds where it was), False when it was not at some seed, None for a method without a learning rate."""
    rows = []
    for method, runs in run_groups(payload).get((kind, task, budget), {}).items():
        runs = sorted(runs, key=lambda r: r["seed"])
        acc = [r["accuracy"] for r in runs]
        flags = [r.get("bracketed") for r in runs]
        rows.append({"method": method, "label": method_label(kind, method), "mean": sum(acc) / len(acc),
                     "min": min(acc), "max": max(acc), "seeds": [r["seed"] for r in runs],
                     "trainable_params": runs[0].get("trainable_params"),
                     # per seed, in seed order: a probe searches its learning rate at every seed
                     "learning_rates": [r.get("learning_rate") for r in runs],
                     "bracketed_seeds": sum(f is True for f in flags),
                     # where the learning rate was searched: at every seed, or once and reused (``tuned_here``)
                     "searches": _searches(runs),
                     # bracketed only if bracketed at every seed; False if unbracketed at any; None: no search
                     "bracketed": None if all(f is None for f in flags) else all(f is True for f in flags),
                     "capped": any(r.get("capped") for r in runs),
                     "best_epoch": max((r.get("best_epoch") or 0) for r in runs),
                     "max_epochs": min((r.get("max_epochs") or 0) for r in runs)})
    return sorted(rows, key=lambda r: -r["mean"])


def _searches(runs: list[dict]) -> str | None:
    """``None`` when each run searched its own learning rate (or no field says), else where the one search was."""
    if all(r.get("tuned_here", True) for r in runs):
        return None
    tuned = [r for r in runs if r.get("tuned_here")]
    if tuned:
        return f"one search at seed {tuned[0]['seed']}, reused"
    at = next((r["tuned_at"] for r in runs if r.get("tuned_at")), None)
    return f"one search at {at['budget']:,} labels, seed {at['seed']}, reused" if at else "searched elsewhere, reused"


def protocol_table(rows: list[dict]) -> list[dict]:
    """What a reader needs to trust a row: the learning rate and whether it was bracketed at each seed, the epoch
    cap, the seeds."""
    out = []
    for r in rows:
        lrs = r["learning_rates"]
        lr = "-" if all(x is None for x in lrs) else ", ".join("-" if x is None else f"{x:g}" for x in lrs)
        n = len(r["seeds"])
        where = r.get("searches") or f"{r['bracketed_seeds']}/{n} seeds"
        bracket = {None: "-", True: f"yes ({where})",
                   False: f"NO ({where}; best at an end of the grid)"}[r["bracketed"]]
        out.append({"method": r["label"], "mean": r["mean"], "min-max": f"{r['min']:.3f}-{r['max']:.3f}",
                    "seeds": n, "learning rate per seed": lr, "bracketed": bracket,
                    "best epoch / cap": "-" if not r["max_epochs"] else f"{r['best_epoch']} / {r['max_epochs']}",
                    "capped": "YES" if r["capped"] else "no"})
    return out


def budgets_for(payload: dict, kind: str, task: str) -> list[int]:
    return sorted({b for (k, t, b) in run_groups(payload) if (k, t) == (kind, task)})


def largest_shared_budget(payload: dict | None, kind: str, task: str, methods: Iterable[str]) -> int | None:
    """The largest label budget at which every method of ``methods`` has a run at every seed of ``payload``
    (``None`` if there is none, or no payload): the budget at which a "more labels" comparison of them exists.

    The budgets of an experiment are not the same for every method (``make claims`` runs the baselines at more
    budgets than the trained strategies), so the largest budget measured may hold only some of them.
    """
    if payload is None:
        return None
    methods = tuple(methods)
    seeds = set(payload.get("seeds") or ())
    groups = run_groups(payload)
    shared = [b for b in budgets_for(payload, kind, task)
              if all(m in groups[(kind, task, b)] and seeds <= {r["seed"] for r in groups[(kind, task, b)][m]}
                     for m in methods)]
    return max(shared) if shared else None


def runs_at_chance(payload: dict | None, kind: str, task: str, budget: int | None, method: str, *,
                   chance: float = 0.5, within: float = 0.02) -> list[dict]:
    """The runs of ``method`` at (``kind``, ``task``, ``budget``) whose test accuracy stayed within ``within`` of
    ``chance`` (0.5 on the balanced sentiment tasks): runs that did not learn, seed by seed.

    A learning rate searched at one budget and seed and reused at another need not train there; one such seed
    widens a pooled verdict's interval, and the chapter should name it rather than let the interval hide it.
    """
    if payload is None or budget is None:
        return []
    runs = run_groups(payload).get((kind, task, budget), {}).get(method, [])
    return sorted((r for r in runs if abs(r["accuracy"] - chance) <= within), key=lambda r: r["seed"])


def efficiency_curves(payload: dict, task: str, kind: str = "pretrained") -> dict[str, list[dict]]:
    """``{method: [{"budget", "mean", "min", "max", "seeds"}]}`` across label budgets, a point only where the method
    ran at every seed of ``payload`` (a ``make claims`` stopped part-way leaves some budgets with fewer)."""
    curves: dict[str, list[dict]] = {}
    wanted = set(payload.get("seeds") or ())
    for budget in budgets_for(payload, kind, task):
        for r in method_rows(payload, kind, task, budget):
            if not wanted <= set(r["seeds"]):
                continue
            curves.setdefault(r["method"], []).append({"budget": budget, **{k: r[k] for k in ("mean", "min", "max",
                                                                                               "seeds")}})
    return curves


def plot_label_efficiency(payload: dict, task: str, ax=None, kind: str = "pretrained"):
    """Test accuracy against the label budget (log x), mean over seeds with the min-max band, one line per method."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    for method, pts in sorted(efficiency_curves(payload, task, kind).items()):
        x = [p["budget"] for p in pts]
        style = "--" if method.startswith("tfidf") else "o-"
        line, = ax.plot(x, [p["mean"] for p in pts], style, label=method_label(kind, method), ms=4)
        ax.fill_between(x, [p["min"] for p in pts], [p["max"] for p in pts], color=line.get_color(), alpha=0.15)
    ax.set_xscale("log")
    ax.set(xlabel="labelled examples (training + validation, log scale)", ylabel="test accuracy",
           title=f"{task}: accuracy by label budget (mean over seeds; band: min-max)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


def plot_gains(payload: dict, task: str, baseline: str = "tfidf_truncated", ax=None, kind: str = "pretrained"):
    """Each method minus ``baseline`` (points of accuracy) with its paired 95% interval, per label budget."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    rows = [c for c in payload["comparisons"] if c["task"] == task and c["b"] == baseline
            and c["experiment"].startswith("MiniLM" if kind == "pretrained" else "small")]
    methods = sorted({c["a"] for c in rows})
    for i, method in enumerate(methods):
        pts = sorted((c for c in rows if c["a"] == method), key=lambda c: c["budget"])
        x = [c["budget"] * (1 + 0.06 * (i - len(methods) / 2)) for c in pts]  # nudge so intervals do not overlap
        y = [100 * c["mean_difference"] for c in pts]
        err = [[100 * (c["mean_difference"] - c["ci95"][0]) for c in pts],
               [100 * (c["ci95"][1] - c["mean_difference"]) for c in pts]]
        ax.errorbar(x, y, yerr=err, fmt="o-", capsize=3, label=method_label(kind, method), ms=4)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="labelled examples (log scale)", ylabel=f"points above {method_label(kind, baseline)}",
           title=f"{task}: gain over {method_label(kind, baseline)} (paired 95% interval)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


# Not pretrained strategies: the bag-of-words baselines and the models trained from scratch.
BASELINE_METHODS = frozenset({"tfidf_whole", "tfidf_truncated", "scratch", "lora_baseline_scratch"})
_EXPERIMENT_PREFIX = {"encoder": "small", "pretrained": "MiniLM"}


def no_ranking_note(payload: dict, kind: str, c: dict) -> str:
    """Why no ranking may be stated from comparison ``c``: its recorded ``note``, else what the recorded runs of
    its two methods say (:func:`course_lib.experiments.protocol.no_ranking_note`); ``""`` when both are rankable.
    The runs are read too for a comparisons file written before every unrankable pair carried a note."""
    from course_lib.experiments import protocol

    if c.get("note"):
        return c["note"]
    group = run_groups(payload).get((kind, c["task"], c["budget"]), {})
    seeds = set(c.get("seeds") or ())
    return protocol.no_ranking_note({m: {r["seed"]: r for r in group.get(m, []) if not seeds or r["seed"] in seeds}
                                     for m in (c["a"], c["b"])})


def comparison_status(payload: dict, kind: str, c: dict) -> str:
    """``"no ranking"`` (a run not rankable, whatever the interval), else ``"a better"``, ``"b better"`` or
    ``"indistinguishable"``."""
    return "no ranking" if no_ranking_note(payload, kind, c) else c["verdict"]


def gains_over_baseline(payload: dict, task: str, baseline: str = "tfidf_truncated",
                        kind: str = "pretrained") -> dict[int, dict[str, str]]:
    """``{budget: {method: status}}``: every pretrained strategy (not in :data:`BASELINE_METHODS`) compared with
    ``baseline`` on ``task``, budget by budget, with its :func:`comparison_status` read as ``a`` = the strategy."""
    from course_lib.experiments import protocol

    comps = [c for c in payload["comparisons"] if c["experiment"].startswith(_EXPERIMENT_PREFIX[kind])]
    groups = run_groups(payload)
    out: dict[int, dict[str, str]] = {}
    for budget in budgets_for(payload, kind, task):
        for method in sorted(groups[(kind, task, budget)]):
            if method in BASELINE_METHODS:
                continue
            c = protocol.find(comps, task, method, baseline, budget)
            if c is not None:
                out.setdefault(budget, {})[method] = comparison_status(payload, kind, c)
    return out


def pretrained_wins(payload: dict, task: str, baseline: str = "tfidf_truncated",
                    kind: str = "pretrained") -> list[tuple[int, str]]:
    """``[(budget, method)]``, in budget order: the pretrained strategies that beat ``baseline`` on ``task`` in a
    comparison from which a ranking may be stated (interval above 0, both runs rankable)."""
    return [(b, m) for b, statuses in gains_over_baseline(payload, task, baseline, kind).items()
            for m, st in statuses.items() if st == "a better"]


_STATUS_WORDS = {"a better": "beats it", "b better": "loses to it", "indistinguishable": "indistinguishable",
                 "no ranking": "no ranking"}


def wins_sentence(payload: dict, task: str, task_label: str, baseline: str = "tfidf_truncated",
                  kind: str = "pretrained") -> str:
    """One sentence, from the verdicts: at which label budgets a pretrained strategy beat ``baseline`` on
    ``task`` (and which), and at which none did, with each strategy's status there."""
    gains = gains_over_baseline(payload, task, baseline, kind)
    base = method_label(kind, baseline)
    if not gains:
        return f"On {task_label}, no pretrained strategy was compared with {base}."

    def statuses(budget: int) -> str:
        return "; ".join(f"{method_label(kind, m)}: {_STATUS_WORDS[st]}" for m, st in sorted(gains[budget].items()))

    won = [b for b, st in gains.items() if "a better" in st.values()]
    rest = [b for b in gains if b not in won]
    if not won:
        return (f"On {task_label}, no pretrained strategy beat {base} at any label budget measured ("
                + "; ".join(f"at {b:,} labels: {statuses(b)}" for b in rest) + ").")
    beat = {b: and_list([method_label(kind, m) for m, st in sorted(gains[b].items()) if st == "a better"]) for b in won}
    winners = "; ".join(f"{beat[b]} at {b:,} labels" for b in won)
    budgets = and_list([f"{b:,}" for b in won])
    text = f"On {task_label}, a pretrained strategy beat {base} at {budgets} labels ({winners})"
    if not rest:
        return text + ", every label budget measured."
    text += (f", and none did at {and_list([f'{b:,}' for b in rest])} labels ("
             + (statuses(rest[0]) if len(rest) == 1 else "; ".join(f"at {b:,}: {statuses(b)}" for b in rest)) + ")")
    if max(rest) < min(won):
        text += ": an advantage of the pretrained encoder was established with more labels, not with the fewest"
    elif min(rest) > max(won):
        text += ": an advantage of the pretrained encoder was established with the fewest labels, not with more"
    return text + "."


def plot_ladder(rows: list[dict[str, Any]], ax=None, title: str = ""):
    """Mean test accuracy over the seeds (bar: min-max) against trainable parameters (log scale)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.8))
    for r in rows:
        if not r["trainable_params"]:
            continue
        color = "tab:gray" if r["method"].startswith("tfidf") else ("tab:orange" if "bag" in r["label"] else
                                                                    "tab:blue")
        marker = "x" if r["capped"] or r["bracketed"] is False else "o"
        ax.errorbar(r["trainable_params"], r["mean"], yerr=[[r["mean"] - r["min"]], [r["max"] - r["mean"]]],
                    fmt=marker, color=color, capsize=4, ms=7)
        ax.annotate(f"{r['label']}  {r['mean']:.3f}", (r["trainable_params"], r["mean"]), xytext=(7, -3),
                    textcoords="offset points", fontsize=8)
    params = [r["trainable_params"] for r in rows if r["trainable_params"]]
    ax.set_xscale("log")
    ax.set_xlim(left=min(params) / 3, right=max(params) * 40)
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test accuracy (mean; bar: min-max over seeds)",
           title=title)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="tab:blue", label="Transformer encoder"),
                       Patch(color="tab:orange", label="embedding-bag MLP (another model)"),
                       Patch(color="tab:gray", label="bag-of-words baseline")], loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


# The source notebooks' claims, and the comparison that tests each. "close" claims hold when the difference is
# not significant or favours the first method.
SOURCE_CLAIMS = (
    {"claim": "full fine-tuning beats training from scratch", "a": "full_finetune", "b": "scratch",
     "source": "0.86 vs 0.83", "holds_if": "a better"},
    {"claim": "linear probing trails full fine-tuning", "a": "full_finetune", "b": "linear_probe",
     "source": "0.86 vs 0.64", "holds_if": "a better"},
    {"claim": "adapters come close to full fine-tuning", "a": "adapters", "b": "full_finetune",
     "source": "0.856 vs 0.86", "holds_if": "not b better"},
    {"claim": "LoRA (embedding bag) beats the same model from scratch", "a": "lora", "b": "lora_baseline_scratch",
     "source": "0.692 vs 0.662", "holds_if": "a better"},
)


def _claim_outcome(c: dict | None, holds_if: str, note: str = "") -> str:
    """A claim is "reproduced" only by a comparison from which a ranking may be stated: ``note`` (or the
    comparison's own) says why not, and then the outcome is "no ranking", whatever the interval."""
    if c is None:
        return "not measured at this profile"
    note = note or c.get("note") or ""
    if note:
        return "no ranking (" + note + ")"
    d = f"{100 * c['mean_difference']:+.1f} [{100 * c['ci95'][0]:+.1f}, {100 * c['ci95'][1]:+.1f}]"
    if holds_if == "not b better":
        ok = c["verdict"] != "b better"
    else:
        ok = c["verdict"] == holds_if
    if ok:
        return f"reproduced ({d})"
    return f"not reproduced ({d}{', indistinguishable' if c['verdict'] == 'indistinguishable' else ''})"


def source_claims_table(payload: dict | None) -> list[dict]:
    """Each source claim -> reproduced / not reproduced / no ranking / not measured, in each experiment and budget,
    with the paired difference in points and its 95% interval. A comparison with a run that is not rankable (an
    unbracketed learning rate, a capped run) gives "no ranking", whatever its interval."""
    from course_lib.experiments import protocol

    rows = []
    for claim in SOURCE_CLAIMS:
        row = {"source claim": claim["claim"], "source's numbers (full IMDB)": claim["source"]}
        if payload is None:
            row["this profile"] = "not measured (run `make claims`)"
            rows.append(row)
            continue
        for (kind, task, budget) in sorted(run_groups(payload), key=str):
            c = protocol.find([x for x in payload["comparisons"] if x["experiment"].startswith(
                "small" if kind == "encoder" else "MiniLM")], task, claim["a"], claim["b"], budget)
            if c is None and kind == "pretrained" and claim["a"] == "lora":
                continue
            label = (f"small encoder, {budget:,} labels" if kind == "encoder"
                     else f"MiniLM, {task}, {budget:,} labels")
            if c is None and kind == "pretrained" and not {claim["a"], claim["b"]} <= set(
                    run_groups(payload)[(kind, task, budget)]):
                continue
            row[label] = _claim_outcome(c, claim["holds_if"], no_ranking_note(payload, kind, c) if c else "")
        rows.append(row)
    return rows
