"""Measure what the book's rankings rest on (``make claims``; not part of CI). A thin entry point over
:mod:`course_lib.experiments.claims`, whose docstring says what each step measures.

Usage::

    python scripts/claims.py baselines encoder pretrained compare   # all steps, in this order (make claims)
    python scripts/claims.py compare                                 # only rebuild comparisons.json

Every finished run is stored at once in ``book/_results/claims_runs.jsonl``: an interrupted run resumes where it
stopped. Progress lines give an estimate of the time left. It runs happily in the background
(``nohup make claims > claims.log &``), but do not execute chapters beside it on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys

STEPS = ("baselines", "encoder", "pretrained", "compare")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="+", choices=STEPS)
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_LIB_PROGRESS", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from course_lib.experiments import claims

    store = claims.RunStore(claims.RESULTS / claims.RUNS_FILE)
    for step in args.steps:
        print(f"== {step}", flush=True)
        if step == "compare":
            print("wrote", store.rewrite(), "and", claims.write_comparisons(store))
        else:
            {"baselines": claims.run_baselines, "pretrained": claims.run_pretrained,
             "encoder": claims.run_encoder}[step](store, log=lambda m: print(m, flush=True))
            claims.write_comparisons(store)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
