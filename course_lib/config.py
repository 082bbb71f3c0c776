"""PROFILE / SOURCE / SEED: the two switches every chapter takes, and the chapter ``Run`` context.

A chapter's single papermill ``parameters`` cell sets ``PROFILE``, ``SOURCE`` and ``SEED`` and passes them to
:func:`start_chapter`. Everything that depends on them (dataset sizes, epochs, checkpoints) is read from the
returned :class:`Run`, so chapters contain no scattered ``if FAST:`` branches.

- ``PROFILE``: ``fast`` is a CPU subset that runs in minutes on a laptop; ``full`` is the source notebooks' scale
  (full datasets, real checkpoints, many epochs) meant for a GPU.
- ``SOURCE``: ``hub`` uses the Hugging Face Hub and official archives; ``offline`` uses no network at all;
  ``auto`` picks ``hub`` when the hub answers within three seconds and ``HF_HUB_OFFLINE`` is unset, else
  ``offline``; ``hub`` without a network fails within seconds, naming ``SOURCE=offline``.

Caps for rehearsals (``make rehearse-full``): ``COURSE_LIB_MAX_STEPS`` and ``COURSE_LIB_MAX_EXAMPLES`` (positive
integers, unset = no cap) are read by :class:`Profile` when it is made. A chapter's ``config_for`` passes its config
through :meth:`Profile.capped_config` (step counts through :meth:`Profile.cap_steps`, dataset sizes through
:meth:`Profile.cap_examples`), so a
``PROFILE=full`` run can prove its code path in minutes; the chapter banner then says that the run was capped
(:meth:`Profile.caps_note`), so capped numbers are never mistaken for the full run's.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from course_lib.env import (
    REPO_ROOT,
    default_device,
    hub_status,
    int_limit,
    pin_one_gpu,
    seed_everything,
    set_offline_env,
    show_progress,
)
from course_lib.results import validate_run, write_results

PROFILES = ("fast", "full")
MAX_STEPS_ENV = "COURSE_LIB_MAX_STEPS"  # caps every training loop's optimizer steps (a rehearsal)
MAX_EXAMPLES_ENV = "COURSE_LIB_MAX_EXAMPLES"  # caps every dataset split's examples (a rehearsal)
SOURCES = ("auto", "hub", "offline")

T = TypeVar("T")


#: how many examples an evaluation pass scores at once (no gradients are kept, so it can be larger than training's)
EVAL_BATCH_SIZE = 256


def _choose(kind: str, value: str, valid: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in valid:
        raise ValueError(f"Unknown {kind} {value!r}; choose one of: {', '.join(valid)}")
    return value.strip().lower()


def check_source(source: str) -> str:
    """``source`` if it is a resolved source (``hub`` or ``offline``), else ``ValueError`` naming both.

    Every loader takes a resolved source (``Run.source``); ``auto`` is resolved once, by :func:`start_chapter`.
    """
    if source not in ("hub", "offline"):
        raise ValueError(f"Unknown source {source!r}; choose one of: hub, offline")
    return source


def positive_int(name: str, value, *, none: str | None = None) -> int | None:
    """``value`` if it is a positive integer (or ``None`` where ``none`` says what ``None`` means), else a
    ``ValueError`` naming ``name`` and the valid values. The one check for counts that enter the package (sizes,
    caps, label counts, epochs): ``True``, ``2.5`` and ``"3"`` are refused, not rounded or cast.
    """
    if none is not None and value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    valid = f"None ({none}) or a positive integer (1, 2, ...)" if none is not None else "a positive integer (1, 2, ...)"
    raise ValueError(f"{name} must be {valid}, got {value!r}")


@dataclass(frozen=True)
class Profile:
    """A validated profile name, and the rehearsal caps. Chapter modules turn it into their own sized config with
    :meth:`pick`, passing step counts through :meth:`cap_steps` and sizes through :meth:`cap_examples`.

    ``max_steps`` / ``max_examples`` default to ``$COURSE_LIB_MAX_STEPS`` / ``$COURSE_LIB_MAX_EXAMPLES`` (unset: no
    cap); each is ``None`` or a positive integer.
    """

    name: str
    max_steps: int | None = field(default_factory=lambda: int_limit(MAX_STEPS_ENV))
    max_examples: int | None = field(default_factory=lambda: int_limit(MAX_EXAMPLES_ENV))

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _choose("PROFILE", self.name, PROFILES))
        positive_int("max_steps", self.max_steps, none="no cap")
        positive_int("max_examples", self.max_examples, none="no cap")

    @property
    def is_full(self) -> bool:
        return self.name == "full"

    @property
    def capped(self) -> bool:
        return self.max_steps is not None or self.max_examples is not None

    def pick(self, *, fast: T, full: T) -> T:
        """Return ``fast`` or ``full`` for this profile (``profile.pick(fast=2, full=100)``)."""
        return full if self.is_full else fast

    def cap_steps(self, steps: int | None) -> int | None:
        """``steps`` (optimizer steps, or epochs where a loop counts those) cut to :attr:`max_steps`; ``None``
        (no limit of its own) becomes the cap itself."""
        return _cap(steps, self.max_steps)

    def cap_examples(self, examples: int | None) -> int | None:
        """``examples`` (a split size; ``None`` = all) cut to :attr:`max_examples`."""
        return _cap(examples, self.max_examples)

    def capped_config(self, cfg: T, *, steps: tuple[str, ...] = (), examples: tuple[str, ...] = ()) -> T:
        """The config dataclass ``cfg`` with this profile's rehearsal caps applied (``cfg`` itself without caps).

        Every field with a ``capped(limit)`` method (:class:`course_lib.data.loaders.Sizes`) is capped at
        :attr:`max_examples`; the fields named in ``steps`` (epochs or optimizer steps) go through :meth:`cap_steps`
        and those in ``examples`` (counts of lines, blocks or texts) through :meth:`cap_examples`. A count of
        ``None`` or below 0 (``max_steps=-1``: "no limit, use epochs") becomes the cap itself. Each chapter's
        ``config_for`` ends with this call, so a capped ``PROFILE=full`` rehearsal runs the full settings everywhere
        except in these counts.
        """
        import dataclasses

        if not self.capped:
            return cfg
        names = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted((set(steps) | set(examples)) - names)
        if unknown:
            raise ValueError(f"{type(cfg).__name__} has no field(s) {', '.join(unknown)} to cap")
        changes: dict[str, Any] = {}
        for name in names:
            value = getattr(cfg, name)
            if callable(getattr(value, "capped", None)):
                changes[name] = value.capped(self.max_examples)
            elif name in steps or name in examples:
                count = None if value is None or value < 0 else value
                if isinstance(count, float):  # fractional epochs (the MLM Trainer): keep the fraction under the cap
                    cap = self.max_steps if name in steps else self.max_examples
                    changes[name] = count if cap is None else min(count, float(cap))
                else:
                    changes[name] = self.cap_steps(count) if name in steps else self.cap_examples(count)
        return dataclasses.replace(cfg, **changes)

    def caps_note(self) -> str:
        """One line for the banner: empty without caps, else the caps and that the numbers are not the profile's."""
        if not self.capped:
            return ""
        caps = ", ".join(f"{k}={v}" for k, v in (("max_steps", self.max_steps), ("max_examples", self.max_examples))
                         if v is not None)
        return (f"CAPPED ({caps}, from ${MAX_STEPS_ENV}/${MAX_EXAMPLES_ENV}): a rehearsal of PROFILE={self.name}'s "
                "code path; its numbers are not the profile's results")


