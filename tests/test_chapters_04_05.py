"""course_lib.chapters.ch04_adapters and ch05_lora, and the news pretraining they share: an interrupted pretraining
must never be loaded later as a finished one."""

import json
from dataclasses import replace

import pytest

import course_lib
from course_lib.chapters import ch04_adapters, ch05_lora
from course_lib.data.loaders import Sizes
from course_lib.experiments import bag_transfer
from course_lib.experiments import encoder_transfer as transfer


@pytest.fixture()
def tiny(tmp_cache, tmp_path):
    """A chapter-5 run on a few dozen news and review texts (the real offline files, cut)."""
    run = course_lib.start_chapter("05_lora", "fast", "offline", 0, tmp_path, quiet=True)
    cfg = replace(transfer.config_for(run.profile), news_sizes=Sizes(64, 16, 16), sentiment_sizes=Sizes(32, 16, 16),
                  max_len=32, pretrain_epochs=2)
    return run, cfg, transfer.load_transfer_data(run, cfg)


class Interrupted(Exception):
    """Stands for a kernel restart or Ctrl-C in the middle of training."""


def _interrupt_after_first_epoch(real):
    """``train_classifier`` that trains one epoch (which writes its best weights to ``checkpoint``), then stops."""

    def train(*args, checkpoint, **kwargs):
        real(*args, **{**kwargs, "epochs": 1}, checkpoint=checkpoint)
        assert checkpoint.exists()  # the loop wrote its best weights: the file a reader must not take as finished
        raise Interrupted

    return train


@pytest.mark.slow
def test_interrupted_bag_news_pretraining_is_trained_again(tiny, monkeypatch):
    run, _, data = tiny
    cfg = replace(ch05_lora.config_for(run.profile), pretrain_epochs=2)
    real = bag_transfer.train_classifier
    monkeypatch.setattr(bag_transfer, "train_classifier", _interrupt_after_first_epoch(real))
    with pytest.raises(Interrupted):
        ch05_lora.load_news_text_classifier(run, data, cfg)
    path = ch05_lora.text_classifier_checkpoint(run, cfg, data)
    assert not path.exists() and not list(path.parent.iterdir())  # nothing published, no staging file left
    monkeypatch.setattr(bag_transfer, "train_classifier", real)
    _, history = ch05_lora.load_news_text_classifier(run, data, cfg)
    assert history is not None and path.exists()  # trained from the start, then published
    _, again = ch05_lora.load_news_text_classifier(run, data, cfg)
    assert again is None  # now it is finished: loaded, not trained


@pytest.mark.slow
def test_interrupted_encoder_news_pretraining_is_trained_again(tiny, monkeypatch, capsys):
    run, cfg, data = tiny
    real = transfer.train_classifier
    monkeypatch.setattr(transfer, "train_classifier", _interrupt_after_first_epoch(real))
    with pytest.raises(Interrupted):
        transfer.load_news_pretrained(run, data, cfg)
    path = transfer.news_checkpoint(run, cfg)
    assert not path.exists() and not list(path.parent.iterdir())
    monkeypatch.setattr(transfer, "train_classifier", real)
    capsys.readouterr()
    transfer.load_news_pretrained(run, data, cfg)
    assert "training it" in capsys.readouterr().out and path.exists()


def _chapter1(folder, profile="fast", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"chapter": "01_transfer_learning", "profile": profile, "source": "offline", "seed": seed,
               "device": "cpu", "wall_time_s": 1.0, "runs": []}
    name = "01_transfer_learning.json" if profile == "fast" else f"01_transfer_learning.{profile}.json"
    (folder / name).write_text(json.dumps(payload))


def test_chapter1_results_finds_the_same_run_or_says_which_it_found(tmp_path, monkeypatch):
    monkeypatch.setattr(ch04_adapters, "REPO_ROOT", tmp_path / "repo")  # no committed results in the way
    run = course_lib.start_chapter("04_adapters", "fast", "offline", 1, tmp_path / "mine", quiet=True)
    with pytest.raises(FileNotFoundError, match="run book/01_transfer_learning.ipynb"):
        ch04_adapters.chapter1_results(run)
    _chapter1(tmp_path / "repo" / "book" / "_results", seed=0)
    with pytest.raises(ValueError, match="SEED=0.*this one is PROFILE=fast SOURCE=offline SEED=1"):
        ch04_adapters.chapter1_results(run)
    _chapter1(tmp_path / "mine", seed=1)
    assert ch04_adapters.chapter1_results(run)["seed"] == 1
    # a full run reads the full results, never the fast ones next to them
    full = course_lib.start_chapter("04_adapters", "full", "offline", 1, tmp_path / "mine", quiet=True)
    with pytest.raises(FileNotFoundError, match="full-profile results"):
        ch04_adapters.chapter1_results(full)
    _chapter1(tmp_path / "mine", profile="full", seed=1)
    assert ch04_adapters.chapter1_results(full)["profile"] == "full"


def test_plot_column_space_draws_the_plane_only_for_rank_two():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

    def count(ax, kind):
        return sum(isinstance(c, kind) for c in ax.collections)

    plane = ch05_lora.plot_column_space(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    assert count(plane, Poly3DCollection) == 1 and plane.get_title() == "rank 2"  # the xy-plane's surface
    assert count(plane, Line3DCollection) == 2 and len(plane.get_legend().get_texts()) == 2  # one arrow per column
    space = ch05_lora.plot_column_space(np.eye(3), title="all of 3-D")
    assert count(space, Poly3DCollection) == 0 and space.get_title() == "all of 3-D"  # rank 3: no plane to draw
    with pytest.raises(ValueError, match="3 rows"):
        ch05_lora.plot_column_space(np.ones((2, 2)))
    plt.close("all")
