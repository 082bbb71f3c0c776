"""Fail when a committed chapter notebook has an error output or disagrees with its jupytext .md source.

``jupyter-book build`` exits 0 even when a stored cell output is an error, so the book build runs this first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent


def chapter_pairs() -> list[tuple[Path, Path]]:
    return [(md, md.with_suffix(".ipynb")) for md in sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))]


def out_of_sync(md: Path, ipynb: Path) -> str | None:
    """None when ``jupytext --sync`` would change nothing, else a message naming the fix."""
    if not ipynb.exists():
        return f"{ipynb.name} is missing: run `make execute NB={md.stem}`"
    from_md = jupytext.read(md)
    from_nb = nbformat.read(ipynb, as_version=4)
    a = [(c.cell_type, c.source.strip()) for c in from_md.cells]
    b = [(c.cell_type, c.source.strip()) for c in from_nb.cells]
    if a != b:
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return (f"{md.name} and {ipynb.name} differ (first at cell {first}): run `jupytext --sync {md}` and "
                "re-execute the chapter (`make execute NB=...`)")
    tags_md = [sorted(c.metadata.get("tags", [])) for c in from_md.cells]
    tags_nb = [sorted(c.metadata.get("tags", [])) for c in from_nb.cells]
    if tags_md != tags_nb:
        return f"{md.name} and {ipynb.name} have different cell tags: run `jupytext --sync {md}`"
    return sync_changes(md, ipynb)


def sync_changes(md: Path, ipynb: Path) -> str | None:
    """Run ``jupytext --sync`` on copies of the pair, once with each file the newer one; report any change."""
    import os
    import shutil
    import tempfile

    from jupytext.cli import jupytext as jupytext_cli

    for newer in ("md", "ipynb"):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = Path(tmp) / md.name, Path(tmp) / ipynb.name
            shutil.copyfile(md, a)
            shutil.copyfile(ipynb, b)
            old, new = (b, a) if newer == "md" else (a, b)
            os.utime(old, (1_000_000_000, 1_000_000_000))
            before = (a.read_bytes(), b.read_bytes())
            jupytext_cli(["--sync", "--quiet", str(a)])
            if (a.read_bytes(), b.read_bytes()) != before:
                changed = [p.name for p, x in zip((a, b), before) if p.read_bytes() != x]
                return (f"`jupytext --sync` would rewrite {', '.join(changed)} (when the {newer} file is newer): "
                        f"re-execute with `make execute NB={md.stem}`")
    return None


def errors_in(ipynb: Path) -> list[str]:
    nb = nbformat.read(ipynb, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"{ipynb.name} cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return found


def main() -> int:
    problems = []
    for md, ipynb in chapter_pairs():
        msg = out_of_sync(md, ipynb)
        if msg:
            problems.append(msg)
        elif ipynb.exists():
            problems += errors_in(ipynb)
    for p in problems:
        print("ERROR:", p)
    if not problems:
        print(f"{len(chapter_pairs())} chapter notebooks: in sync with their .md sources, no error outputs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
