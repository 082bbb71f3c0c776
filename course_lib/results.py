"""Results files: ``<RESULTS_DIR>/<chapter>.json``, one schema for every chapter.

The summary chapter and the benchmark scripts read these files; no number is ever typed into the book by hand.
Schema::

    {"chapter": "01_transfer_learning", "profile": "fast", "source": "offline", "seed": 0,
     "device": "cpu", "wall_time_s": 151.2,
     "runs": [{"name": "full_finetune", "task": "sentiment", "metric": "accuracy", "value": 0.87,
               "trainable_params": 81234, "total_params": 40081234}]}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from course_lib.env import machine_summary

REQUIRED_KEYS = ("chapter", "profile", "source", "seed", "device", "wall_time_s", "runs")
REQUIRED_RUN_KEYS = ("name", "task", "metric", "value", "trainable_params", "total_params")


def write_results(run) -> Path:
    """Write ``run`` (a :class:`course_lib.config.Run`) to its results file and return the path."""
    run.results_dir.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": run.chapter, "profile": run.profile.name, "source": run.source, "seed": run.seed,
               "device": run.device, "wall_time_s": round(time.perf_counter() - run.started, 1),
               "machine": machine_summary(), "runs": run.runs}
    validate(payload)
    path = run.results_dir / f"{run.chapter}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def validate(payload: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the missing key if ``payload`` does not follow the schema."""
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"results file lacks keys {missing}; expected {list(REQUIRED_KEYS)}")
    for row in payload["runs"]:
        missing = [k for k in REQUIRED_RUN_KEYS if k not in row]
        if missing:
            raise ValueError(f"run {row.get('name')!r} lacks keys {missing}")
    return payload


def read_results(chapter: str, results_dir: str | Path) -> dict[str, Any]:
    """Load one chapter's results; the error says which chapter to run when the file is missing."""
    path = Path(results_dir) / f"{chapter}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No results for chapter {chapter!r} in {Path(results_dir).resolve()}: run book/{chapter}.ipynb "
            f"first (e.g. `make chapter NB={chapter}`), with the same PROFILE and SOURCE.")
    return validate(json.loads(path.read_text()))
