"""Run every benchmark and print one table of ratios, each measured side by side in this run (``make bench``).

- chapter-1 training throughput, course_lib vs the source notebook's pipeline (``bench_ch1_training.py``);
- LoRA inference latency, merged vs unmerged weights (``bench_lora_latency.py``, reported "missing" if absent);
- peak memory of a chapter-1 training step, source vs course_lib, and of every chapter run fast and offline
  (``bench_memory.py``; the chapter runs also give the whole book's wall time).

Usage: ``python benchmarks/bench_all.py [--skip-chapters] [--chapters 01 05]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load(name: str):
    """The benchmark module ``benchmarks/<name>.py``, or None when the file does not exist."""
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratio_rows(name: str, result) -> list[tuple[str, float | None, str]]:
    """(label, ratio, note) rows from a benchmark's returned dict: its own "ratio", or one per nested case."""
    if isinstance(result, dict) and isinstance(result.get("ratio"), (int, float)):
        return [(name, float(result["ratio"]), "")]
    if isinstance(result, dict):
        rows = []
        for case, value in result.items():
            if isinstance(value, dict) and isinstance(value.get("ratio"), (int, float)):
                rows.append((f"{name}: {case}", float(value["ratio"]), ""))
        if rows:
            return rows
    return [(name, None, "returned no ratio")]


def run(name: str, label: str, meaning: str, argv: list[str]) -> list[tuple]:
    module = load(name)
    if module is None:
        print(f"\n== {label}: missing (benchmarks/{name}.py does not exist)")
        return [(label, None, "missing", meaning)]
    print(f"\n== {label} (benchmarks/{name}.py)", flush=True)
    try:
        takes_argv = bool(inspect.signature(module.main).parameters)
        result = module.main(argv) if takes_argv else module.main()
    except Exception as exc:  # one failing benchmark must not hide the others
        traceback.print_exc()
        return [(label, None, f"failed: {type(exc).__name__}", meaning)]
    return [(row_label.replace(name, label), ratio, note, meaning)
            for row_label, ratio, note in ratio_rows(name, result)]


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-chapters", action="store_true", help="skip the per-chapter memory runs (~10 min)")
    parser.add_argument("--chapters", nargs="*", help="two-digit chapter prefixes for the memory runs")
    args = parser.parse_args(argv)

    rows = []
    rows += run("bench_ch1_training", "ch1 training throughput", "course_lib ex/s / source ex/s (higher is better)",
                [])
    rows += run("bench_lora_latency", "LoRA latency", "as reported by the benchmark", [])
    memory_argv = (["--skip-chapters"] if args.skip_chapters else []) + (
        ["--chapters", *args.chapters] if args.chapters else [])
    memory = load("bench_memory")
    chapters = []
    if memory is None:
        rows.append(("memory", None, "missing", ""))
    else:
        print("\n== peak memory (benchmarks/bench_memory.py)", flush=True)
        try:
            result = memory.main(memory_argv)
            rows.append(("ch1 training step peak RSS", result["ch1_step"]["ratio"],
                         f"source {result['ch1_step']['source']:.0f} MB, course_lib "
                         f"{result['ch1_step']['course_lib']:.0f} MB", "source MB / course_lib MB (higher is better)"))
            chapters = result.get("chapters", [])
            if chapters:
                rows.append(("whole book, fast/offline", None, f"{result['total_wall_s'] / 60:.1f} min on this "
                             f"machine, {sum(r['rc'] != 0 for r in chapters)} chapter(s) failed", "wall time"))
        except Exception as exc:
            traceback.print_exc()
            rows.append(("memory", None, f"failed: {type(exc).__name__}", ""))

    print("\n" + "=" * 110)
    print(f"{'benchmark':<42}{'ratio':>8}  {'meaning / note'}")
    print("-" * 110)
    for label, ratio, note, meaning in rows:
        shown = f"{ratio:>8.2f}" if ratio is not None else f"{'-':>8}"
        print(f"{label:<42}{shown}  {'; '.join(x for x in (meaning, note) if x)}")
    for r in chapters:
        print(f"{'  peak RSS ' + r['chapter']:<42}{'-':>8}  {r['peak_rss_mb']:.0f} MB, {r['wall_s']:.0f} s"
              f"{'' if r['rc'] == 0 else ', FAILED'}")
    return rows


if __name__ == "__main__":
    main()
