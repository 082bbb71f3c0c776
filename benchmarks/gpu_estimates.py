"""The README's GPU table: memory and time estimates per chapter for ``PROFILE=full``, from the package's configs.

Usage: ``python benchmarks/gpu_estimates.py``, then paste what it prints into the README's section "Running the full
profile on a GPU (estimates)". Nothing is downloaded or allocated (models are built on the meta device); the
formulas and assumptions are in :mod:`course_lib.gpu_estimates`. The numbers stay estimates until a GPU run replaces
them (``benchmarks/runtimes.py`` records measured runs).
"""

from __future__ import annotations

from course_lib.gpu_estimates import markdown_table

if __name__ == "__main__":
    print(markdown_table(), end="")