def _cap(value: int | None, cap: int | None) -> int | None:
    positive_int("a count to cap", value, none="no limit of its own")
    if cap is None:
        return value
    return cap if value is None else min(value, cap)


def resolve_source(source: str, *, timeout: float = 3.0) -> tuple[str, str]:
    """Resolve ``SOURCE`` to ``"hub"`` or ``"offline"`` and say why, in one line, within ``timeout`` seconds.

    ``hub`` is checked before anything is downloaded: without a network it fails at once with an error that names
    ``SOURCE=offline`` and ``SOURCE=auto``, instead of letting the libraries retry for a minute. With
    ``HF_HUB_OFFLINE=1`` the hub libraries read their local cache only, so no check is made (that is how the hub path
    is rehearsed against a prepared cache). ``auto`` picks the hub when it answers and ``HF_HUB_OFFLINE`` is unset.
    """
    source = _choose("SOURCE", source, SOURCES)
    hub_offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    if source == "offline":
        set_offline_env()
        return "offline", "SOURCE=offline: no network is used"
    if source == "hub":
        if hub_offline:
            return "hub", "SOURCE=hub with HF_HUB_OFFLINE=1: hub datasets and checkpoints from the local cache only"
        ok, why = hub_status(timeout=timeout)
        if not ok:
            raise RuntimeError(f"SOURCE=hub needs the Hugging Face Hub, but {why}. Run with SOURCE=offline (real "
                               "offline data and models, no network) or SOURCE=auto (the hub when it answers).")
        return "hub", "SOURCE=hub: datasets and checkpoints come from the Hugging Face Hub"
    if hub_offline:
        set_offline_env()
        return "offline", "SOURCE=auto -> offline (HF_HUB_OFFLINE is set)"
    ok, why = hub_status(timeout=timeout)
    if ok:
        return "hub", f"SOURCE=auto -> hub ({why})"
    set_offline_env()
    return "offline", f"SOURCE=auto -> offline ({why})"


