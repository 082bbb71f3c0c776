"""The graders: PASS on the reference solutions, NOT YET on the generated learner stubs, for every chapter.

Only the parameters cell and the self-contained ``## Exercises`` section are executed, so this takes seconds.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.grader import learner_notebook, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")
                  if any(c.cell_type == "code" and "# BEGIN SOLUTION" in c.source
                         for c in nbformat.read(p, as_version=4).cells))
VERDICT = re.compile(r"^Exercise (\d+\.\d+): (PASS|NOT YET)", re.M)


def exercise_section(nb):
    """The parameters cell plus every cell from the '## Exercises' heading on."""
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                 and c.source.lstrip().startswith("## Exercises"))
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    sub = nbformat.v4.new_notebook(metadata=nb.metadata)
    sub.cells = [nbformat.from_dict(dict(c)) for c in params + nb.cells[start:]]
    return sub


def run_and_collect(nb) -> dict[str, str]:
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                     if o.get("output_type") == "stream")
    return dict(VERDICT.findall(text))


def stored_verdicts(nb) -> dict[str, str]:
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")
    return dict(VERDICT.findall(text))


def test_strip_solutions_keeps_indentation_and_rejects_bad_markers():
    src = "def f(x):\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n"
    out, n = strip_solutions(src)
    assert n == 1 and "return x + 1" not in out
    assert "    raise NotImplementedError" in out
    with pytest.raises(ValueError, match="without # END"):
        strip_solutions("# BEGIN SOLUTION\nx = 1\n")


def test_every_chapter_with_code_has_exercises():
    assert CHAPTERS, "no chapter notebook with exercises found"
    for path in CHAPTERS:
        stored = stored_verdicts(nbformat.read(path, as_version=4))
        assert len(stored) >= 3, f"{path.name}: fewer than 3 graded exercises"
        assert set(stored.values()) == {"PASS"}, f"{path.name}: the reference must store PASS verdicts"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_grader_passes_reference_and_fails_learner_stubs(path):
    reference = nbformat.read(path, as_version=4)
    expected = stored_verdicts(reference)
    got = run_and_collect(exercise_section(reference))
    assert got == expected, f"{path.name}: reference verdicts {got} != stored {expected}"
    learner = learner_notebook(reference)
    got_learner = run_and_collect(exercise_section(learner))
    assert set(got_learner) == set(expected), f"{path.name}: a learner check printed no verdict"
    assert set(got_learner.values()) == {"NOT YET"}, f"{path.name}: a stub passed its check: {got_learner}"


def test_solutions_are_collapsed_on_the_rendered_page():
    """A reader of the book sees a closed "Solution to Exercise ..." dropdown, not the answer: every solution cell
    stands between a sphinx-exercise ``solution-start`` gate (class dropdown) that names its exercise's label and a
    ``solution-end`` gate, right after that exercise's statement block."""
    for path in CHAPTERS:
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and "# BEGIN SOLUTION" in cell.source:
                where = f"{path.name}: {cell.source[:60]!r}"
                before, after = cells[i - 1].source, cells[i + 1].source
                # the gate ends the markdown cell before the solution (the statement block may share that cell)
                gate = re.search(r":::\{solution-start\} (ex-\d+-\d+)\n:class: dropdown\n:::\s*$", before)
                assert cells[i - 1].cell_type == "markdown" and gate, where
                assert cells[i + 1].cell_type == "markdown" and after.startswith(":::{solution-end}"), where
                statement = next(c.source for c in reversed(cells[:i]) if c.cell_type == "markdown"
                                 and "{exercise}" in c.source)
                assert f":label: {gate.group(1)}" in statement, f"{where}: the solution names another exercise"
