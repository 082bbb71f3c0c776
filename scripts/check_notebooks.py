"""Fail when a committed chapter notebook has an error output or disagrees with its jupytext .md source.

``jupyter-book build`` exits 0 even when a stored cell output is an error, so the book build runs this first. The
checks live in :mod:`course_lib.notebooks`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_lib.notebooks import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
