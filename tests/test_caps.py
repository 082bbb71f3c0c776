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
    assert read_results("99_test", tmp_path, "full")["caps"] == {"max_steps": 5, "max_examples": None}


CONFIG_MODULES = ("course_lib.experiments.encoder_transfer", "course_lib.experiments.bag_transfer",
                  "course_lib.experiments.mlm", "course_lib.chapters.ch02_inference",
                  "course_lib.chapters.ch06_finetune", "course_lib.chapters.ch06_sft")
# what a field's name says it counts
STEP_WORDS, EXAMPLE_WORDS = ("epochs", "steps"), ("n_train", "n_validation", "n_test", "_lines", "_blocks")


def test_every_config_for_is_in_the_list():
    """A new chapter config must be added to CONFIG_MODULES, so the cap test below covers it."""
    import importlib
    import pkgutil

    import course_lib

    found = set()
    for info in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
        module = importlib.import_module(info.name)
        if callable(getattr(module, "config_for", None)) and module.config_for.__module__ == info.name:
            found.add(info.name)
    assert found == set(CONFIG_MODULES)


@pytest.mark.parametrize("module_name", CONFIG_MODULES)
def test_every_chapter_config_follows_the_caps(module_name, no_caps):
    """Under the rehearsal's caps, the full profile's settings keep everything but their counts: every split size,
    epoch and step count of every chapter config is within the caps."""
    import dataclasses
    import importlib

    config_for = importlib.import_module(module_name).config_for
    full, capped = config_for(Profile("full")), config_for(Profile("full", max_steps=3, max_examples=8))
    assert config_for(Profile("full", max_steps=None)) == full  # no caps: nothing changes
    for f in dataclasses.fields(full):
        before, after = getattr(full, f.name), getattr(capped, f.name)
        if isinstance(before, Sizes):
            assert all(n is not None and n <= 8 for n in (after.train, after.validation, after.test)), f.name
        elif any(w in f.name for w in STEP_WORDS) and isinstance(before, (int, float)) and f.name != "warmup_steps":
            assert 0 < after <= 3, f"{module_name}: {f.name} = {after} under max_steps=3"
        elif any(w in f.name for w in EXAMPLE_WORDS):
            assert after is not None and 0 < after <= 8, f"{module_name}: {f.name} = {after} under max_examples=8"
        else:
            assert after == before, f"{module_name}: {f.name} changed under the caps"


def test_capped_config_names_unknown_fields():
    from course_lib.experiments import encoder_transfer

    with pytest.raises(ValueError, match="no field"):
        Profile("full", max_steps=3).capped_config(encoder_transfer.config_for(Profile("full")), steps=("epoch",))
