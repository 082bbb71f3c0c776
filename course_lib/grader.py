"""Grade learners' notebooks against the course's reference exercise sections: ``make grade SUBMISSIONS=path``.

What is graded is only each learner's *answer code*; everything else comes from the reference notebook in
``book/`` (see :mod:`course_lib.grading` for the exercise convention):

1. The reference chapter's ``## Exercises`` section is cut into steps. A code cell holding ``# BEGIN SOLUTION``
   is an *answer cell*; the top-level functions (or classes) whose body holds the marker are its *answer
   functions*, and they name the exercise. Statements that call a checker (``chNN.check_...(...)``, anything
   imported from ``course_lib.exercises``) are its *check*, together with the code cells after it that call a
   checker. Other cells are *setup* (imports) and run as they are, unless they use an answer function: those only
   illustrate (e.g. print an answer's numbers) and are skipped. The exercise ids come from the verdict lines the
   executed reference notebook stores (``Exercise 1.1: PASS``), else from the checker's source.
2. From the learner's notebook the grader takes, for each exercise, the last code cell anywhere in the notebook
   that defines its answer function(s) (helpers belong in that same cell) and keeps only its top-level
   ``import``, ``def``, ``class`` and plain ``name = ...`` statements that call no checker. A learner's check cell,
   a ``print("Exercise 1.1: PASS")`` or any other statement of theirs is never run.
3. In a fresh Python process (an IPython shell, no Jupyter kernel; no chapter experiment runs), for each exercise:
   the reference answer cell with its solutions replaced by stubs and its check removed (its imports and helpers),
   then the learner's code, then the reference check, within ``timeout`` seconds for the learner's code and the
   check together. The verdict is the last ``Exercise <id>: ...`` line the reference check printed for that id.
   An answer that runs too long is stopped (the process is killed and a new one replays the reference setup and the
   learner's earlier answers), an answer cell that raises or does not parse is NOT YET with the error as its hint;
   in every case the other exercises are still graded.

The grader writes ``grades.csv`` (student, chapter, exercise, verdict, hint) and ``feedback/<student>.md`` in its
output folder and nothing else: the process runs in a temporary directory with ``COURSE_LIB_RESULTS_DIR`` pointing
there, so no ``results/*.json`` or ``book/_results`` file is touched. It runs the learners' code as the user who
starts it: grade a class in an account or container that holds nothing the learners should not read.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: write your solution here")'
EXERCISES_HEADING = "## Exercises"
# an exercise's number in its statement: a sphinx-exercise block (`:::{exercise} 4.1 ...`) or a bold `**4.1**`
EXERCISE_NUMBER = re.compile(r"\{exercise\}\s+(\d+(?:\.\d+)+)|\*\*(\d+(?:\.\d+)+)")
VERDICT_LINE = re.compile(r"^Exercise (\S+): (PASS|NOT YET)(?: - (.*))?$", re.M)
PASS, NOT_YET = "PASS", "NOT YET"
DEFAULT_TIMEOUT = 30.0  # seconds for one learner answer and its check
SETUP_TIMEOUT = 180.0  # seconds for reference code (first imports of torch and transformers included)
CSV_COLUMNS = ("student", "chapter", "exercise", "verdict", "hint")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder that holds course_lib/
REFERENCE_DIR = _PACKAGE_ROOT / "book"


# --------------------------------------------------------------------------------------------------- learner stubs
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


def exercises_start(cells: Sequence) -> int | None:
    """Index of the markdown cell that opens the ``## Exercises`` section, or None."""
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "markdown" and cell.get("source", "").lstrip().startswith(EXERCISES_HEADING):
            return i
    return None


def learner_notebook(nb, chapter: str | None = None):
    """A copy of ``nb`` for learners: solutions stubbed, the exercise section's outputs cleared.

    The check cells' stored ``PASS`` lines would tell a learner nothing true about their own answers, so every code
    cell from the ``## Exercises`` heading on loses its outputs. Raises if the chapter has no solution block.
    """
    import nbformat

    nb = nbformat.from_dict(nb)
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.source, n = strip_solutions(cell.source)
            total += n
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
    if total == 0:
        raise ValueError("notebook has no '# BEGIN SOLUTION' block")
    start = exercises_start(nb.cells)
    for cell in nb.cells[start:] if start is not None else []:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    course = nb.metadata.setdefault("course", {})
    course["learner_version"] = True
    if chapter:
        course["chapter"] = chapter
    return nb


