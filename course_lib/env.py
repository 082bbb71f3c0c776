"""The machine the course runs on: cache folder, progress switch, library chatter, seeds, device, hub reachability.

The bottom layer of ``course_lib``: it imports nothing from the package, and everything else may import it.

- :func:`cache_dir`: ``COURSE_LIB_CACHE`` or ``~/.cache/course_lib``; everything cached lives below it.
- :func:`show_progress`: progress bars are on unless ``COURSE_LIB_PROGRESS=0`` (set when the book is executed).
- :func:`quiet_hf`: the one way to silence transformers' and datasets' info/warning chatter (it goes to stderr,
  which nbval compares).
- :func:`seed_everything`, :func:`default_device`, :func:`machine_summary`.
- :func:`hub_status` / :func:`set_offline_env`: can the Hugging Face Hub be reached; tell the libraries it cannot.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import warnings
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE_MODEL = "openai-community/gpt2"  # any small public repo: its API answer proves we reached the real hub


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


@contextlib.contextmanager
def quiet_hf():
    """Silence transformers' and datasets' info/warning chatter and Python warnings inside the block.

    Progress bars ("Loading weights", ``datasets.map``) are also switched off when :func:`show_progress` is off.
    Every setting is put back afterwards.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # also covers import-time warnings (tqdm's IProgress notice)
        import datasets
        import transformers

        old_t, old_d = transformers.logging.get_verbosity(), datasets.logging.get_verbosity()
        d_bars = datasets.utils.logging.is_progress_bar_enabled()
        t_bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.logging.set_verbosity_error()
        datasets.logging.set_verbosity_error()
        if not show_progress():
            datasets.utils.logging.disable_progress_bar()
            transformers.utils.logging.disable_progress_bar()
        try:
            yield
        finally:
            transformers.logging.set_verbosity(old_t)
            datasets.logging.set_verbosity(old_d)
            if d_bars:
                datasets.utils.logging.enable_progress_bar()
            if t_bars:
                transformers.utils.logging.enable_progress_bar()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch so that a CPU run repeats exactly."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


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