@dataclass
class Run:
    """Everything a chapter needs to know about this execution: profile, source, seed, device, results.

    Create it with :func:`start_chapter`. ``record`` collects result rows; ``save`` writes the chapter's results
    file (``<results_dir>/<chapter>.json``) in the schema shared by all chapters.
    """

    chapter: str
    profile: Profile
    source: str
    seed: int
    results_dir: Path
    device: str
    reason: str = ""
    started: float = field(default_factory=time.perf_counter)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        return self.source == "offline"

    def banner(self) -> str:
        line = (f"{self.chapter}: PROFILE={self.profile.name} SOURCE={self.source} SEED={self.seed} "
                f"device={self.device} | {self.reason}")
        return f"{line}\n{self.profile.caps_note()}" if self.profile.capped else line

    def record(self, name: str, task: str, metric: str, value: float, *,
               trainable_params: int | None = None, total_params: int | None = None, **extra: Any) -> dict:
        """Add (or replace) one result row; returns it."""
        row = {"name": name, "task": task, "metric": metric, "value": float(value),
               "trainable_params": None if trainable_params is None else int(trainable_params),
               "total_params": None if total_params is None else int(total_params)}
        row.update(extra)
        validate_run(row)  # here, where the numbers enter, not at save() at the end of the chapter
        self.runs = [r for r in self.runs if not (r["name"] == name and r["task"] == task)]
        self.runs.append(row)
        return row

    def save(self) -> Path:
        """Write the results file and return its path."""
        return write_results(self)


def start_chapter(chapter: str, PROFILE: str = "fast", SOURCE: str = "auto", SEED: int = 0,
                  RESULTS_DIR: str | os.PathLike | None = None, *, quiet: bool = False) -> Run:
    """Validate the parameters, resolve the source, seed everything and print a one-line banner.

    >>> run = start_chapter("01_transfer_learning", PROFILE="fast", SOURCE="offline", SEED=0)  # doctest: +SKIP
    """
    if not isinstance(chapter, str) or not chapter.strip() or any(c in chapter for c in "/\\"):
        raise ValueError(f"chapter must be the notebook's stem, such as '01_transfer_learning', got {chapter!r}")
    profile = Profile(PROFILE)
    source, reason = resolve_source(SOURCE)
    if not isinstance(SEED, int) or isinstance(SEED, bool):
        raise ValueError(f"SEED must be an integer, got {SEED!r}")
    gpu_note = pin_one_gpu()  # before anything starts CUDA: every chapter trains on one GPU
    seed_everything(SEED)
    if not show_progress():  # a rendered page shows results, not the progress bars of loading and mapping data
        import datasets
        import transformers

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    # RESULTS_DIR, else $COURSE_LIB_RESULTS_DIR (scripts/execute_chapter.py sets it to book/_results, the committed
    # results of the run the book shows), else results/ at the repository root (your own runs)
    results_dir = Path(RESULTS_DIR or os.environ.get("COURSE_LIB_RESULTS_DIR") or REPO_ROOT / "results")
    run = Run(chapter=chapter, profile=profile, source=source, seed=SEED, results_dir=results_dir,
              device=default_device(), reason=reason)
    if run.device == "cuda" and gpu_note:
        run.reason = f"{run.reason} | {gpu_note}"
    if not quiet:
        print(run.banner())
    return run


