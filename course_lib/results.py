"""Results files: ``<RESULTS_DIR>/<chapter>.json``, one schema for every chapter, read and written only here.

A run of another profile than ``fast`` writes ``<chapter>.<profile>.json`` (:func:`results_path`), so a
``PROFILE=full`` run never overwrites the fast results next to it, and a reader asks for the profile it wants.

The summary chapter and the benchmark scripts read these files; no number is ever typed into the book by hand.
Schema (:data:`FIELDS` and :data:`RUN_FIELDS`; :func:`validate` checks it on every read and write)::

    {"chapter": "01_transfer_learning", "profile": "fast", "source": "offline", "seed": 0,
     "device": "cpu", "wall_time_s": 151.2,
     "machine": {"python": "3.11.7", ...},      # optional: where it ran
     "notebook_wall_time_s": 163.0,             # optional: the whole notebook, kernel start included
     "caps": {"max_steps": 20, "max_examples": 64},  # only in a capped rehearsal (course_lib.config.Profile)
     "runs": [{"name": "full_finetune", "task": "sentiment", "metric": "accuracy", "value": 0.87,
               "trainable_params": 81234, "total_params": 40081234}]}

A run row may carry more keys (``run.record(..., learning_rate=1e-3)``), any JSON value; a results file may not:
a top-level key outside :data:`FIELDS` is an error, so a script cannot add one that no reader knows.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from course_lib.env import machine_summary, publish

_NUMBER = (int, float)


def _count_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


#: top-level fields: name -> (required, check, what it must be)
FIELDS: dict[str, tuple[bool, Any, str]] = {
    "chapter": (True, lambda v: isinstance(v, str) and bool(v), "a non-empty string (the notebook stem)"),
    "profile": (True, lambda v: v in ("fast", "full"), "'fast' or 'full'"),
    "source": (True, lambda v: v in ("hub", "offline"), "'hub' or 'offline'"),
    "seed": (True, lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "device": (True, lambda v: isinstance(v, str) and bool(v), "a device name such as 'cpu' or 'cuda'"),
    "wall_time_s": (True, lambda v: _number(v) and v >= 0, "seconds, a number >= 0"),
    "runs": (True, lambda v: isinstance(v, list), "a list of run rows"),
    "machine": (False, lambda v: isinstance(v, dict), "a dict describing the machine"),
    "notebook_wall_time_s": (False, lambda v: _number(v) and v >= 0, "seconds, a number >= 0"),
    "caps": (False, lambda v: isinstance(v, dict) and all(_count_or_none(x) for x in v.values()),
             "a dict of rehearsal caps ({'max_steps': 20, 'max_examples': None})"),
}
#: the fields every run row has: name -> (check, what it must be)
RUN_FIELDS: dict[str, tuple[Any, str]] = {
    "name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "task": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "metric": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "value": (lambda v: _number(v) and not math.isinf(v), "a finite number (NaN marks a run that measured nothing)"),
    "trainable_params": (_count_or_none, "None or an integer >= 0"),
    "total_params": (_count_or_none, "None or an integer >= 0"),
}
REQUIRED_KEYS = tuple(k for k, (required, _, _) in FIELDS.items() if required)
REQUIRED_RUN_KEYS = tuple(RUN_FIELDS)


def validate(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` if it follows the schema, else ``ValueError`` naming the key and what it must be."""
    if not isinstance(payload, dict):
        raise ValueError(f"a results file holds a JSON object, got {type(payload).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"results file lacks keys {missing}; expected {list(REQUIRED_KEYS)}")
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise ValueError(f"results file has keys {unknown} outside the schema; the keys are {list(FIELDS)} "
                         "(add a field to course_lib.results.FIELDS, or put it in a run row)")
    for key, value in payload.items():
        _, check, what = FIELDS[key]
        if not check(value):
            raise ValueError(f"results field {key!r} must be {what}, got {value!r}")
    for i, row in enumerate(payload["runs"]):
        if not isinstance(row, dict):
            raise ValueError(f"run {i} must be a JSON object, got {row!r}")
        validate_run(row)
    return payload


def validate_run(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` if it is a valid run row (:data:`RUN_FIELDS`, extra keys holding JSON values), else ``ValueError``."""
    missing = [k for k in REQUIRED_RUN_KEYS if k not in row]
    if missing:
        raise ValueError(f"run {row.get('name')!r} lacks keys {missing}")
    for key, (check, what) in RUN_FIELDS.items():
        if not check(row[key]):
            raise ValueError(f"run {row['name']!r}: {key!r} must be {what}, got {row[key]!r}")
    try:
        json.dumps(row, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"run {row['name']!r} holds a value that is not JSON ({err})") from None
    return row


def write_results_file(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Validate ``payload`` and write it to ``path`` atomically (a reader never sees half a file)."""
    validate(payload)
    text = json.dumps(payload, indent=2) + "\n"
    path = Path(path)
    with publish(path) as staging:
        staging.write_text(text)
    return path


def read_results_file(path: str | os.PathLike) -> dict[str, Any]:
    """The validated contents of one results file."""
    path = Path(path)
    try:
        return validate(json.loads(path.read_text()))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def results_path(results_dir: str | Path, chapter: str, profile: str = "fast") -> Path:
    """Where ``chapter``'s results for ``profile`` live: ``<chapter>.json`` for the fast profile (the book's own
    runs), ``<chapter>.<profile>.json`` for any other, so that two profiles' results never overwrite each other."""
    if not isinstance(profile, str) or not profile or any(c in profile for c in "/\\."):
        raise ValueError(f"profile must be a profile name such as 'fast' or 'full', got {profile!r}")
    return Path(results_dir) / (f"{chapter}.json" if profile == "fast" else f"{chapter}.{profile}.json")


def write_results(run) -> Path:
    """Write ``run`` (a :class:`course_lib.config.Run`) to its results file (:func:`results_path`); return the path."""
    payload = {"chapter": run.chapter, "profile": run.profile.name, "source": run.source, "seed": run.seed,
               "device": run.device, "wall_time_s": round(time.perf_counter() - run.started, 1),
               "machine": machine_summary(), "runs": run.runs}
    if getattr(run.profile, "capped", False):  # a rehearsal's numbers must never pass for the profile's results
        payload["caps"] = {"max_steps": run.profile.max_steps, "max_examples": run.profile.max_examples}
    return write_results_file(results_path(run.results_dir, run.chapter, run.profile.name), payload)


def read_results(chapter: str, results_dir: str | Path, profile: str = "fast") -> dict[str, Any]:
    """Load one chapter's results for ``profile``; the error says which chapter to run when the file is missing."""
    path = results_path(results_dir, chapter, profile)
    if not path.exists():
        raise FileNotFoundError(
            f"No {profile}-profile results for chapter {chapter!r} in {Path(results_dir).resolve()}: run "
            f"book/{chapter}.ipynb first (e.g. `make chapter NB={chapter} PROFILE={profile}`), with the same PROFILE "
            "and SOURCE.")
    payload = read_results_file(path)
    if payload["profile"] != profile:
        raise ValueError(f"{path} holds a {payload['profile']!r} run, not a {profile!r} one: it was written by "
                         "hand or renamed; re-run the chapter")
    return payload