# ------------------------------------------------------------------------------------------------ source analysis
def _python_source(source: str) -> str:
    """Cell source as plain Python (IPython magics become ``get_ipython()`` calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return source
    return TransformerManager().transform_cell(source)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


@dataclass
class _Checkers:
    """Names bound to ``course_lib.exercises`` modules and checker functions in a section."""

    modules: dict[str, str] = field(default_factory=dict)  # alias -> module name
    functions: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias -> (module, function)

    def learn(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if node.module == "course_lib.exercises":
                        self.modules[alias.asname or alias.name] = full
                    elif node.module.startswith("course_lib.exercises."):
                        self.functions[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("course_lib.exercises.") and alias.asname:
                        self.modules[alias.asname] = alias.name

    def checker_of(self, call: ast.Call) -> tuple[str, str] | None:
        """``(module, function)`` when ``call`` calls a checker; ``("", name)`` for an unknown ``check_*``."""
        name = _dotted(call.func)
        if not name:
            return None
        head, _, rest = name.partition(".")
        if name in self.functions:
            return self.functions[name]
        if head in self.modules and rest and "." not in rest:
            return self.modules[head], rest
        if name.startswith("course_lib.exercises."):
            module, _, function = name.rpartition(".")
            return module, function
        if name.rpartition(".")[2].startswith("check_"):
            return "", name.rpartition(".")[2]
        return None

    def calls_in(self, node: ast.AST) -> list[tuple[str, str]]:
        return [c for n in ast.walk(node) if isinstance(n, ast.Call) for c in [self.checker_of(n)] if c]


def _stmt_lines(stmt: ast.stmt) -> tuple[int, int]:
    """1-based first and last line of a statement, decorators included."""
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return first, stmt.end_lineno or stmt.lineno


def _without(source: str, tree: ast.Module, dropped: Sequence[ast.stmt]) -> str:
    """``source`` less the lines of the ``dropped`` top-level statements (comments and blank lines stay).

    A line shared with a dropped statement (``a = 1; print(...)``) goes too; should that leave code that does not
    parse, the kept statements are unparsed from the tree instead.
    """
    if not dropped:
        return source
    lines = source.splitlines()
    gone = {i for stmt in dropped for i in range(_stmt_lines(stmt)[0] - 1, _stmt_lines(stmt)[1])}
    text = "\n".join(line for i, line in enumerate(lines) if i not in gone)
    try:
        ast.parse(text)
        return text
    except SyntaxError:
        return "\n\n".join(ast.unparse(s) for s in tree.body if s not in dropped)


def _marker_lines(source: str) -> list[int]:
    return [i + 1 for i, line in enumerate(source.splitlines()) if line.strip() == BEGIN]


def _defined_names(tree: ast.Module) -> list[str]:
    return [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _stored_ids(cell) -> list[str]:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return [m.group(1) for m in VERDICT_LINE.finditer(text)]


def _checker_ids(module: str, function: str) -> list[str]:
    """Exercise ids a checker passes to ``run_check``/``verdict``, read from its source without importing it."""
    try:
        spec = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return []
    tree = ast.parse(Path(spec.origin).read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return [n.args[0].value for n in ast.walk(node) if isinstance(n, ast.Call)
                    and _dotted(n.func).rpartition(".")[2] in ("run_check", "verdict") and n.args
                    and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)]
    return []


# ------------------------------------------------------------------------------------------------------ reference
@dataclass
class Exercise:
    """One graded unit: answer functions, the reference code around them, and the reference check."""

    functions: list[str]
    setup: str  # the reference answer cell, solutions stubbed and checks removed
    check: list[str] = field(default_factory=list)  # reference check code, in order
    ids: list[str] = field(default_factory=list)  # exercise ids the check prints
    fallback_id: str = ""

    @property
    def graded_ids(self) -> list[str]:
        return self.ids or [self.fallback_id or self.functions[0]]


@dataclass
class Reference:
    """A chapter's exercise section, cut into setup code (str) and exercises, in notebook order."""

    chapter: str
    steps: list[str | Exercise]

    @property
    def exercises(self) -> list[Exercise]:
        return [s for s in self.steps if isinstance(s, Exercise)]

    @property
    def functions(self) -> set[str]:
        return {f for e in self.exercises for f in e.functions}


