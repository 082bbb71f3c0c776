"""Measure what the book's rankings rest on: learning rates, seed spread and label efficiency (not part of CI).

Usage (``make claims`` runs all three, in this order; each writes one file in ``book/_results/``)::

    python scripts/claims.py tune               # lr_sweep.json: each run's validation accuracy per learning rate
    python scripts/claims.py seeds              # seeds.json: chapters 1, 4 and 5 (fast) at seeds 0, 1, 2
    python scripts/claims.py label-efficiency-pretrained   # MiniLM fine-tuned at several label budgets
    python scripts/claims.py label-efficiency   # label_efficiency.json: accuracy vs number of labelled reviews

``tune`` trains every strategy of chapters 1, 4 and 5 at each learning rate of ``transfer.LR_GRID`` (seed 0) and
records the validation accuracy; the chapters' configs hold the argmax (``tests/test_transfer.py`` checks it).
``seeds`` executes the chapter notebooks themselves with papermill (``PROFILE=fast``, ``SOURCE=offline``), so the
numbers are the chapters' own. ``label-efficiency`` trains the bag-of-words baseline, the chapter-1 encoder from
scratch and news-pretrained, and the pretrained MiniLM at several label budgets and seeds.
All runs use the course cache (``COURSE_LIB_CACHE``) and the fixed held-out test split; nothing is tuned on test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "book" / "_results"
SEED_CHAPTERS = ("01_transfer_learning", "04_adapters", "05_lora")
SEEDS = (0, 1, 2)
CHAPTER_BUDGET = 500  # the chapters' own number of labelled reviews
LABEL_BUDGETS = (100, 300, 500, 1000, 3000)
ENCODER_MAX_BUDGET = 1000  # the chapter-1 encoder at 3,000 reviews: ~2 CPU minutes a run, left to `full` on a GPU
PRETRAINED_BUDGETS = (100, 500)  # MiniLM at 1,000+ reviews costs ~10 CPU minutes per seed and point: left to a GPU
PRETRAINED_FILE = "label_efficiency_pretrained.json"


def _write(name: str, payload: dict) -> Path:
    path = OUT / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def _stats(values: list[float]) -> dict:
    return {"values": values, "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1
            else 0.0, "min": min(values), "max": max(values)}


def tune() -> Path:
    """Validation accuracy of every compared run at every learning rate of the shared grid (seed 0)."""
    import course_lib
    from course_lib.chapters import ch01_transfer as transfer
    from course_lib.chapters import ch05_lora

    run = course_lib.start_chapter("01_transfer_learning", "fast", "offline", 0, tempfile.mkdtemp(), quiet=True)
    cfg = transfer.config_for(run.profile)
    data = transfer.load_transfer_data(run, cfg)
    lcfg = ch05_lora.config_for(run.profile)
    partial = OUT / "lr_sweep.partial.json"  # progress so far: an interrupted sweep resumes where it stopped
    sweep: dict[str, dict[str, float]] = json.loads(partial.read_text()) if partial.exists() else {}
    for name in (*transfer.STRATEGIES, *ch05_lora.BAG_STRATEGIES):
        sweep.setdefault(name, {})
        for lr in transfer.LR_GRID:
            if repr(lr) in sweep[name]:
                continue
            start = time.perf_counter()
            if name in transfer.STRATEGIES:
                model = transfer.build_strategy(name, run, data, cfg)
                history, _ = transfer.adapt_to_sentiment(run, data, cfg, name, model, learning_rate=lr, record=False)
            else:
                model = ch05_lora.build_bag_strategy(name, run, data, lcfg)
                history, _ = ch05_lora.train_bag_strategy(run, data, lcfg, name, model, learning_rate=lr)
            sweep[name][repr(lr)] = history.best_val_accuracy
            partial.write_text(json.dumps(sweep, indent=2))
            print(f"{name:>22} learning rate {lr:<7g} validation accuracy {history.best_val_accuracy:.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    grid = {repr(lr) for lr in transfer.LR_GRID}
    sweep = {name: {lr: acc for lr, acc in accs.items() if lr in grid} for name, accs in sweep.items()}
    chosen = {name: float(max(accs, key=accs.get)) for name, accs in sweep.items()}
    partial.unlink()
    return _write("lr_sweep.json", {"profile": "fast", "source": "offline", "seed": 0, "grid": list(transfer.LR_GRID),
                                    "validation_accuracy": sweep, "chosen": chosen})


def seeds() -> Path:
    """Execute chapters 1, 4 and 5 at every seed and collect each run's test accuracy."""
    import papermill

    values: dict[str, dict[str, list[float]]] = {}
    params: dict[str, int | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            results = Path(tmp) / f"seed{seed}"
            for chapter in SEED_CHAPTERS:
                start = time.perf_counter()
                papermill.execute_notebook(str(ROOT / "book" / f"{chapter}.ipynb"), str(Path(tmp) / "out.ipynb"),
                                           parameters={"PROFILE": "fast", "SOURCE": "offline", "SEED": seed,
                                                       "RESULTS_DIR": str(results)},
                                           cwd=str(ROOT / "book"), progress_bar=False, kernel_name="python3")
                print(f"seed {seed}: {chapter} in {time.perf_counter() - start:.0f} s", flush=True)
                payload = json.loads((results / f"{chapter}.json").read_text())
                for row in payload["runs"]:
                    key = f"{chapter}/{row['name']}/{row['task']}"
                    values.setdefault(key, []).append(row["value"])
                    params[key] = row.get("trainable_params")
    runs = {}
    for key, vals in values.items():
        chapter, name, task = key.split("/")
        if len(vals) == len(SEEDS):
            runs[key] = {"chapter": chapter, "name": name, "task": task, "trainable_params": params[key],
                         **_stats(vals)}
    return _write("seeds.json", {"profile": "fast", "source": "offline", "seeds": list(SEEDS), "runs": runs})


def _sentiment_data(seed: int, n: int):
    import course_lib
    from course_lib.chapters import ch01_transfer as transfer

    run = course_lib.start_chapter("01_transfer_learning", "fast", "offline", seed, tempfile.mkdtemp(), quiet=True)
    base = transfer.config_for(run.profile)
    cfg = replace(base, sentiment_sizes=replace(base.sentiment_sizes, train=n))
    return run, cfg, transfer.load_transfer_data(run, cfg)


def _point(method: str, n: int, seed: int, accuracy: float, **extra) -> dict:
    print(f"seed {seed} n={n:>5} {method:>20}: {accuracy:.3f}", flush=True)
    return {"method": method, "train_examples": n, "seed": seed, "accuracy": accuracy, **extra}


def label_efficiency_pretrained() -> Path:
    """MiniLM fine-tuned at several label budgets; its learning rate picked on validation at seed 0, 500 labels.

    The file is rewritten after every point, and a rerun skips the points it already holds.
    """
    from course_lib.chapters import ch01_transfer
    from course_lib.train import baselines

    cols = ["text", "label"]
    path = OUT / PRETRAINED_FILE
    done = json.loads(path.read_text()) if path.exists() else {}
    points, sweep = done.get("points", []), done.get("validation_accuracy_by_lr")
    cfg = ch01_transfer.PretrainedFinetuneConfig()
    grid = list(cfg.learning_rate_grid)
    if sweep:
        cfg = replace(cfg, learning_rate_grid=(float(max(sweep, key=sweep.get)),))
    budgets = [CHAPTER_BUDGET] + [b for b in sorted(PRETRAINED_BUDGETS) if b != CHAPTER_BUDGET]
    for seed in SEEDS:
        for n in budgets:
            if any(p["seed"] == seed and p["train_examples"] == n for p in points):
                continue
            _, _, data = _sentiment_data(seed, n)
            s = data.sentiment
            res = ch01_transfer.finetune_pretrained(*(s[k].select_columns(cols) for k in ("train", "validation", "test")),
                                                source="offline", num_labels=2, cfg=cfg, seed=seed)
            if sweep is None:  # the first run (seed 0, the chapters' budget) tried the whole grid on validation
                sweep = res.setting["validation_by_lr"]
                print(f"MiniLM validation accuracy by learning rate: {sweep}", flush=True)
                cfg = replace(cfg, learning_rate_grid=(res.setting["learning_rate"],))
            points.append(_point("pretrained_finetune", n, seed, res.accuracy,
                                 learning_rate=res.setting["learning_rate"], trainable_params=res.trainable_params))
            path.write_text(json.dumps({"profile": "fast", "source": "offline", "seeds": list(SEEDS),
                                        "learning_rate_grid": grid, "validation_accuracy_by_lr": sweep,
                                        "points": points}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def label_efficiency() -> Path:
    """Test accuracy against the number of labelled reviews, for four ways of (re)using knowledge."""
    from course_lib.train import baselines
    from course_lib.chapters import ch01_transfer as transfer
    from course_lib.nn.params import count_parameters

    points: list[dict] = []
    for seed in SEEDS:
        for n in LABEL_BUDGETS:
            run, cfg, data = _sentiment_data(seed, n)
            s = data.sentiment
            bow = baselines.tfidf_logreg(s["train"], s["validation"], s["test"], seed=seed)
            points.append(_point("tfidf_logreg", n, seed, bow.accuracy, trainable_params=bow.trainable_params))
            if n > ENCODER_MAX_BUDGET:
                continue
            for name in ("scratch", "full_finetune"):
                model = transfer.build_strategy(name, run, data, cfg)
                _, acc = transfer.adapt_to_sentiment(run, data, cfg, name, model, record=False)
                points.append(_point(name, n, seed, acc, trainable_params=count_parameters(model)[0]))
    pretrained = json.loads((OUT / PRETRAINED_FILE).read_text())  # `label-efficiency-pretrained` wrote it
    points += pretrained["points"]
    return _write("label_efficiency.json", {"profile": "fast", "source": "offline", "seeds": list(SEEDS),
                                            "budgets": sorted({p["train_examples"] for p in points}),
                                            "pretrained_learning_rate_grid": pretrained["learning_rate_grid"],
                                            "pretrained_validation_accuracy_by_lr":
                                                pretrained["validation_accuracy_by_lr"],
                                            "points": points})


def merge_pretrained() -> Path:
    """Refresh label_efficiency.json's MiniLM points from label_efficiency_pretrained.json (nothing retrained)."""
    path = OUT / "label_efficiency.json"
    payload = json.loads(path.read_text())
    pretrained = json.loads((OUT / PRETRAINED_FILE).read_text())
    payload["points"] = [p for p in payload["points"] if p["method"] != "pretrained_finetune"] + pretrained["points"]
    payload["budgets"] = sorted({p["train_examples"] for p in payload["points"]})
    payload["pretrained_validation_accuracy_by_lr"] = pretrained["validation_accuracy_by_lr"]
    return _write("label_efficiency.json", payload)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="+", choices=("tune", "seeds", "label-efficiency-pretrained",
                                                    "label-efficiency", "merge-pretrained"))
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_LIB_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for what in args.what:
        {"tune": tune, "seeds": seeds, "label-efficiency-pretrained": label_efficiency_pretrained,
         "label-efficiency": label_efficiency, "merge-pretrained": merge_pretrained}[what]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
