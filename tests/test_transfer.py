"""Cached pretrained weights are keyed by their settings and the offline data files."""

from dataclasses import replace

import pytest

import course_lib
from course_lib.data import loaders as data
from course_lib.experiments import encoder_transfer as transfer


def test_news_checkpoint_name_changes_with_settings_and_data(tmp_cache, tmp_path, monkeypatch):
    run = course_lib.start_chapter("01_transfer_learning", "fast", "offline", 0, tmp_path)
    cfg = transfer.config_for(run.profile)
    path = transfer.news_checkpoint(run, cfg)
    assert path == transfer.news_checkpoint(run, cfg)  # stable
    assert path.parent == tmp_cache / "checkpoints" / "news_pretrained"
    assert transfer.news_checkpoint(run, replace(cfg, pretrain_epochs=cfg.pretrain_epochs + 1)) != path
    assert transfer.news_checkpoint(run, replace(cfg, max_len=cfg.max_len // 2)) != path
    # the sentiment side (label budget, learning rates) does not shape the news encoder: one checkpoint for all
    assert transfer.news_checkpoint(run, replace(cfg, sentiment_sizes=data.Sizes(train=100))) == path
    monkeypatch.setattr(data, "OFFLINE_FORMAT", "edited")
    assert transfer.news_checkpoint(run, cfg) != path


def test_learning_rates_are_the_ones_make_claims_searched():
    """Every compared run's learning rate is the one `make claims` chose on validation (seed 0), and each search
    that chose it is recorded with its grid and scores."""
    from course_lib.chapters import ch05_lora
    from course_lib.config import Profile
    from course_lib.experiments import claims

    store = claims.RunStore(claims.RESULTS / claims.RUNS_FILE)
    tuned = {r["settings"]["method"]: r for r in store.select(kind="encoder", seed=0)}
    fast = transfer.config_for(Profile("fast"))
    bag = ch05_lora.config_for(Profile("fast"))
    for name in (*transfer.STRATEGIES, *ch05_lora.BAG_STRATEGIES):
        assert name in tuned, f"{name}: no tuned run in {claims.RUNS_FILE} (run `make claims`)"
        row = tuned[name]
        best = max(zip(row["learning_rate_scores"], [-g for g in row["learning_rate_grid"]]))
        assert row["learning_rate"] == -best[1], name  # the argmax (ties: the smaller rate)
        ours = fast.learning_rate_for(name) if name in transfer.STRATEGIES else bag.learning_rates[name]
        assert ours == row["learning_rate"], f"{name}: config {ours} vs make claims {row['learning_rate']}"


def test_build_strategy_leaves_exactly_the_strategy_trainable(tmp_cache, tmp_path):
    import torch

    from course_lib.data.loaders import Sizes
    from course_lib.nn.params import count_parameters

    run = course_lib.start_chapter("01_transfer_learning", "fast", "offline", 0, tmp_path, quiet=True)
    cfg = replace(transfer.config_for(run.profile), news_sizes=Sizes(64, 16, 16), sentiment_sizes=Sizes(32, 16, 16),
                  max_len=32, pretrain_epochs=1)
    data = transfer.load_transfer_data(run, cfg)
    trainable = {}
    for name in transfer.STRATEGIES:
        model = transfer.build_strategy(name, run, data, cfg)
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        trainable[name] = count_parameters(model)[0]
        assert model.classifier.out_features == 2
        assert not any(n.startswith("emb.") for n in names), name  # word vectors stay frozen everywhere
        if name == "linear_probe":
            assert names == {"classifier.weight", "classifier.bias"}
        if name == "partial_unfreeze":
            assert all("linear2" in n or n.startswith("classifier") for n in names)
        if name in ("adapters", "lora_encoder"):
            assert all(("adapter" in n or "lora_" in n or n.startswith("classifier")) for n in names), names
    assert trainable["linear_probe"] < trainable["lora_encoder"] < trainable["full_finetune"]
    assert trainable["scratch"] == trainable["full_finetune"]
    # the same seed gives the same starting head for every pretrained strategy
    a = transfer.build_strategy("full_finetune", run, data, cfg).classifier.weight
    b = transfer.build_strategy("linear_probe", run, data, cfg).classifier.weight
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="choose one of"):
        transfer.build_strategy("prompt_tuning", run, data, cfg)
