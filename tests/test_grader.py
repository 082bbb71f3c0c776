"""The class grader (``course_lib.grader``, ``make grade``): only the learners' answer cells are taken, the checks
come from the reference, each exercise has a time limit, and one CSV plus one feedback file per student come out.

The fast tests grade a tiny reference chapter written here (its checker needs no torch); the slow ones build a class
folder from the real reference chapters in ``book/``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from course_lib import grader
from course_lib.grader import (
    NOT_YET,
    PASS,
    grade_notebook,
    grade_submissions,
    learner_notebook,
    load_reference,
    load_references,
    student_name,
)

ROOT = Path(__file__).resolve().parent.parent
new_code, new_md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell


def tiny_reference() -> nbformat.NotebookNode:
    """A chapter in the course's exercise convention: answer cells, check cells, a setup cell, an illustration."""
    nb = nbformat.v4.new_notebook()
    params = new_code('PROFILE = "fast"\nSOURCE = "offline"')
    params.metadata["tags"] = ["parameters"]
    checker = new_code(
        "from course_lib.grading import run_check\n\n\n"
        "def check_add(fn):\n    return run_check('9.1', lambda: (fn(2, 3) == 5, 'add(2, 3) should be 5'))\n\n\n"
        "def check_double(fn):\n    return run_check('9.2', lambda: (fn([1, 2]) == [2, 4], 'double each item'))\n\n\n"
        "def check_both(fn):\n    run_check('9.3', lambda: (fn(0) == 1, 'inc(0) should be 1'))\n"
        "    return run_check('9.4', lambda: (fn(-1) == 0, 'inc(-1) should be 0'))\n")
    nb.cells = [
        new_md("# Tiny chapter"), params, new_code("EXPENSIVE = 'the chapter body: never run by the grader'\n"
                                                   "raise RuntimeError('the chapter body ran')"),
        new_md("## Exercises\n\nEach exercise is a function."), checker,
        new_md("**9.1** Add."),
        new_code("import math\n\n\ndef add(a, b):\n    # BEGIN SOLUTION\n    return a + b\n    # END SOLUTION\n"),
        new_code("passed = check_add(add)", outputs=[nbformat.v4.new_output("stream", text="Exercise 9.1: PASS\n")]),
        new_md("**9.2** Double, answer and check in one cell."),
        new_code("def double(items):\n    # BEGIN SOLUTION\n    return [2 * x for x in items]\n    # END SOLUTION\n\n\n"
                 "passed = check_double(double)",
                 outputs=[nbformat.v4.new_output("stream", text="Exercise 9.2: PASS\n")]),
        new_code("print('illustration:', double([3]))"),  # uses an answer: skipped by the grader
        new_md("**9.3** One function, two verdicts."),
        new_code("def inc(x):\n    # BEGIN SOLUTION\n    return x + math.floor(1.0)\n    # END SOLUTION\n"),
        new_code("passed = check_both(inc)", outputs=[nbformat.v4.new_output(
            "stream", text="Exercise 9.3: PASS\nExercise 9.4: PASS\n")]),
    ]
    return nb


