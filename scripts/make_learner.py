"""Generate learner notebooks from the reference chapters: solutions become ``raise NotImplementedError``.

Usage: ``python scripts/make_learner.py [book/01_transfer_learning.ipynb ...] --out learner/``
(default: every chapter notebook). Outputs are kept, so the stored PASS verdicts are what nbval compares
against: ``pytest --nbval learner/01_transfer_learning.ipynb`` passes exactly when the answers are right.
Learner notebooks are always generated, never edited by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = "raise NotImplementedError(\"Exercise: write your solution here\")"


def strip_solutions(source: str) -> tuple[str, int]:
    """Replace every BEGIN/END SOLUTION block with an indented stub; return the new source and the count."""
    out, inside, count, indent = [], False, 0, ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError("nested # BEGIN SOLUTION")
            inside, count = True, count + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}{STUB}")
        elif stripped == END:
            if not inside:
                raise ValueError("# END SOLUTION without # BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("# BEGIN SOLUTION without # END SOLUTION")
    return "\n".join(out), count


def learner_notebook(nb):
    """A copy of ``nb`` with every solution block stubbed; raises if the chapter has no solution block."""
    nb = nbformat.from_dict(nb)
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.source, n = strip_solutions(cell.source)
            total += n
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
    if total == 0:
        raise ValueError("notebook has no '# BEGIN SOLUTION' block")
    nb.metadata.setdefault("course", {})["learner_version"] = True
    return nb


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
        nbformat.write(learner_notebook(nb), target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