def read_notebook(path: Path):
    """An ``.ipynb`` with nbformat, or a jupytext ``.md`` chapter."""
    import nbformat

    if path.suffix == ".md":
        import jupytext

        return jupytext.read(path)
    return nbformat.read(path, as_version=4)


def load_reference(path: Path, chapter: str | None = None) -> Reference:
    """Cut the ``## Exercises`` section of a reference chapter into steps (see the module docstring)."""
    nb = read_notebook(Path(path))
    chapter = chapter or Path(path).stem
    start = exercises_start(nb.cells)
    if start is None:
        raise ValueError(f"{path}: no markdown cell starting with {EXERCISES_HEADING!r}")
    params = [c.source for c in nb.cells[:start]
              if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    steps: list[str | Exercise] = list(params)
    checkers = _Checkers()
    cells = [(c, _python_source(c.source)) for c in nb.cells[start:] if c.cell_type == "code"]
    for _, source in cells:
        try:
            checkers.learn(ast.parse(source))
        except SyntaxError as err:
            raise ValueError(f"{path}: a cell of the exercises does not parse: {err}") from err
    last_markdown, markdown_by_cell = "", {}
    for c in nb.cells[start:]:
        if c.cell_type == "markdown" and EXERCISE_NUMBER.search(c.source):  # not a solution's gate cell
            last_markdown = c.source
        markdown_by_cell[id(c)] = last_markdown
    answer_functions: set[str] = set()
    current: Exercise | None = None
    for cell, source in cells:
        tree = ast.parse(source)
        markers = _marker_lines(source)
        if markers:
            functions = [s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                      ast.ClassDef))
                         and any(_stmt_lines(s)[0] <= m <= _stmt_lines(s)[1] for m in markers)]
            if not functions:
                raise ValueError(f"{path}: a '{BEGIN}' block outside a top-level function: {source[:80]!r}")
            checks = [s for s in tree.body if s.__class__ not in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                      and checkers.calls_in(s)]
            setup, _ = strip_solutions(_without(source, tree, checks))
            named = EXERCISE_NUMBER.search(markdown_by_cell[id(cell)])
            current = Exercise(functions=functions, setup=setup,
                               fallback_id=next(g for g in named.groups() if g) if named else "")
            if checks:
                current.check.append("\n".join(ast.get_source_segment(source, s) or ast.unparse(s) for s in checks))
                current.ids += _stored_ids(cell) or [i for s in checks for m, f in checkers.calls_in(s)
                                                     for i in _checker_ids(m, f)]
            answer_functions.update(functions)
            steps.append(current)
        elif current is not None and checkers.calls_in(tree):
            current.check.append(source)
            current.ids += _stored_ids(cell) or [i for m, f in checkers.calls_in(tree) for i in _checker_ids(m, f)]
        elif {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & answer_functions:
            continue  # illustrates an answer (runs it again): not graded, not needed to grade
        else:
            steps.append(source)
    if not any(isinstance(s, Exercise) for s in steps):
        raise ValueError(f"{path}: no '{BEGIN}' block after {EXERCISES_HEADING!r}")
    for exercise in (s for s in steps if isinstance(s, Exercise)):
        exercise.ids = list(dict.fromkeys(exercise.ids))
    return Reference(chapter=chapter, steps=steps)


def load_references(reference_dir: Path = REFERENCE_DIR) -> dict[str, Reference]:
    """Every chapter of ``reference_dir`` with exercises, by chapter name (``01_transfer_learning``).

    The executed ``.ipynb`` is preferred (its stored verdict lines name the exercises); a chapter present only as
    a jupytext ``.md`` is read from that.
    """
    refs: dict[str, Reference] = {}
    paths = {p.stem: p for p in sorted(Path(reference_dir).glob("[0-9][0-9]_*.md"))}
    paths.update({p.stem: p for p in sorted(Path(reference_dir).glob("[0-9][0-9]_*.ipynb"))})
    for stem, path in sorted(paths.items()):
        nb = read_notebook(path)
        if exercises_start(nb.cells) is None or not any(c.cell_type == "code" and BEGIN in c.source
                                                         for c in nb.cells):
            continue
        refs[stem] = load_reference(path, stem)
    return refs


# ------------------------------------------------------------------------------------------------------- learner
@dataclass
class Answer:
    """The learner's code for one answer cell, or why there is none."""

    code: str = ""
    error: str = ""


_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _kept(stmt: ast.stmt, checkers: _Checkers) -> bool:
    if checkers.calls_in(stmt):
        return False
    if isinstance(stmt, _KEPT):
        return True
    if isinstance(stmt, ast.Assign):
        return all(isinstance(t, ast.Name) for t in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name)
    return False


def learner_answers(nb, functions: set[str]) -> dict[str, Answer]:
    """For each answer function name, the learner's code from the last cell that defines it (see module doc)."""
    checkers = _Checkers()
    parsed = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = _python_source(cell.get("source", ""))
        try:
            tree = ast.parse(source)
        except SyntaxError as err:
            parsed.append((source, None, err))
            continue
        checkers.learn(tree)
        parsed.append((source, tree, None))
    found: dict[str, Answer] = {}
    for source, tree, err in parsed:
        if err is not None:
            for name in functions:
                if re.search(rf"^\s*(async\s+)?(def|class)\s+{re.escape(name)}\b", source, re.M):
                    found[name] = Answer(error=f"your cell defining {name} does not parse: line {err.lineno}: "
                                               f"{err.msg}")
            continue
        names = set(_defined_names(tree)) & functions
        if names:
            code = _without(source, tree, [s for s in tree.body if not _kept(s, checkers)])
            for name in names:
                found[name] = Answer(code=code)
    return found


def which_chapter(nb, path: Path, references: dict[str, Reference]) -> str | None:
    """The chapter a learner's notebook belongs to: its metadata, else its file name, else its functions."""
    chapter = nb.get("metadata", {}).get("course", {}).get("chapter")
    if chapter in references:
        return chapter
    for name in sorted(references, key=len, reverse=True):
        if name in path.name:
            return name
    defined: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            defined.update(re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", cell.get("source", ""), re.M))
    overlap = {name: len(ref.functions & defined) for name, ref in references.items()}
    best = max(overlap, key=overlap.get, default=None)
    return best if best is not None and overlap[best] > 0 else None


# -------------------------------------------------------------------------------------------------------- worker
@dataclass
class CellResult:
    stdout: str = ""
    error: str = ""  # "ExceptionType: message" when the code raised
    timed_out: bool = False
    died: str = ""  # why the process ended, when it did


def _describe(err: BaseException | None) -> str:
    if err is None:
        return ""
    message = str(err).strip().splitlines()
    return f"{type(err).__name__}: {message[0]}" if message else type(err).__name__


def _worker_main() -> None:  # pragma: no cover - runs in the child process
    """Run cells sent as JSON lines on stdin in one IPython shell; answer each with a JSON line."""
    import contextlib
    import io

    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # input() in learner code reads nothing instead of the requests
    os.dup2(2, 1)  # stray writes to the stdout file descriptor cannot corrupt the replies
    sys.stdin = open(os.devnull)
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    for line in requests:
        request = json.loads(line)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = shell.run_cell(request["code"], store_history=False)
        error = result.error_before_exec or result.error_in_exec
        replies.write(json.dumps({"stdout": out.getvalue()[-200_000:], "error": _describe(error)}) + "\n")


class Worker:
    """A child Python process that runs cells with a time limit; killed (with its children) when one overruns."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen | None = None
        self._buffer = b""

    def start(self) -> None:
        self._stderr = tempfile.TemporaryFile(dir=self.cwd)
        command = [sys.executable, "-c", "from course_lib.grader import _worker_main; _worker_main()"]
        self.proc = subprocess.Popen(command,
                                     cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, start_new_session=True)
        self._buffer = b""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()
        self._stderr.close()
        self.proc = None

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def run(self, code: str, limit: float) -> CellResult:
        if self.proc is None:
            self.start()
        assert self.proc is not None
        try:
            self.proc.stdin.write((json.dumps({"code": code}) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        deadline = time.monotonic() + limit
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                return CellResult(timed_out=True)
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code_ = self.proc.wait()
                    tail = self._stderr_tail()
                    self.stop()
                    return CellResult(died=f"the Python process ended (exit code {code_})" + (f": {tail}" if tail
                                                                                                else ""))
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply = json.loads(line)
        return CellResult(stdout=reply["stdout"], error=reply["error"])


def worker_env(results_dir: Path) -> dict[str, str]:
    """The environment learner code runs in: offline, no progress bars, no display, results written aside."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update({"HF_HUB_OFFLINE": "1", "COURSE_LIB_PROGRESS": "0", "MPLBACKEND": "Agg",
                "TOKENIZERS_PARALLELISM": "false", "PYTHONDONTWRITEBYTECODE": "1",
                "COURSE_LIB_RESULTS_DIR": str(results_dir), "IPYTHONDIR": str(results_dir.parent / "ipython")})
    env.setdefault("OMP_NUM_THREADS", "1")  # a check is tiny; one thread leaves the other cores to other jobs
    return env


