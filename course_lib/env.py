"""The machine the course runs on: cache folder, progress switch, library chatter, seeds, device, hub reachability.

The bottom layer of ``course_lib``: it imports nothing from the package, and everything else may import it.

- :func:`cache_dir`: ``COURSE_LIB_CACHE`` or ``~/.cache/course_lib``; everything cached lives below it.
- :func:`show_progress`: progress bars are on unless ``COURSE_LIB_PROGRESS=0`` (set when the book is executed).
- :func:`quiet_hf`: the one way to silence library chatter (it goes to stderr, which nbval compares). It hides only
  the messages named in :data:`QUIET_MESSAGES`; every other warning stays visible.
- :func:`publish`: the one way to put something into the cache atomically (staged under a unique name, renamed when
  complete); :func:`cache_key`: the one way to name a cached thing by every input that shapes it.
- :func:`seed_everything`, :func:`default_device` (the one device decision), :func:`pin_one_gpu` (one GPU per
  process, so ``transformers.Trainer`` never spreads a batch over several), :func:`machine_summary`.
- :func:`int_limit`: the caps ``COURSE_LIB_MAX_STEPS`` / ``COURSE_LIB_MAX_EXAMPLES`` read by
  :class:`course_lib.config.Profile`.
- :func:`hub_status` / :func:`set_offline_env`: can the Hugging Face Hub be reached; tell the libraries it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import random
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib import hub_ids

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE_MODEL = hub_ids.PROBE_MODEL  # any small public repo: its API answer proves we reached the real hub


def cache_dir(*parts: str) -> Path:
    """The course's cache folder (``COURSE_LIB_CACHE`` or ``~/.cache/course_lib``), created on demand.

    Offline data, exported word vectors and converted checkpoints are written here once and reused.
    """
    root = Path(os.environ.get("COURSE_LIB_CACHE", Path.home() / ".cache" / "course_lib")).expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def show_progress() -> bool:
    """Progress bars are on unless ``COURSE_LIB_PROGRESS=0`` (set when notebooks are executed for the book)."""
    return os.environ.get("COURSE_LIB_PROGRESS", "1") != "0"


@dataclass(frozen=True)
class QuietMessage:
    """A library message that :func:`quiet_hf` hides, and why hiding it loses nothing.

    ``origin`` is a logger name (``"transformers"``, ``"datasets"``: the message is a log record of that library) or
    ``"warnings"`` (a Python warning); ``pattern`` is a regular expression searched in the message text.
    """

    name: str
    origin: str
    pattern: str
    why: str


#: The only messages :func:`quiet_hf` hides. Anything else a library says stays visible: add a message here, with
#: the reason, rather than silencing a whole library.
QUIET_MESSAGES: tuple[QuietMessage, ...] = (
    QuietMessage("load-report", "transformers", r"LOAD REPORT",
                 "transformers 5's table of checkpoint keys that a new head left missing or an unused pretraining "
                 "head left unused: the chapters name the new weights themselves (load_pretrained_classifier)"),
    QuietMessage("absent-tied-head", "transformers", r"This checkpoint seem corrupted\. The tied weights mapping",
                 "loading an encoder saved without a masked-LM head (all-MiniLM-L6-v2) into BertForMaskedLM: the head "
                 "is new by design (experiments.mlm.build_reference trains it) and its bias starts at zero; "
                 "transformers 5 calls the absent head a corrupted checkpoint"),
    QuietMessage("cached-dataset", "datasets", r"Using the latest cached version of the dataset",
                 "HF_HUB_OFFLINE=1 reads a dataset prepared earlier: the chapter banner already says the source"),
    QuietMessage("tqdm-ipywidgets", "warnings", r"IProgress not found",
                 "tqdm's notice that ipywidgets is missing: progress bars fall back to text, nothing else changes"),
    QuietMessage("pin-memory-without-gpu", "warnings", r"'pin_memory' argument is set as true but no accelerator",
                 "transformers.Trainer pins DataLoader memory by default; on a CPU-only machine there is nothing to "
                 "pin and nothing changes (TrainingArguments(dataloader_pin_memory=False) avoids it at the source)"),
)


class _DropNamed(logging.Filter):
    """A logging filter that drops the records whose text matches one of ``patterns``."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self.regex = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.regex.search(record.getMessage())


