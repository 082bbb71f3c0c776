"""Execute chapter notebooks in place with the committed settings (PROFILE=fast, offline, no progress bars).

Usage: ``python scripts/execute_chapter.py book/01_transfer_learning.md [...]``. The .md source is synced to
the .ipynb with jupytext first, then the notebook is executed with nbclient and written back with its outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from course_lib.results import read_results_file, results_path, write_results_file

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_RESULTS = ROOT / "book" / "_results"


def execute(md: Path, timeout: int = 1200) -> float:
    md = md.with_suffix(".md")
    nb = jupytext.read(md)
    nb.metadata["jupytext"] = {"formats": "md:myst,ipynb", **{k: v for k, v in nb.metadata.get("jupytext", {}).items()
                                                               if k != "formats"}}
    # the committed outputs' results files go to book/_results (committed too): the summary chapter reads them there,
    # so nbval can re-execute it without the other chapters' runs; `make chapter` runs write results/ instead
    os.environ.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "COURSE_LIB_PROGRESS": "0", "TOKENIZERS_PARALLELISM": "false",
                       "COURSE_LIB_RESULTS_DIR": str(COMMITTED_RESULTS),
                       # the page shows no progress bars: TQDM_DISABLE also reaches the bars that libraries draw with
                       # plain tqdm (transformers' GGUF conversion); tqdm's import-time notice that ipywidgets is
                       # missing is hidden by course_lib itself when COURSE_LIB_PROGRESS=0 (course_lib/__init__.py)
                       "TQDM_DISABLE": "1"})
    start, wall_start = time.perf_counter(), time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(md.parent)}}).execute()
    elapsed = time.perf_counter() - start
    results = results_path(COMMITTED_RESULTS, md.stem)  # the book's runs are the fast profile's
    if results.exists() and results.stat().st_mtime >= wall_start:  # the whole notebook's time, kernel start included
        payload = read_results_file(results)  # notebook_wall_time_s is a field of the one schema (course_lib.results)
        write_results_file(results, {**payload, "notebook_wall_time_s": round(elapsed, 1)})
    # write both through jupytext, exactly as `jupytext --sync` would, so that a later --sync changes nothing
    jupytext.write(nb, md.with_suffix(".ipynb"), fmt="ipynb")
    jupytext.write(jupytext.read(md.with_suffix(".ipynb")), md, fmt="md:myst")
    return elapsed


def main(argv: list[str]) -> int:
    for arg in argv or sorted(str(p) for p in (ROOT / "book").glob("[0-9][0-9]_*.md")):
        print(f"executing {arg} ...", flush=True)
        print(f"  done in {execute(Path(arg)):.0f} s", flush=True)
    # the intro's runtime table is generated from book/_results: keep it in step with the files just written
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "runtimes.py")], check=True, stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
