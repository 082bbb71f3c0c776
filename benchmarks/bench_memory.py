"""Peak memory (RSS) and wall time of every chapter, and of a chapter-1 training step: course_lib vs the source.

Chapters: each ``book/NN_*.md`` is converted with jupytext to a script and run, fast and offline with the Agg
backend, in its own process (under IPython, so notebook idioms work); ``os.wait4`` returns that process's
``ru_maxrss``. Results files go to a temporary folder, so the committed ``book/_results`` stay as they are.
The total wall time is the whole book's, run chapter after chapter.

Chapter-1 training step, side by side: the same number of training steps on real IMDB reviews, once with the
source notebook's pipeline (re-implemented in ``bench_ch1_training.py``: untruncated, randomly batched reviews,
a vocabulary-sized positional table) and once with course_lib's, each in a fresh process; the ratio is of their peaks.

Usage: ``python benchmarks/bench_memory.py [--chapters 01 05] [--skip-chapters]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


PEAK_FILE_VAR = "BENCH_MEMORY_PEAK_FILE"
REPORT_PEAK = f"""
import os as _os
from pathlib import Path as _Path
if _Path("/proc/self/status").exists():
    _hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
    _Path(_os.environ["{PEAK_FILE_VAR}"]).write_text(_hwm)
"""


def run_measured(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Run ``cmd`` to completion; its peak RSS in MB and its wall time.

    The process writes its own high-water mark (``VmHWM``, which starts afresh at exec) just before it ends; the
    ``ru_maxrss`` that ``wait4`` returns is only the fallback (no /proc), since Linux lets a child inherit the
    parent's peak at fork, which would report this (possibly large) benchmark process instead of the child.
    """
    peak_file = log.with_suffix(".peak")
    env = {**env, PEAK_FILE_VAR: str(peak_file)}
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kb = int(peak_file.read_text()) if peak_file.exists() else usage.ru_maxrss
    return {"peak_rss_mb": peak_kb / 1024, "wall_s": time.perf_counter() - start, "rc": proc.returncode,
            "log": str(log)}


def chapter_env(results_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "COURSE_LIB_PROGRESS": "0", "TOKENIZERS_PARALLELISM": "false",
                "COURSE_LIB_RESULTS_DIR": str(results_dir)})
    return env


def chapter_script(md: Path, folder: Path) -> Path:
    """The chapter as a plain script (code cells only), with the parameters the committed run used."""
    import jupytext
    import nbformat

    nb = jupytext.read(md)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source += '\nPROFILE, SOURCE = "fast", "offline"\n'
    nb.cells.append(nbformat.v4.new_code_cell(REPORT_PEAK))
    path = folder / f"{md.stem}.py"
    jupytext.write(nb, path, fmt="py:percent")
    return path


def measure_chapters(prefixes: list[str] | None = None) -> list[dict]:
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
    if prefixes:
        chapters = [md for md in chapters if md.name[:2] in prefixes]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        tmp = Path(tmp)
        env = chapter_env(tmp / "results")
        for md in chapters:
            script = chapter_script(md, tmp)
            print(f"  running {md.stem} ...", flush=True)
            res = run_measured([sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=NoColor",
                                str(script)], cwd=ROOT / "book", env=env, log=tmp / f"{md.stem}.log")
            if res["rc"] != 0:
                tail = Path(res["log"]).read_text()[-1500:]
                print(f"  {md.stem} FAILED (rc={res['rc']}):\n{tail}", flush=True)
            rows.append({"chapter": md.stem, **{k: v for k, v in res.items() if k != "log"}})
    return rows


def measure_ch1_step(steps: int) -> dict:
    """Peak RSS of ``steps`` chapter-1 training steps, source pipeline vs course_lib, each in a fresh process."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-ch1-mem-") as tmp:
        for which in ("source", "course_lib"):
            res = run_measured([sys.executable, __file__, "--ch1-child", which, "--steps", str(steps)], cwd=ROOT,
                               env=chapter_env(Path(tmp)), log=Path(tmp) / f"{which}.log")
            if res["rc"] != 0:
                raise RuntimeError(f"chapter-1 {which} step failed:\n{Path(res['log']).read_text()[-1500:]}")
            out[which] = res["peak_rss_mb"]
    out["ratio"] = out["source"] / out["course_lib"]
    return out


def ch1_child(which: str, steps: int) -> None:
    """Train ``steps`` batches of 32 real IMDB reviews with one pipeline (runs in its own process)."""
    import torch
    from torch import nn

    sys.path.insert(0, str(HERE))
    import bench_ch1_training as b

    from course_lib.data.text import TextPipeline
    from course_lib.data.vectors import get_word_vectors
    from course_lib.experiments.encoder_transfer import build_embeddings
    from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
    from course_lib.train.batching import LengthGroupedBatchSampler, PadCollator

    vocab, emb = build_embeddings(get_word_vectors("offline"))
    rows = b.real_reviews("imdb", 32 * steps)
    ids, labels = [TextPipeline(vocab)(r["text"]) for r in rows], [r["label"] for r in rows]
    crit = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    if which == "source":
        model = b.SourceNet(emb)
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
        for x, y in b.source_batches(ids, labels, 32, 0):
            opt.zero_grad()
            crit(model(x), y).backward()
            opt.step()
    else:
        model = TransformerClassifier(emb, TransformerConfig(max_len=256), pad_index=vocab.pad_index)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-3)
        cut = [{"input_ids": x[:256], "label": y} for x, y in zip(ids, labels)]
        collate = PadCollator(vocab.pad_index)
        for idx in LengthGroupedBatchSampler([len(r["input_ids"]) for r in cut], 32, seed=0):
            batch = collate([cut[i] for i in idx])
            opt.zero_grad(set_to_none=True)
            crit(model(batch["input_ids"], batch["attention_mask"]), batch["labels"]).backward()
            opt.step()
    exec(REPORT_PEAK)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="peak memory per chapter and of a chapter-1 training step")
    parser.add_argument("--chapters", nargs="*", help="two-digit prefixes, e.g. 01 05 (default: all)")
    parser.add_argument("--skip-chapters", action="store_true", help="only the chapter-1 training step")
    parser.add_argument("--steps", type=int, default=8, help="chapter-1 training steps per pipeline")
    parser.add_argument("--ch1-child", choices=("source", "course_lib"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ch1_child:
        ch1_child(args.ch1_child, args.steps)
        return {}

    result: dict = {}
    print(f"chapter-1 training step, {args.steps} batches of 32 real IMDB reviews, each pipeline in its own process")
    result["ch1_step"] = step = measure_ch1_step(args.steps)
    print(f"  peak RSS: source {step['source']:.0f} MB, course_lib {step['course_lib']:.0f} MB, "
          f"source/course_lib = {step['ratio']:.2f}")
    if not args.skip_chapters:
        print("chapters, fast and offline, one after the other:")
        result["chapters"] = rows = measure_chapters(args.chapters)
        print(f"{'chapter':<28}{'peak RSS (MB)':>15}{'wall time (s)':>15}{'status':>8}")
        for r in rows:
            status = "ok" if r["rc"] == 0 else "FAILED"
            print(f"{r['chapter']:<28}{r['peak_rss_mb']:>15.0f}{r['wall_s']:>15.0f}{status:>8}")
        total = sum(r["wall_s"] for r in rows)
        result["total_wall_s"] = total
        print(f"{'all chapters':<28}{max((r['peak_rss_mb'] for r in rows), default=0):>15.0f}{total:>15.0f}"
              f"   ({total / 60:.1f} min)")
    return result


if __name__ == "__main__":
    main()
