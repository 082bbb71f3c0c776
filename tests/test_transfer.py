"""Cached pretrained weights are keyed by their settings and the offline data files."""

from dataclasses import replace

import course_lib
from course_lib import data, transfer


def test_news_checkpoint_name_changes_with_settings_and_data(tmp_cache, tmp_path, monkeypatch):
    run = course_lib.start_chapter("01_transfer_learning", "fast", "offline", 0, tmp_path)
    cfg = transfer.config_for(run.profile)
    path = transfer.news_checkpoint(run, cfg)
    assert path == transfer.news_checkpoint(run, cfg)  # stable
    assert path.parent == tmp_cache / "checkpoints" / "news_pretrained"
    assert transfer.news_checkpoint(run, replace(cfg, pretrain_epochs=cfg.pretrain_epochs + 1)) != path
    monkeypatch.setattr(data, "OFFLINE_FORMAT", "edited")
    assert transfer.news_checkpoint(run, cfg) != path
