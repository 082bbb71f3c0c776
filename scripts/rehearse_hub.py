"""Rehearse the ``SOURCE=hub`` path without a network: ``python scripts/rehearse_hub.py [--out DIR] [--steps ...]
[--chapters 01,05] [--profile full --max-steps N --max-examples N]``.

``make rehearse-hub`` and ``make rehearse-full`` call this; what it builds, runs and checks, and what it cannot
rehearse, is said in :mod:`course_lib.rehearsal`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_lib.rehearsal import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
