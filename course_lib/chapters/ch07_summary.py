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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib.env import REPO_ROOT
from course_lib.results import read_results, validate

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
    Strategy("tfidf_logreg", "01_transfer_learning", "TF-IDF + logistic regression", BASELINE),
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
    missing = [c for c in chapters if not (results_dir / f"{c}.json").exists()]
    if missing:
        raise FileNotFoundError(
            f"No results for chapter(s) {', '.join(missing)} in {results_dir.resolve()}: run "
            + ", ".join(f"book/{c}.ipynb" for c in missing)
            + " first (`make chapter NB=<chapter> PROFILE=... SOURCE=...`, which writes results/; "
              "`make execute NB=<chapter>` refreshes the committed book/_results), with the same PROFILE and SOURCE "
              "as the other chapters.")
    results = {c: read_results(c, results_dir) for c in chapters}
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
PRETRAINED_LABEL = "MiniLM fine-tuned (pretrained baseline)"


def ladder_rows(seeds: dict, efficiency: dict | None, train_examples: int = 500) -> list[dict[str, Any]]:
    """Every sentiment strategy and baseline with its mean, min and max test accuracy over the seeds.

    From ``seeds.json`` (the chapters' own runs at seeds 0, 1, 2) plus the pretrained MiniLM baseline from
    ``label_efficiency.json`` at the chapters' label budget. Sorted by mean accuracy, best first.
    """
    rows = []
    for s in STRATEGIES:
        key = f"{s.chapter}/{s.name}/{SENTIMENT_TASK}"
        if key not in seeds["runs"]:
            continue
        r = seeds["runs"][key]
        rows.append({"strategy": s.name, "label": s.label, "model": s.model, "mean": r["mean"], "min": r["min"],
                     "max": r["max"], "n": len(r["values"]), "trainable_params": r["trainable_params"]})
    if efficiency is not None:
        point = label_efficiency_point(efficiency, "pretrained_finetune", train_examples)
        rows.append({"strategy": "pretrained_finetune", "label": PRETRAINED_LABEL, "model": BASELINE,
                     "mean": point["mean"], "min": point["min"], "max": point["max"], "n": len(point["seeds"]),
                     "trainable_params": point["trainable_params"]})
    return sorted(rows, key=lambda r: -r["mean"])


