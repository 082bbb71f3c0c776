"""Chapter 4: adapters on chapter 1's news-pretrained encoder, compared with chapter 1's strategies.

The adapter layer is :mod:`course_lib.nn.adapters`; the data, sizes and the strategies' training are chapter 1's
(:mod:`course_lib.experiments.encoder_transfer`), so that both chapters start from the same encoder. What chapter 4
adds is reading chapter 1's results for the same run, to compare with them.
"""

from __future__ import annotations

from pathlib import Path

from course_lib.env import REPO_ROOT
from course_lib.experiments.encoder_transfer import config_for  # noqa: F401  (chapter 4 runs with chapter 1's settings)
from course_lib.results import read_results, results_path


def chapter1_results(run) -> dict:
    """Chapter 1's results for the same profile, source and seed as ``run`` (chapter 4 compares itself with them).

    Looked up under the profile's file name (:func:`course_lib.results.results_path`) in ``run.results_dir``, then
    in the committed ``book/_results`` and in ``results/``. Missing everywhere:
    :func:`course_lib.results.read_results`'s error (run chapter 1 first). Present but from another source or seed:
    a ``ValueError`` that says which run was found.
    """
    chapter = "01_transfer_learning"
    candidates = []
    for d in (Path(run.results_dir), REPO_ROOT / "book" / "_results", REPO_ROOT / "results"):
        if (d.resolve() not in [c.resolve() for c in candidates]
                and results_path(d, chapter, run.profile.name).exists()):
            candidates.append(d)
    if not candidates:
        read_results(chapter, run.results_dir, run.profile.name)  # raises FileNotFoundError naming what to run
    wanted = (run.profile.name, run.source, run.seed)
    found = []
    for d in candidates:
        results = read_results(chapter, d, run.profile.name)
        got = (results["profile"], results["source"], results["seed"])
        if got == wanted:
            return results
        found.append(f"{d}: PROFILE={got[0]} SOURCE={got[1]} SEED={got[2]}")
    raise ValueError(f"chapter 1's results come from another run ({'; '.join(found)}), this one is "
                     f"PROFILE={wanted[0]} SOURCE={wanted[1]} SEED={wanted[2]}: run chapter 1 with the same "
                     "parameters first")
