"""Rehearsal caps: COURSE_LIB_MAX_STEPS / COURSE_LIB_MAX_EXAMPLES, read by Profile, stated in the banner and the
results file."""

import pytest

from course_lib.config import Profile, start_chapter
from course_lib.data.loaders import Sizes
from course_lib.results import read_results


@pytest.fixture()
def no_caps(monkeypatch):
    monkeypatch.delenv("COURSE_LIB_MAX_STEPS", raising=False)
    monkeypatch.delenv("COURSE_LIB_MAX_EXAMPLES", raising=False)


def test_no_caps_change_nothing(no_caps):
    profile = Profile("full")
    assert not profile.capped and profile.caps_note() == ""
    assert profile.cap_steps(1000) == 1000 and profile.cap_examples(None) is None


def test_caps_come_from_the_environment(no_caps, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_MAX_STEPS", "20")
    monkeypatch.setenv("COURSE_LIB_MAX_EXAMPLES", "64")
    profile = Profile("full")
    assert (profile.max_steps, profile.max_examples) == (20, 64) and profile.capped
    assert profile.cap_steps(1000) == 20 and profile.cap_steps(5) == 5 and profile.cap_steps(None) == 20
    assert profile.cap_examples(None) == 64 and profile.cap_examples(10) == 10
    assert "max_steps=20" in profile.caps_note() and "not the profile's results" in profile.caps_note()


def test_caps_are_validated(no_caps, monkeypatch):
    with pytest.raises(ValueError, match="max_steps must be None"):
        Profile("fast", max_steps=0)
    with pytest.raises(ValueError, match="max_examples must be None"):
        Profile("fast", max_examples=2.5)
    monkeypatch.setenv("COURSE_LIB_MAX_STEPS", "-1")
    with pytest.raises(ValueError, match="COURSE_LIB_MAX_STEPS must be a positive integer"):
        Profile("full")
    with pytest.raises(ValueError, match="count to cap"):
        Profile("fast", max_steps=3).cap_steps(0)


def test_sizes_follow_the_example_cap():
    assert Sizes(train=500, validation=None, test=2000).capped(100) == Sizes(100, 100, 100)
    assert Sizes(train=50).capped(100) == Sizes(50, 100, 100)
    assert Sizes(train=50).capped(None) == Sizes(train=50)


def test_a_capped_run_says_so_in_its_banner_and_results(no_caps, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_LIB_MAX_STEPS", "5")
    run = start_chapter("99_test", "full", "offline", 0, tmp_path)
    assert "CAPPED (max_steps=5" in capsys.readouterr().out
    run.record("scratch", "sentiment", "accuracy", 0.5)
    run.save()
    assert read_results("99_test", tmp_path)["caps"] == {"max_steps": 5, "max_examples": None}
