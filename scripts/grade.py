"""Grade learner notebooks: ``python scripts/grade.py SUBMISSIONS [--out DIR] [--timeout S] [--strict]``.

SUBMISSIONS is one notebook or a folder of them (``class/<student>/<chapter>.ipynb`` or
``class/<student>_<chapter>.ipynb``). Writes ``DIR/grades.csv`` and ``DIR/feedback/<student>.md``; see
:mod:`course_lib.grader` for what is run and how. ``make grade SUBMISSIONS=...`` calls this.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_lib.grader import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
