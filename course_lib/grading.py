"""Exercise grading that prints one stable verdict line per exercise.

Conventions (shared by every chapter; ``scripts/make_learner.py``, :mod:`course_lib.grader` (``make grade``) and
``tests/test_grading.py`` rely on them; any exercise written this way is graded, there is no list of exercises):

- The exercises live at the end of a chapter, after a markdown cell whose first line is ``## Exercises``. That
  section is self-contained: it does its own imports and never relies on variables from earlier cells, so it can
  be graded in seconds. Setup cells (imports, helpers) may sit anywhere in it; the grader runs the reference
  version of them.
- A learner writes a *function* (or a class), defined at the top level of an *answer cell*. In the reference
  notebook its body holds the solution between the lines ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the learner
  notebook has ``raise NotImplementedError`` there. The function's name identifies the exercise, so learners keep
  it, and helpers they need go in the same cell (the grader takes from a learner's answer cell only its top-level
  imports, definitions and ``name = value`` statements).
- The check calls a checker from ``course_lib.exercises.chNN`` (``passed = chNN.check_x(x)``), in the next code
  cell or at the end of the answer cell itself. The checker runs the learner's function on test cases (catching any
  exception) and prints exactly one line per exercise id through :func:`verdict`: ``Exercise N.M: PASS`` or
  ``Exercise N.M: NOT YET - hint``. The executed reference notebook stores the passing lines (they name the
  exercise ids); learner notebooks ship with the exercise section's outputs cleared.
- Cells of the section that only illustrate an answer (they call the learner's function) are not graded.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

PASS_MARK = "PASS"
FAIL_MARK = "NOT YET"


def verdict(exercise: str, ok: bool, hint: str = "") -> bool:
    """Print ``Exercise <id>: PASS`` or ``Exercise <id>: NOT YET - <hint>`` and return ``ok``."""
    if ok:
        print(f"Exercise {exercise}: {PASS_MARK}")
    else:
        print(f"Exercise {exercise}: {FAIL_MARK} - {hint}".rstrip(" -"))
    return ok


def run_check(exercise: str, check: Callable[[], tuple[bool, str]]) -> bool:
    """Run ``check() -> (ok, hint)``; an exception in the learner's code becomes a NOT YET with its message."""
    try:
        ok, hint = check()
    except NotImplementedError:
        return verdict(exercise, False, "the function still raises NotImplementedError: write your solution")
    except Exception as err:  # learner code can fail in any way; report it instead of crashing the notebook
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        return verdict(exercise, False, f"your code raised {last}")
    return verdict(exercise, bool(ok), hint)


def close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    """Numeric closeness for tensors, arrays and numbers."""
    import numpy as np

    try:
        import torch

        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        if isinstance(b, torch.Tensor):
            b = b.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))
