"""Generate learner notebooks from the reference chapters: solutions become ``raise NotImplementedError``.

Usage: ``python scripts/make_learner.py [book/01_transfer_learning.ipynb ...] --out learner/``
(default: every chapter notebook). The exercise section's outputs are cleared (a stored ``PASS`` would say nothing
about the learner's own answer); the chapter's other outputs stay. Grade with ``make grade SUBMISSIONS=...``
(:mod:`course_lib.grader`). Learner notebooks are always generated, never edited by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from course_lib.grader import BEGIN, STUB, learner_notebook, strip_solutions  # noqa: E402

__all__ = ["BEGIN", "STUB", "learner_notebook", "strip_solutions", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "learner")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        if not any(c.cell_type == "code" and BEGIN in c.source for c in nb.cells):
            continue  # e.g. the summary chapter has no exercises
        target = args.out / path.name
        nbformat.write(learner_notebook(nb, chapter=path.stem), target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