# ------------------------------------------------------------------------------------------------------- grading
@dataclass
class Grade:
    student: str
    chapter: str
    exercise: str
    verdict: str
    hint: str = ""
    notebook: str = ""


def _hint_for(result: CellResult, timeout: float, what: str) -> str:
    if result.timed_out:
        return f"stopped after {timeout:g} s: {what} ran too long (an endless loop?)"
    if result.died:
        return f"{what} stopped Python: {result.died}"
    return f"{what} raised {result.error}"


def grade_notebook(path: Path, reference: Reference, student: str = "", timeout: float = DEFAULT_TIMEOUT,
                   setup_timeout: float = SETUP_TIMEOUT, nb=None) -> list[Grade]:
    """Grade one learner notebook against ``reference``: one :class:`Grade` per exercise id."""
    path = Path(path)
    nb = nb if nb is not None else read_notebook(path)
    answers = learner_answers(nb, reference.functions)
    grades: list[Grade] = []

    def add(exercise: Exercise, verdicts: dict[str, tuple[str, str]], hint: str = "") -> None:
        for ex_id in exercise.graded_ids:
            verdict, ex_hint = verdicts.get(ex_id, (NOT_YET, hint or "the check printed no verdict"))
            grades.append(Grade(student, reference.chapter, ex_id, verdict, ex_hint, str(path)))

    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        worker = Worker(Path(tmp), worker_env(Path(tmp) / "results"))
        replay: list[str] = []  # reference setup and learner answers that ran, to rebuild a killed process
        broken = ""  # the reference setup itself failed: nothing after it can be graded fairly

        def setup(code: str) -> bool:
            nonlocal broken
            if worker.proc is None and replay:
                for earlier in replay:
                    worker.run(earlier, setup_timeout)
            result = worker.run(code, setup_timeout)
            if result.error or result.timed_out or result.died:
                broken = _hint_for(result, setup_timeout, "the reference setup")
                return False
            replay.append(code)
            return True

        try:
            for step in reference.steps:
                if isinstance(step, str):
                    setup(step)
                    continue
                exercise = step
                if broken or not setup(exercise.setup):
                    add(exercise, {}, f"not graded: {broken}")
                    continue
                names = [answers.get(f) for f in exercise.functions]
                missing = [f for f, a in zip(exercise.functions, names) if a is None]
                errors = [a.error for a in names if a is not None and a.error]
                if missing:
                    add(exercise, {}, f"no code cell defines {', '.join(missing)}: keep the exercise's function name")
                    continue
                if errors:
                    add(exercise, {}, errors[0])
                    continue
                code = "\n\n".join(dict.fromkeys(a.code for a in names if a is not None))
                started = time.monotonic()
                result = worker.run(code, timeout)
                if result.error or result.timed_out or result.died:
                    add(exercise, {}, _hint_for(result, timeout, "your answer cell"))
                    continue
                replay.append(code)
                output = ""
                for check in exercise.check:
                    left = timeout - (time.monotonic() - started)
                    result = worker.run(check, max(left, 0.01))
                    output += result.stdout
                    if result.error or result.timed_out or result.died:
                        break
                verdicts = {m.group(1): (m.group(2), (m.group(3) or "").strip())
                            for m in VERDICT_LINE.finditer(output)}  # the last line for an id wins
                failure = "" if not (result.error or result.timed_out or result.died) else \
                    _hint_for(result, timeout, "your answer (or its check)")
                add(exercise, verdicts, failure)
        finally:
            worker.stop()
    return grades


