"""course_lib.env: atomic publishing, cache keys, named quiet messages, the device decision, integer caps."""

import logging
import os
import warnings
from dataclasses import dataclass

import pytest

from course_lib import env


def test_publish_a_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "data.txt"
    with env.publish(target) as staging:
        staging.write_text("half")
        assert not target.exists() and staging.parent == target.parent
    assert target.read_text() == "half"
    assert sorted(p.name for p in target.parent.iterdir()) == ["data.txt"]


def test_publish_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "folder"
    with pytest.raises(RuntimeError, match="interrupted"), env.publish(target) as staging:
        staging.mkdir()
        (staging / "a.parquet").write_text("x")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_publish_keeps_a_folder_another_process_published_first(tmp_path):
    target = tmp_path / "folder"
    with env.publish(target) as staging:
        staging.mkdir()
        (staging / "mine.txt").write_text("mine")
        target.mkdir()  # another process got there first, with the same (keyed) content
        (target / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]


def test_publish_needs_something_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), env.publish(tmp_path / "x"):
        pass


def test_two_stagings_for_one_target_never_collide(tmp_path):
    with env.publish(tmp_path / "x") as a, env.publish(tmp_path / "x") as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert (tmp_path / "x").read_text() == "a"  # the last one to finish wins; both were complete


@dataclass
class Settings:
    vocab_size: int
    lowercase: bool


def test_cache_key_changes_with_every_input_and_only_then(tmp_path):
    key = env.cache_key("wordpiece", 8000, Settings(8000, True), tmp_path / "corpus.txt")
    assert key == env.cache_key("wordpiece", 8000, Settings(8000, True), tmp_path / "corpus.txt")
    assert len(key) == 16 and int(key, 16) >= 0
    others = {env.cache_key("wordpiece", 8001, Settings(8000, True), tmp_path / "corpus.txt"),
              env.cache_key("wordpiece", 8000, Settings(8000, False), tmp_path / "corpus.txt"),
              env.cache_key("wordpiece", 8000, Settings(8000, True), tmp_path / "other.txt"),
              env.cache_key("bpe", 8000, Settings(8000, True), tmp_path / "corpus.txt")}
    assert key not in others and len(others) == 4
    assert env.cache_key(1, length=40) != env.cache_key("1", length=40)


def test_file_sha256_streams(tmp_path):
    import hashlib

    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20))
    assert env.file_sha256(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.texts = []

    def emit(self, record):
        self.texts.append(record.getMessage())


def test_quiet_hf_hides_named_messages_only():
    import transformers  # noqa: F401  (sets up the library's logger, whose handlers quiet_hf filters)

    library, collect = logging.getLogger("transformers"), Collect()
    library.addHandler(collect)  # a handler of the library's logger, like its own stderr handler
    logger = logging.getLogger("transformers.modeling_utils")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with env.quiet_hf():
                logger.warning("BertModel LOAD REPORT from: somewhere")
                logger.warning("something the reader must see")
                warnings.warn("IProgress not found. Please update jupyter and ipywidgets.")
                warnings.warn("a deprecation the maintainer must see", DeprecationWarning)
        assert collect.texts == ["something the reader must see"]
        assert [str(w.message) for w in seen] == ["a deprecation the maintainer must see"]
        logger.warning("BertModel LOAD REPORT from: outside")  # outside the block, nothing is hidden
        assert collect.texts[-1] == "BertModel LOAD REPORT from: outside"
    finally:
        library.removeHandler(collect)


def test_quiet_hf_puts_everything_back_and_rejects_unknown_names():
    import transformers

    root = logging.getLogger("transformers")
    filters = (list(root.filters), [list(h.filters) for h in root.handlers])
    verbosity = transformers.logging.get_verbosity()
    with env.quiet_hf("load-report"):
        pass
    assert (list(root.filters), [list(h.filters) for h in root.handlers]) == filters
    assert transformers.logging.get_verbosity() == verbosity
    with pytest.raises(ValueError, match="load-report"):
        with env.quiet_hf("everything"):
            pass


def test_every_quiet_message_says_why():
    assert all(m.why and m.origin in ("transformers", "datasets", "warnings") for m in env.QUIET_MESSAGES)
    assert len({m.name for m in env.QUIET_MESSAGES}) == len(env.QUIET_MESSAGES)


def test_one_device_decision(monkeypatch):
    from course_lib import precision

    assert precision.training_device().type == env.default_device()
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    assert env.default_device() == "cpu" and precision.training_device().type == "cpu"


@pytest.mark.parametrize("raw, expected", [("", None), ("20", 20), (" 7 ", 7)])
def test_int_limit_reads_positive_integers(monkeypatch, raw, expected):
    monkeypatch.setenv("COURSE_LIB_TEST_LIMIT", raw)
    assert env.int_limit("COURSE_LIB_TEST_LIMIT") == expected


@pytest.mark.parametrize("raw", ["0", "-3", "2.5", "many", "1e3"])
def test_int_limit_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("COURSE_LIB_TEST_LIMIT", raw)
    with pytest.raises(ValueError, match="COURSE_LIB_TEST_LIMIT must be a positive integer"):
        env.int_limit("COURSE_LIB_TEST_LIMIT")


def test_pin_one_gpu_sets_one_device_unless_told_otherwise(monkeypatch):
    """Trainer would spread a batch over every visible GPU (nn.DataParallel): the course pins one before CUDA starts."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert "CUDA_VISIBLE_DEVICES=0" in env.pin_one_gpu() and os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # the learner's own choice stays
    assert env.pin_one_gpu() == "" and os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("WORLD_SIZE", "2")  # accelerate launch / torchrun: one GPU per process already
    assert env.pin_one_gpu() == "" and "CUDA_VISIBLE_DEVICES" not in os.environ


def test_pin_one_gpu_warns_when_cuda_started_with_several(monkeypatch):
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    note = env.pin_one_gpu()
    assert note.startswith("WARNING: 4 GPUs visible") and "Restart the kernel" in note
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