def plot_ladder(rows: list[dict[str, Any]], ax=None):
    """The whole ladder: mean test accuracy over the seeds (bar: range) against trainable parameters (log)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.2))
    for r in rows:
        color = MODEL_COLORS[r["model"]]
        ax.errorbar(r["trainable_params"], r["mean"], yerr=[[r["mean"] - r["min"]], [r["max"] - r["mean"]]],
                    fmt="o", color=color, capsize=4, ms=7)
        ax.annotate(f"{r['label']}  {r['mean']:.3f}", (r["trainable_params"], r["mean"]), xytext=(7, -3),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(left=min(r["trainable_params"] for r in rows) / 3, right=max(r["trainable_params"] for r in rows) * 40)
    ax.set(xlabel="trainable parameters (log scale)", ylabel="sentiment test accuracy (mean; bar: min-max over seeds)",
           title="The ladder: every strategy and baseline, 500 labelled IMDB reviews")
    ax.legend(handles=[Patch(color=c, label=m) for m, c in MODEL_COLORS.items()], loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


EFFICIENCY_LABELS = {"tfidf_logreg": "TF-IDF + logistic regression", "scratch": "encoder from scratch",
                     "full_finetune": "news-pretrained encoder, fine-tuned", "pretrained_finetune": "MiniLM fine-tuned"}


def efficiency_curves(efficiency: dict) -> dict[str, list[dict]]:
    """``{method: [{"n", "mean", "min", "max", "seeds"}]}`` from ``label_efficiency.json``, by label budget."""
    curves: dict[str, dict[int, list[float]]] = {}
    for p in efficiency["points"]:
        curves.setdefault(p["method"], {}).setdefault(p["train_examples"], []).append(p["accuracy"])
    return {m: [{"n": n, "mean": sum(v) / len(v), "min": min(v), "max": max(v), "seeds": len(v)}
                for n, v in sorted(by_n.items())] for m, by_n in curves.items()}


def plot_label_efficiency(efficiency: dict, ax=None):
    """Test accuracy against the number of labelled reviews (log x), mean over seeds with the min-max band."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    for method, points in efficiency_curves(efficiency).items():
        n = [p["n"] for p in points]
        line, = ax.plot(n, [p["mean"] for p in points], "o-", label=EFFICIENCY_LABELS.get(method, method))
        ax.fill_between(n, [p["min"] for p in points], [p["max"] for p in points], color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ax.set(xlabel="labelled training reviews (log scale)", ylabel="test accuracy (2,000 held-out reviews)",
           title=f"Label efficiency (mean over seeds {', '.join(map(str, efficiency['seeds']))}; band: min-max)")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


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
        share = f" ({r['trainable_params'] / r['total_params']:.2%} of {r['total_params']:,})" if r["total_params"] else ""
        ax.annotate(f"{r['trainable_params']:,}{share}", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
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
        path = results_dir / f"{chapter}.json"
        if not path.exists():
            continue
        payload = validate(json.loads(path.read_text()))
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


# ----------------------------------------------------------------------------------------- claims across seeds

SEEDS_FILE = "seeds.json"
LABEL_EFFICIENCY_FILE = "label_efficiency.json"


def read_committed(name: str, results_dir: str | Path | None = None) -> dict | None:
    """A file written by ``make claims`` (``scripts/claims.py``): from ``results_dir`` if it holds one, else from
    ``book/_results`` (where ``make claims`` writes), else None.

    A results folder of your own runs (``make chapter`` writes ``results/``) has no claims files, so the summary of
    those runs still reads the committed ones, as chapters 1, 4 and 5 do.
    """
    for folder in dict.fromkeys((default_results_dir(results_dir), COMMITTED_RESULTS_DIR)):
        path = folder / name
        if path.exists():
            return json.loads(path.read_text())
    return None


def seed_values(seeds: dict, chapter: str, name: str, task: str = SENTIMENT_TASK) -> list[float]:
    """The per-seed test values of run ``name`` of ``chapter`` in ``seeds.json``; the error says what to run."""
    key = f"{chapter}/{name}/{task}"
    if key not in seeds["runs"]:
        raise KeyError(f"{key} is not in {SEEDS_FILE}: run `make claims` (scripts/claims.py seeds)")
    return list(seeds["runs"][key]["values"])


def compare_across_seeds(seeds: dict | None, a: tuple[str, str], b: tuple[str, str], labels: tuple[str, str],
                         task: str = SENTIMENT_TASK) -> dict:
    """Does run ``a`` (chapter, name) beat run ``b`` at every seed of ``seeds.json``?

    Returns ``{"holds": bool | None, "wins": k, "seeds": n, "mean_a", "mean_b", "sentence"}``. The sentence is what a
    chapter may say: a ranking only where it held at every seed, otherwise that the difference is within seed noise.
    Without a seeds file (``None``) nothing may be ranked and the sentence says so.
    """
    if seeds is None:
        return {"holds": None, "wins": 0, "seeds": 0, "mean_a": None, "mean_b": None,
                "sentence": f"{labels[0]} vs {labels[1]}: no seeds file yet (run `make claims`), so no ranking"}
    va, vb = seed_values(seeds, *a, task=task), seed_values(seeds, *b, task=task)
    wins, n = sum(x > y for x, y in zip(va, vb)), len(va)
    ma, mb = sum(va) / n, sum(vb) / n
    means = f"mean {ma:.3f} vs {mb:.3f} over seeds {', '.join(map(str, seeds['seeds']))}"
    if wins == n:
        sentence = f"{labels[0]} beat {labels[1]} at all {n} seeds ({means})"
    elif wins == 0:
        means = f"mean {mb:.3f} vs {ma:.3f} over seeds {', '.join(map(str, seeds['seeds']))}"
        sentence = f"{labels[1]} beat {labels[0]} at all {n} seeds ({means})"
    else:
        sentence = (f"{labels[0]} vs {labels[1]} is within seed noise: ahead at {wins} of {n} seeds ({means})")
    return {"holds": wins == n, "wins": wins, "seeds": n, "mean_a": ma, "mean_b": mb, "sentence": sentence}


def label_efficiency_point(efficiency: dict | None, method: str, train_examples: int) -> dict:
    """Mean, range and seeds of ``method`` at ``train_examples`` labels in ``label_efficiency.json``."""
    if efficiency is None:
        raise FileNotFoundError(f"No {LABEL_EFFICIENCY_FILE} in {COMMITTED_RESULTS_DIR}: run `make claims` "
                                "(scripts/claims.py label-efficiency)")
    pts = [p for p in efficiency["points"] if p["method"] == method and p["train_examples"] == train_examples]
    if not pts:
        raise KeyError(f"{LABEL_EFFICIENCY_FILE} has no {method!r} at {train_examples} labels: rerun "
                       "scripts/claims.py label-efficiency")
    values = [p["accuracy"] for p in pts]
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values),
            "seeds": sorted(p["seed"] for p in pts), "trainable_params": pts[0].get("trainable_params")}


def comparable_point(efficiency: dict | None, method: str, train_examples: int, source: str
                     ) -> tuple[dict | None, str]:
    """``(point, why)``: :func:`label_efficiency_point` where the committed measurement compares with this run.

    The committed file was measured offline at a few label budgets; a hub run (other data) or a budget it does not
    hold (the full profile's 20,000+ reviews) gets ``(None, reason)`` instead of a number that looks comparable.
    """
    if efficiency is None:
        return None, "not measured yet (run `make claims`)"
    if source != "offline":
        return None, f"the committed measurement is offline data; this run's source is {source!r}"
    budgets = sorted({p["train_examples"] for p in efficiency["points"] if p["method"] == method})
    if train_examples not in budgets:
        return None, f"measured only at {budgets} labels, this run has {train_examples:,}"
    return label_efficiency_point(efficiency, method, train_examples), ""

