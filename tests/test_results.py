"""course_lib.results: one schema, validated on every read and write."""

import json

import pytest

from course_lib import results

ROW = {"name": "scratch", "task": "sentiment", "metric": "accuracy", "value": 0.5, "trainable_params": 10,
       "total_params": 20}
PAYLOAD = {"chapter": "01_transfer_learning", "profile": "fast", "source": "offline", "seed": 0, "device": "cpu",
           "wall_time_s": 12.5, "runs": [ROW]}


def test_roundtrip_with_optional_fields_and_extra_run_keys(tmp_path):
    payload = {**PAYLOAD, "notebook_wall_time_s": 14.0, "machine": {"cpu_count": 2},
               "runs": [{**ROW, "learning_rate": 1e-3}]}
    path = results.write_results_file(tmp_path / "01_transfer_learning.json", payload)
    assert results.read_results_file(path) == payload
    assert results.read_results("01_transfer_learning", tmp_path) == payload
    assert [p.name for p in tmp_path.iterdir()] == ["01_transfer_learning.json"]  # no staging file left


@pytest.mark.parametrize("change, message", [
    ({"profile": "medium"}, "'profile' must be 'fast' or 'full'"),
    ({"source": "auto"}, "'source' must be 'hub' or 'offline'"),
    ({"seed": "0"}, "'seed' must be an integer"),
    ({"wall_time_s": -1}, "'wall_time_s' must be seconds"),
    ({"notebook_seconds": 3}, "outside the schema"),
    ({"runs": [{**ROW, "value": "high"}]}, "'value' must be a finite number"),
    ({"runs": [{**ROW, "trainable_params": -2}]}, "'trainable_params' must be None or an integer"),
    ({"runs": [{k: v for k, v in ROW.items() if k != "metric"}]}, "lacks keys \\['metric'\\]"),
])
def test_validate_names_the_field_and_what_it_must_be(change, message):
    with pytest.raises(ValueError, match=message):
        results.validate({**PAYLOAD, **change})


def test_missing_top_level_keys_are_named():
    with pytest.raises(ValueError, match="lacks keys \\['runs'\\]"):
        results.validate({k: v for k, v in PAYLOAD.items() if k != "runs"})


def test_a_bad_file_names_its_path(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({**PAYLOAD, "extra": 1}))
    with pytest.raises(ValueError, match="x.json: .*outside the schema"):
        results.read_results_file(path)


def test_committed_results_follow_the_schema():
    from course_lib.env import REPO_ROOT

    files = sorted((REPO_ROOT / "book" / "_results").glob("0*.json"))
    assert files
    for path in files:
        results.read_results_file(path)


def test_run_record_checks_the_row_where_it_enters(tmp_path):
    from course_lib.config import start_chapter

    run = start_chapter("99_test", "fast", "offline", 0, tmp_path, quiet=True)
    with pytest.raises(ValueError, match="'name' must be a non-empty string"):
        run.record("", "sentiment", "accuracy", 0.5)
    with pytest.raises(ValueError, match="'trainable_params' must be None or an integer >= 0"):
        run.record("scratch", "sentiment", "accuracy", 0.5, trainable_params=-1)
    with pytest.raises(ValueError, match="not JSON"):
        run.record("scratch", "sentiment", "accuracy", 0.5, model=object())
    assert run.runs == []


@pytest.mark.parametrize("chapter", ["", "../01_transfer_learning", None])
def test_start_chapter_wants_a_notebook_stem(tmp_path, chapter):
    from course_lib.config import start_chapter

    with pytest.raises(ValueError, match="notebook's stem"):
        start_chapter(chapter, "fast", "offline", 0, tmp_path, quiet=True)


def test_each_profile_has_its_own_file_name(tmp_path):
    assert results.results_path(tmp_path, "01_transfer_learning") == tmp_path / "01_transfer_learning.json"
    assert results.results_path(tmp_path, "01_transfer_learning", "full") == tmp_path / "01_transfer_learning.full.json"
    for bad in ("", "../x", "a.b", None):
        with pytest.raises(ValueError, match="profile must be a profile name"):
            results.results_path(tmp_path, "01_transfer_learning", bad)