def answer(nb, name: str, body: str) -> None:
    """Put ``body`` (one line) in place of the solution of function ``name`` in ``nb``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(rf"^def {name}\(", cell.source, re.M):
            cell.source = re.sub(r"(?s)    # (YOUR CODE HERE|BEGIN SOLUTION).*?(# END SOLUTION|\"\))",
                                 f"    {body}\n", cell.source, count=1)
            return
    raise AssertionError(f"no cell defines {name}")


@pytest.fixture
def reference_dir(tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    nbformat.write(tiny_reference(), folder / "09_tiny.ipynb")
    return folder


def grade(reference_dir, nb, tmp_path, timeout=10.0, name="alice"):
    path = tmp_path / f"{name}_09_tiny.ipynb"
    nbformat.write(nb, path)
    ref = load_reference(reference_dir / "09_tiny.ipynb")
    return {g.exercise: (g.verdict, g.hint) for g in grade_notebook(path, ref, name, timeout=timeout)}


def test_reference_section_is_cut_into_setup_and_exercises(reference_dir):
    ref = load_reference(reference_dir / "09_tiny.ipynb")
    assert [e.functions for e in ref.exercises] == [["add"], ["double"], ["inc"]]
    assert [e.ids for e in ref.exercises] == [["9.1"], ["9.2"], ["9.3", "9.4"]]
    assert all("return a + b" not in e.setup and "NotImplementedError" in e.setup for e in ref.exercises[:1])
    assert "check_double(double)" in ref.exercises[1].check[0] and "check_double" not in ref.exercises[1].setup
    setup = [s for s in ref.steps if isinstance(s, str)]
    assert not any("illustration" in s or "EXPENSIVE" in s for s in setup)  # neither the body nor the illustration


def test_ids_come_from_the_checker_source_when_no_outputs_are_stored(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [new_md("## Exercises"),
                new_code("from course_lib.exercises import ch05\n\n\ndef lora_accuracy(r):\n"
                         "    # BEGIN SOLUTION\n    return 0.5\n    # END SOLUTION\n"),
                new_code("passed = ch05.check_lora_accuracy(lora_accuracy)")]
    nbformat.write(nb, tmp_path / "05_x.ipynb")
    assert load_reference(tmp_path / "05_x.ipynb").exercises[0].ids == ["5.3"]


def test_stubs_fail_and_solutions_pass(reference_dir, tmp_path):
    reference = tiny_reference()
    assert set(grade(reference_dir, reference, tmp_path).values()) == {(PASS, "")}
    stubs = grade(reference_dir, learner_notebook(reference), tmp_path)
    assert {v for v, _ in stubs.values()} == {NOT_YET} and set(stubs) == {"9.1", "9.2", "9.3", "9.4"}
    assert "NotImplementedError" in stubs["9.1"][1]


def test_one_wrong_answer_fails_only_its_exercise(reference_dir, tmp_path):
    nb = tiny_reference()
    answer(nb, "double", "return items + items")
    got = grade(reference_dir, nb, tmp_path)
    assert got["9.2"] == (NOT_YET, "double each item")
    assert all(got[i][0] == PASS for i in ("9.1", "9.3", "9.4"))


def test_tampered_check_cells_change_nothing(reference_dir, tmp_path):
    nb = learner_notebook(tiny_reference())
    for cell in nb.cells:
        if cell.cell_type == "code" and "check_" in cell.source and "def check_" not in cell.source:
            cell.source = cell.source.replace("passed = check_", "print('Exercise 9.1: PASS'); x = check_")
            cell.source += "\nprint('Exercise 9.2: PASS')\nprint('Exercise 9.3: PASS')\nprint('Exercise 9.4: PASS')"
            cell.outputs = [nbformat.v4.new_output("stream", text="Exercise 9.1: PASS\n")]
    nb.cells[4].source = "def check_add(fn):\n    print('Exercise 9.1: PASS')\n"  # a learner's own "checker"
    answer(nb, "add", "print('Exercise 9.1: PASS'); return 0")  # a fake line printed before the real verdict
    got = grade(reference_dir, nb, tmp_path)
    assert {v for v, _ in got.values()} == {NOT_YET}, got


def test_raising_and_looping_answers_get_their_own_errors(reference_dir, tmp_path):
    nb = tiny_reference()
    answer(nb, "add", "while True:\n        pass")  # an endless loop inside the check
    for cell in nb.cells:
        if "def double" in cell.source:
            cell.source = "import no_such_module_for_grading\n" + cell.source  # the answer cell raises
    answer(nb, "inc", "raise KeyError('oops')")  # the function raises: the checker reports it
    got = grade(reference_dir, nb, tmp_path, timeout=1.5)
    assert got["9.1"][0] == NOT_YET and "stopped after 1.5 s" in got["9.1"][1]
    assert got["9.2"][0] == NOT_YET and "ModuleNotFoundError" in got["9.2"][1]
    assert got["9.3"] == (NOT_YET, "your code raised KeyError: 'oops'")


def test_a_loop_in_the_answer_cell_itself_is_stopped_and_later_answers_still_run(reference_dir, tmp_path):
    nb = tiny_reference()
    for cell in nb.cells:
        if "def add" in cell.source:
            # runs when the cell runs, not when the check calls add
            cell.source += "\n\ndef spin():\n    while True:\n        pass\n\n\nforever = spin()\n"
    got = grade(reference_dir, nb, tmp_path, timeout=1.0)
    assert got["9.1"][0] == NOT_YET and "your answer cell ran too long" in got["9.1"][1]
    assert [got[i][0] for i in ("9.2", "9.3", "9.4")] == [PASS] * 3  # the new process still has `math`


def test_syntax_errors_missing_functions_and_killed_processes(reference_dir, tmp_path):
    nb = tiny_reference()
    for cell in nb.cells:
        if "def add" in cell.source:
            cell.source = cell.source.replace("return a + b", "return a +")
        if "def double" in cell.source:
            cell.source = cell.source.replace("def double(", "def twice(")
    answer(nb, "inc", "import os; os._exit(3)")
    got = grade(reference_dir, nb, tmp_path)
    assert got["9.1"][0] == NOT_YET and "does not parse" in got["9.1"][1]
    assert got["9.2"] == (NOT_YET, "no code cell defines double: keep the exercise's function name")
    assert got["9.3"][0] == NOT_YET and "exit code 3" in got["9.3"][1]


def test_learner_notebooks_ship_without_check_outputs():
    learner = learner_notebook(tiny_reference(), chapter="09_tiny")
    start = grader.exercises_start(learner.cells)
    assert all(not c.outputs for c in learner.cells[start:] if c.cell_type == "code")
    assert learner.metadata.course == {"learner_version": True, "chapter": "09_tiny"}


def test_class_folder_csv_and_feedback(reference_dir, tmp_path):
    submissions = tmp_path / "submitted"
    (submissions / "bob").mkdir(parents=True)
    nbformat.write(tiny_reference(), submissions / "bob" / "09_tiny.ipynb")
    nbformat.write(learner_notebook(tiny_reference()), submissions / "carol-09_tiny.ipynb")
    (submissions / "dave.ipynb").write_text("{not json")
    out = tmp_path / "grades"
    grades = grade_submissions(submissions, out, reference_dir, timeout=10, log=lambda *_: None)
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert list(rows[0]) == ["student", "chapter", "exercise", "verdict", "hint"]
    assert len(rows) == len(grades) == 9
    by_student = {s: [r["verdict"] for r in rows if r["student"] == s] for s in ("bob", "carol", "dave")}
    assert by_student == {"bob": [PASS] * 4, "carol": [NOT_YET] * 4, "dave": [NOT_YET]}
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["bob.md", "carol.md", "dave.md"]
    assert "4 of 4 exercises pass" in (out / "feedback" / "bob.md").read_text()
    assert "could not be read" in (out / "feedback" / "dave.md").read_text()


def test_student_names(tmp_path):
    chapters = ["01_transfer_learning"]
    assert student_name(tmp_path / "alice" / "anything.ipynb", tmp_path, chapters) == "alice"
    assert student_name(tmp_path / "bob_01_transfer_learning.ipynb", tmp_path, chapters) == "bob"
    single = tmp_path / "learner" / "01_transfer_learning.ipynb"
    assert student_name(single, single, chapters) == "learner"  # the folder names a lone chapter file


# ----------------------------------------------------------------------------------------------- the real chapters
def _wrong(source: str) -> str:
    """Every solution of a cell replaced by ``return None``."""
    return re.sub(r"(?s)^( *)# BEGIN SOLUTION\n.*?# END SOLUTION", r"\1return None", source, flags=re.M)


@pytest.mark.slow
def test_a_class_built_from_the_reference_chapters(tmp_path):
    """Stubs, solutions, one wrong answer at a time and tampered checks, for every chapter with exercises."""
    references = load_references(ROOT / "book")
    assert len(references) >= 6
    submissions, expected = tmp_path / "class", {}
    for chapter, ref in references.items():
        reference = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        ids = [i for e in ref.exercises for i in e.graded_ids]
        folder = submissions / "solutions"
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(reference, folder / f"{chapter}.ipynb")
        expected.update({("solutions", chapter, i): PASS for i in ids})
        tampered = learner_notebook(reference, chapter)
        for cell in tampered.cells[grader.exercises_start(tampered.cells):]:
            if cell.cell_type == "code" and ".check_" in cell.source:
                cell.source = re.sub(r"passed = \w+\.check_\w+\(\w+\)", "", cell.source)
                cell.source += "\n" + "\n".join(f'print("Exercise {i}: PASS")' for i in ids)
        (submissions / "tampered").mkdir(exist_ok=True)
        nbformat.write(tampered, submissions / "tampered" / f"{chapter}.ipynb")
        expected.update({("tampered", chapter, i): NOT_YET for i in ids})
        for exercise in ref.exercises:
            wrong = nbformat.from_dict(reference)
            for cell in wrong.cells:
                if cell.cell_type == "code" and any(re.search(rf"^def {f}\(", cell.source, re.M)
                                                    for f in exercise.functions) and "# BEGIN" in cell.source:
                    cell.source = _wrong(cell.source)
            student = f"wrong_{exercise.graded_ids[0]}"
            (submissions / student).mkdir(exist_ok=True)
            nbformat.write(wrong, submissions / student / f"{chapter}.ipynb")
            expected.update({(student, chapter, i): NOT_YET if i in exercise.graded_ids else PASS for i in ids})
    results = [ROOT / "results", ROOT / "book" / "_results"]
    before = {p: p.stat().st_mtime_ns for d in results if d.exists() for p in d.rglob("*")}
    grades = grade_submissions(submissions, tmp_path / "out", ROOT / "book", timeout=60, log=lambda *_: None)
    got = {(g.student, g.chapter, g.exercise): g.verdict for g in grades}
    assert got == expected, {k: (v, expected.get(k)) for k, v in got.items() if expected.get(k) != v}
    assert before == {p: p.stat().st_mtime_ns for d in results if d.exists() for p in d.rglob("*")}


def test_the_entry_points_are_thin():
    """The scripts only wrap the package (make_learner, grade, check_notebooks, rehearse_hub); `make grade` runs one."""
    assert "from course_lib.grader import BEGIN, STUB, learner_notebook, strip_solutions" in (
        ROOT / "scripts" / "make_learner.py").read_text()
    assert "from course_lib.notebooks import main" in (ROOT / "scripts" / "check_notebooks.py").read_text()
    assert "from course_lib.rehearsal import main" in (ROOT / "scripts" / "rehearse_hub.py").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^grade: .*\n(\t.*\n)*\t.*scripts/grade\.py", makefile, re.M)
    assert "from course_lib.grader import main" in (ROOT / "scripts" / "grade.py").read_text()


def test_make_lab_installs_lab_and_registers_the_course_kernel():
    """``make lab`` (not run here: it starts a server) installs the pinned lab packages and names the kernel."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: ", makefile, re.M) and "jupyter lab book/" in makefile
    assert "KERNEL_NAME := transfer-learning-course" in makefile
    assert re.search(r"ipykernel install --sys-prefix --name \$\(KERNEL_NAME\)", makefile)
    pins = dict(line.split("==") for line in (ROOT / "requirements-lab.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert pins["jupyterlab"].startswith("4.6.") and pins["ipywidgets"].startswith("8.1.")
    assert "jupyterlab" not in (ROOT / "requirements.txt").read_text()  # CI does not need it
    assert re.search(r"^SOURCE \?= offline$", makefile, re.M)


def test_real_learner_notebooks_have_no_check_outputs_and_name_their_chapter():
    for chapter in load_references(ROOT / "book"):
        learner = learner_notebook(nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4), chapter)
        start = grader.exercises_start(learner.cells)
        text = "".join(str(c.get("outputs", "")) for c in learner.cells[start:])
        assert "Exercise" not in text and "PASS" not in text, chapter
        assert learner.metadata.course["chapter"] == chapter
        assert not any(grader.BEGIN in c.source for c in learner.cells)