@contextlib.contextmanager
def quiet_hf(*names: str) -> Iterator[None]:
    """Hide the library messages named in :data:`QUIET_MESSAGES` (all of them, or only ``names``) inside the block.

    Every other message stays visible. Progress bars ("Loading weights", ``datasets.map``) are switched off when
    :func:`show_progress` is off. Every setting is put back afterwards.
    """
    known = {m.name: m for m in QUIET_MESSAGES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"quiet_hf knows no message {unknown}; the named messages are: {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(QUIET_MESSAGES)
    with warnings.catch_warnings():
        for message in chosen:
            if message.origin == "warnings":
                warnings.filterwarnings("ignore", message=f".*{message.pattern}")
        import datasets
        import transformers

        installed = []
        for origin in {m.origin for m in chosen if m.origin != "warnings"}:
            log_filter = _DropNamed([m.pattern for m in chosen if m.origin == origin])
            # the libraries log through child loggers that propagate to their root logger's handlers: filter there
            for target in [logging.getLogger(origin), *logging.getLogger(origin).handlers]:
                target.addFilter(log_filter)
                installed.append((target, log_filter))
        d_bars = not datasets.utils.are_progress_bars_disabled()
        t_bars = transformers.utils.logging.is_progress_bar_enabled()
        if not show_progress():
            datasets.utils.disable_progress_bars()
            transformers.utils.logging.disable_progress_bar()
        try:
            yield
        finally:
            for target, log_filter in installed:
                target.removeFilter(log_filter)
            if d_bars:
                datasets.utils.enable_progress_bars()
            if t_bars:
                transformers.utils.logging.enable_progress_bar()


def cache_key(*parts: Any, length: int = 16) -> str:
    """A short, stable name for a cached thing, made of every input that shapes it.

    ``parts`` are JSON-encoded (paths as strings, dataclasses as dicts, anything else by ``repr``) and hashed with
    sha256, so ``cache_key("wordpiece", 8000, corpus_digest)`` changes whenever one of them does.
    """
    import dataclasses

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {"__type__": type(value).__name__, **dataclasses.asdict(value)}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return repr(value)

    text = json.dumps(list(parts), sort_keys=True, default=plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (an 822 MiB archive never sits in memory whole)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def publish(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file or folder into the cache atomically: ``with publish(final) as staging: <write staging>``.

    The block writes to ``staging``, a unique name next to ``path`` (so a parallel run never writes into the same
    staging place); when the block ends without an error, ``staging`` is renamed to ``path`` in one step, so a
    reader sees either nothing or the complete thing. When the block fails, the staging is deleted and ``path`` is
    untouched. When another process published ``path`` first (a folder that exists), theirs is kept: cached things
    are keyed by their inputs (:func:`cache_key`), so both are the same. A file is replaced.
    The caller creates ``staging`` itself (``staging.mkdir()`` for a folder, or opens it as a file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield staging
        if not staging.exists():
            raise FileNotFoundError(f"nothing was written to {staging} for {path}")
        if staging.is_dir():
            try:
                staging.rename(path)
            except OSError:
                if not path.is_dir():
                    raise
        else:
            os.replace(staging, path)
    finally:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        elif staging.exists():
            staging.unlink()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so that a CPU run repeats exactly."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_cpu_only() -> bool:
    """Whether ``ACCELERATE_USE_CPU`` asks for the CPU even where a GPU is present (accelerate's own switch)."""
    return os.environ.get("ACCELERATE_USE_CPU", "").strip().lower() in ("1", "true", "yes", "on")


def default_device() -> str:
    """The one device decision of the course: ``"cuda"``, else ``"mps"``, else ``"cpu"``.

    ``ACCELERATE_USE_CPU=1`` forces the CPU. Every loop, the chapter banner and ``accelerate.Accelerator`` (built by
    :func:`course_lib.precision.make_accelerator` with ``cpu=`` from this answer) follow it.
    """
    import torch

    if use_cpu_only():
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pin_one_gpu() -> str:
    """Make this process train on one GPU; returns a note for the chapter banner (``""`` when there is none).

    On a machine with several GPUs, ``transformers.Trainer`` (chapters 3 and 6) would spread every batch over all of
    them with ``nn.DataParallel`` (it counts the visible GPUs), multiplying the effective batch size, while the
    chapters' own loops use one GPU. The course's decision is one GPU everywhere: unless ``CUDA_VISIBLE_DEVICES`` is
    set already, or the process was started by ``accelerate launch``/``torchrun`` (``WORLD_SIZE`` set: one GPU per
    process already), it is set to ``0`` before CUDA starts. Set ``CUDA_VISIBLE_DEVICES`` yourself to choose
    another GPU. If CUDA had already started in this process with several GPUs visible, nothing can be pinned any
    more: the note says so.
    """
    if os.environ.get("WORLD_SIZE") or "CUDA_VISIBLE_DEVICES" in os.environ:
        return ""
    import torch

    if torch.cuda.is_initialized():
        n = torch.cuda.device_count()
        return (f"WARNING: {n} GPUs visible and CUDA already started in this process: the Trainer chapters will "
                "spread each batch over all of them (nn.DataParallel). Restart the kernel to train on one GPU, or "
                "set CUDA_VISIBLE_DEVICES before starting it") if n > 1 else ""
    os.environ["CUDA_VISIBLE_DEVICES"] = "0"
    return "one GPU: CUDA_VISIBLE_DEVICES=0 (set CUDA_VISIBLE_DEVICES yourself to choose another)"


def int_limit(variable: str) -> int | None:
    """A positive integer read from the environment variable ``variable``, or ``None`` when it is unset or empty.

    Used for the caps of a rehearsal run (``COURSE_LIB_MAX_STEPS``, ``COURSE_LIB_MAX_EXAMPLES``); anything but a
    positive integer raises ``ValueError`` naming the variable.
    """
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0 or str(value) != raw:
        raise ValueError(f"{variable} must be a positive integer (or unset for no cap), got {raw!r}")
    return value


def machine_summary() -> dict[str, Any]:
    """A short description of the machine, stored next to the results."""
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def set_offline_env() -> None:
    """Tell every Hugging Face library not to touch the network, so nothing waits on hub retries."""
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"
    try:  # huggingface_hub reads the variable at import time; update it if it was imported already
        import huggingface_hub.constants as hub_constants

        hub_constants.HF_HUB_OFFLINE = True
    except Exception:  # pragma: no cover - huggingface_hub is a dependency, but stay robust
        pass


def hub_status(timeout: float = 3.0) -> tuple[bool, str]:
    """Can the Hugging Face Hub be used right now? ``(reachable, why)``, decided within ``timeout`` seconds in total.

    One HTTP request through huggingface_hub's own session (so ``HTTPS_PROXY`` and ``HF_ENDPOINT`` are honoured) for
    a small public API answer; a captive portal or proxy page that answers with something else does not count. The
    request runs in a worker thread, so a slow DNS lookup or a stalled connection cannot hold the caller longer
    than ``timeout``.
    """
    import concurrent.futures

    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    url = f"{constants.ENDPOINT}/api/models/{PROBE_MODEL}"

    def probe() -> tuple[bool, str]:
        response = get_session().get(url, timeout=timeout)
        if response.status_code != 200:
            return False, f"{constants.ENDPOINT} answered HTTP {response.status_code}"
        try:
            ok = response.json().get("id") == PROBE_MODEL
        except ValueError:
            ok = False
        return (True, f"{constants.ENDPOINT} answered") if ok else (
            False, f"{constants.ENDPOINT} answered with something that is not the hub's API (a proxy or login page?)")

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(probe).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return False, f"{constants.ENDPOINT} did not answer within {timeout:g} s"
    except Exception as err:  # DNS failure, refused connection, TLS error, proxy error...
        return False, f"{constants.ENDPOINT} is unreachable ({type(err).__name__})"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
