import time

import pytest

from course_lib.config import Profile, resolve_source, start_chapter
from course_lib.results import read_results


def test_profile_pick_and_validation():
    assert Profile("fast").pick(fast=1, full=2) == 1
    assert Profile("FULL").pick(fast=1, full=2) == 2
    with pytest.raises(ValueError, match="Unknown PROFILE 'fsat'; choose one of: fast, full"):
        Profile("fsat")


def test_unknown_source_lists_choices():
    with pytest.raises(ValueError, match="choose one of: auto, hub, offline"):
        resolve_source("cloud")


def test_auto_resolves_offline_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("course_lib.hub.HUB_HOST", "hub.invalid")  # a name that never resolves
    start = time.perf_counter()
    source, reason = resolve_source("auto")
    assert source == "offline" and "unreachable" in reason
    assert time.perf_counter() - start < 5


def test_auto_respects_hf_hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_source("auto") == ("offline", "SOURCE=auto -> offline (HF_HUB_OFFLINE is set)")


def test_run_records_and_saves(tmp_path, capsys):
    run = start_chapter("99_test", "fast", "offline", 3, tmp_path)
    assert "PROFILE=fast SOURCE=offline SEED=3" in capsys.readouterr().out
    run.record("scratch", "sentiment", "accuracy", 0.5, trainable_params=10, total_params=20)
    run.record("scratch", "sentiment", "accuracy", 0.75, trainable_params=10, total_params=20)  # replaces
    run.save()
    saved = read_results("99_test", tmp_path)
    assert saved["profile"] == "fast" and saved["seed"] == 3
    assert [r["value"] for r in saved["runs"]] == [0.75]


def test_missing_results_name_the_chapter(tmp_path):
    with pytest.raises(FileNotFoundError, match="run book/01_transfer_learning.ipynb"):
        read_results("01_transfer_learning", tmp_path)


def test_seed_must_be_int(tmp_path):
    with pytest.raises(ValueError, match="SEED must be an integer"):
        start_chapter("99_test", "fast", "offline", "0", tmp_path, quiet=True)