# ---------------------------------------------------------------------------------------------------- a class
def find_submissions(submissions: Path) -> list[Path]:
    """Every ``.ipynb`` under ``submissions`` (or the file itself), checkpoints skipped."""
    submissions = Path(submissions)
    if submissions.is_file():
        return [submissions]
    if not submissions.is_dir():
        raise FileNotFoundError(f"no notebook or folder at {submissions}")
    return sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def student_name(path: Path, submissions: Path, chapters: Iterable[str]) -> str:
    """``class/alice/01_x.ipynb`` -> ``alice``; ``class/alice_01_x.ipynb`` -> ``alice``; else the folder's name."""
    submissions = Path(submissions)
    if submissions.is_dir():
        rel = path.relative_to(submissions)
        if len(rel.parts) > 1:
            return rel.parts[0]
    stem = path.stem
    for chapter in sorted(chapters, key=len, reverse=True):
        stem = stem.replace(chapter, "")
    stem = stem.strip(" _-.")
    return stem or path.resolve().parent.name


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "student"


def write_reports(grades: Sequence[Grade], out: Path) -> tuple[Path, list[Path]]:
    """``out/grades.csv`` and one ``out/feedback/<student>.md`` per student."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    table = out / "grades.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for g in grades:
            writer.writerow([g.student, g.chapter, g.exercise, g.verdict, g.hint])
    feedback = []
    for student in dict.fromkeys(g.student for g in grades):
        mine = [g for g in grades if g.student == student]
        passed = sum(g.verdict == PASS for g in mine)
        lines = [f"# Exercise feedback: {student}", "",
                 f"{passed} of {len(mine)} exercises pass.", ""]
        for notebook in dict.fromkeys(g.notebook for g in mine):
            rows = [g for g in mine if g.notebook == notebook]
            lines += [f"## {rows[0].chapter}", "", f"Notebook: `{Path(notebook).name}`", "",
                      "| exercise | verdict | what to look at |", "|---|---|---|"]
            lines += [f"| {g.exercise} | {g.verdict} | {g.hint.replace('|', '/') if g.verdict != PASS else ''} |"
                      for g in rows]
            lines.append("")
        if passed < len(mine):
            lines.append("Each hint is what the exercise's check printed for your answer: fix that function, "
                         "rerun its cell and the check cell below it.")
        path = out / "feedback" / f"{_safe(student)}.md"
        path.write_text("\n".join(lines).rstrip() + "\n")
        feedback.append(path)
    return table, feedback


def grade_submissions(submissions: Path, out: Path | None = None, reference_dir: Path = REFERENCE_DIR,
                      timeout: float = DEFAULT_TIMEOUT, log=print) -> list[Grade]:
    """Grade a notebook or a folder of them; write the CSV and the feedback files when ``out`` is given."""
    references = load_references(reference_dir)
    if not references:
        raise ValueError(f"no reference chapter with exercises in {reference_dir}")
    grades: list[Grade] = []
    for path in find_submissions(submissions):
        student = student_name(path, submissions, references)
        started = time.monotonic()
        try:
            nb = read_notebook(path)
        except Exception as err:  # a broken upload must not stop the class's grading
            grades.append(Grade(student, "?", "-", NOT_YET, f"the notebook could not be read: {_describe(err)}",
                                str(path)))
            log(f"{path}: unreadable ({_describe(err)})")
            continue
        chapter = which_chapter(nb, path, references)
        if chapter is None:
            grades.append(Grade(student, "?", "-", NOT_YET, "no exercise of any chapter found in this notebook",
                                str(path)))
            log(f"{path}: no chapter's exercises found")
            continue
        mine = grade_notebook(path, references[chapter], student, timeout=timeout, nb=nb)
        grades += mine
        passed = sum(g.verdict == PASS for g in mine)
        log(f"{student:>16}  {chapter:<28} {passed}/{len(mine)} PASS  ({time.monotonic() - started:.1f} s)")
    if out is not None:
        table, feedback = write_reports(grades, out)
        log(f"wrote {table} and {len(feedback)} feedback file(s) in {Path(out) / 'feedback'}")
    return grades


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade learners' exercise answers against the reference checks.")
    parser.add_argument("submissions", type=Path, help="a learner notebook, or a folder of them (searched deeply)")
    parser.add_argument("--out", type=Path, default=Path("_build/grades"), help="where grades.csv and feedback/ go")
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="folder of the reference chapters")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds for one answer and its check (default %(default)s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless every exercise passes")
    args = parser.parse_args(argv)
    grades = grade_submissions(args.submissions, args.out, args.reference, args.timeout)
    return 1 if args.strict and any(g.verdict != PASS for g in grades) else 0


if __name__ == "__main__":
    sys.exit(main())
