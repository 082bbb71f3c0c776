"""Chapter notebooks against their jupytext ``.md`` sources: in sync, and free of error outputs.

``jupyter-book build`` exits 0 even when a stored cell output is an error, so the book build runs
``scripts/check_notebooks.py`` (:func:`main`) first; ``tests/test_notebooks.py`` checks the same on every test run.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat

from course_lib.env import REPO_ROOT


def chapter_pairs() -> list[tuple[Path, Path]]:
    return [(md, md.with_suffix(".ipynb")) for md in sorted((REPO_ROOT / "book").glob("[0-9][0-9]_*.md"))]


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


_GLUE_REF = re.compile(r"\{glue(?::[a-z]+)?\}`([^`]+)`")


def glue_references(md_text: str) -> set[str]:
    """The names a chapter's prose reads with ``{glue:text}`name``` (or another glue role)."""
    return {name.split(":")[0] for name in _GLUE_REF.findall(md_text)}


def glued_names(nb) -> set[str]:
    """The names an executed notebook glued (myst-nb stores them in the outputs' ``scrapbook`` metadata)."""
    return {out.get("metadata", {}).get("scrapbook", {}).get("name")
            for cell in nb.cells for out in cell.get("outputs", [])} - {None}


def missing_glue(md: Path, ipynb: Path) -> list[str]:
    """Names the prose of ``md`` reads that the executed ``ipynb`` never glued: the rendered page would show an
    unresolved reference there (a path of the chapter, e.g. another ``SOURCE``, that skips a ``glue`` call)."""
    return sorted(glue_references(md.read_text(encoding="utf-8")) - glued_names(nbformat.read(ipynb, as_version=4)))


def main() -> int:
    problems = []
    for md, ipynb in chapter_pairs():
        msg = out_of_sync(md, ipynb)
        if msg:
            problems.append(msg)
        elif ipynb.exists():
            problems += errors_in(ipynb)
            problems += [f"{ipynb.name}: the prose reads {{glue:text}}`{name}`, which the run never glued"
                         for name in missing_glue(md, ipynb)]
    for p in problems:
        print("ERROR:", p)
    if not problems:
        print(f"{len(chapter_pairs())} chapter notebooks: in sync with their .md sources, no error outputs, "
              "every glued name the prose reads present")
    return 1 if problems else 0
