"""Exercise grading that prints one stable verdict line per exercise.

Conventions (shared by every chapter; ``scripts/make_learner.py`` and ``tests/test_grading.py`` rely on them):

- The exercises live at the end of a chapter, after a markdown cell whose first line is ``## Exercises``. That
  section is self-contained: it does its own imports and never relies on variables from earlier cells, so it can
  be graded in seconds.
- A learner writes a *function*. In the reference notebook its body holds the solution between the lines
  ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the learner notebook has ``raise NotImplementedError`` there.
- The next cell calls a checker from ``course_lib.exercises.chNN``, which runs the learner's function on test
  cases (catching any exception) and prints exactly one line through :func:`verdict`. The reference notebook
  stores the passing lines, so ``pytest --nbval`` on a learner notebook passes exactly when every answer is right.
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
