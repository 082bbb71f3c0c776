import os

import pytest

# never let a test reach for the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("COURSE_LIB_PROGRESS", "0")


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    """An empty course cache for tests that write data or checkpoints."""
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
