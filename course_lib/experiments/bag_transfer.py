"""The source's LoRA experiment on the embedding-bag classifier (news -> sentiment), shared by chapter 5 and
``make claims``; and chapter 5's settings (the CNN task's too, so that one config describes the chapter).

The LoRA layer itself is :mod:`course_lib.nn.lora`; the text data are chapter 1's
(:mod:`course_lib.experiments.encoder_transfer`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from course_lib.config import EVAL_BATCH_SIZE, Profile
from course_lib.data.loaders import Sizes
from course_lib.env import cache_dir, publish
from course_lib.experiments.encoder_transfer import checkpoint_path, settings_digest
from course_lib.nn.classic import TextClassifier
from course_lib.nn.lora import apply_lora
from course_lib.train.classifier import evaluate, load_weights, train_classifier


@dataclass(frozen=True)
class LoRAExperimentConfig:
    """Chapter 5 settings: the embedding-bag classifier (news -> sentiment) and the CNN (task A -> task B).

    Text data sizes come from :func:`course_lib.experiments.encoder_transfer.config_for` (the same splits as
    chapters 1 and 4).
    """

    hidden: int = 128
    r: int = 2  # the source notebook's rank
    lora_alpha: float = 4.0
    batch_size: int = 32
    pretrain_epochs: int = 4
    epochs: int = 30  # a bag-of-words model on 500 reviews: seconds per epoch, and it needs the steps
    pretrain_learning_rate: float = 3e-3  # news pretraining of the embedding-bag model
    # one learning rate per compared run, each picked from transfer.LR_GRID on validation (scripts/claims.py --tune)
    learning_rates: dict = field(default_factory=lambda: {"lora_baseline_scratch": 3e-3, "lora": 1e-2})
    image_sizes: Sizes = Sizes()
    image_batch_size: int = 32
    image_pretrain_epochs: int = 8
    image_epochs: int = 12
    image_pretrain_learning_rate: float = 3e-3  # pretraining the CNN
    image_lora_learning_rate: float = 1e-2  # A, B and the new head (picked on the validation split)
    image_r: int = 2
    image_lora_alpha: float = 4.0
    patience: int = 6


def config_for(profile: Profile) -> LoRAExperimentConfig:
    """``fast``: seconds per run on a CPU. ``full``: more epochs; with ``SOURCE=hub`` MNIST -> EMNIST letters."""
    cfg = profile.pick(
        fast=LoRAExperimentConfig(),
        full=LoRAExperimentConfig(pretrain_epochs=20, epochs=50, image_sizes=Sizes(train=None), image_epochs=20,
                                  image_pretrain_epochs=10, image_batch_size=128, patience=6))
    return profile.capped_config(cfg, steps=("pretrain_epochs", "epochs", "image_pretrain_epochs", "image_epochs"))


def text_classifier_checkpoint(run, cfg: "LoRAExperimentConfig", data) -> Path:
    """Cached news-pretrained :class:`~course_lib.nn.classic.TextClassifier`, per profile, source, seed and settings."""
    digest = settings_digest(run, cfg, {split: len(rows) for split, rows in data.news.items()})
    name = f"textclassifier-news-{run.profile.name}-{run.source}-seed{run.seed}-{digest}.safetensors"
    return cache_dir("checkpoints", "news_pretrained") / name


def load_news_text_classifier(run, data, cfg: LoRAExperimentConfig):
    """The embedding-bag ``TextClassifier`` pretrained on the 4-class news task (trained first if not cached).

    Returns ``(model, history)``; ``history`` is ``None`` when the checkpoint came from the cache.
    """
    path = text_classifier_checkpoint(run, cfg, data)
    torch.manual_seed(run.seed)  # the same start point whether or not the checkpoint is then loaded over it
    model = TextClassifier(data.embeddings, num_labels=len(data.news_labels), hidden=cfg.hidden,
                           pad_index=data.vocab.pad_index)
    if path.exists():  # published only when training finished (below): an interrupted run left nothing here
        return load_weights(model, path), None
    # the training loop writes its best weights after every improving epoch: it writes them to the staging file, which
    # takes the shared name only when training is done
    with publish(path) as staging:
        history = train_classifier(model, data.loader("news", "train", cfg.batch_size, run.seed),
                                   data.loader("news", "validation", EVAL_BATCH_SIZE), epochs=cfg.pretrain_epochs,
                                   learning_rate=cfg.pretrain_learning_rate, patience=cfg.patience,
                                   checkpoint=staging, desc="news pretraining")
    return model, history


BAG_STRATEGIES = ("lora_baseline_scratch", "lora")


def build_bag_strategy(name: str, run, data, cfg: LoRAExperimentConfig):
    """Chapter 5's text runs on the embedding-bag ``TextClassifier``.

    ``lora_baseline_scratch``: a fresh classifier, ``fc1`` and ``fc2`` train. ``lora``: the news-pretrained model,
    frozen, with a new 2-class ``fc2`` and rank-``cfg.r`` LoRA on ``fc1``; only A, B and ``fc2`` train.
    """
    if name not in BAG_STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of: {', '.join(BAG_STRATEGIES)}")
    num_labels = len(data.sentiment_labels)
    torch.manual_seed(run.seed)
    if name == "lora_baseline_scratch":
        return TextClassifier(data.embeddings, num_labels=num_labels, hidden=cfg.hidden, pad_index=data.vocab.pad_index)
    news_model, _ = load_news_text_classifier(run, data, cfg)
    model = copy.deepcopy(news_model)
    torch.manual_seed(run.seed)
    model.fc2 = nn.Linear(cfg.hidden, num_labels)
    apply_lora(model, "fc1", r=cfg.r, lora_alpha=cfg.lora_alpha, modules_to_save="fc2")
    return model


def train_bag_strategy(run, data, cfg: LoRAExperimentConfig, name: str, model, *,
                       learning_rate: float | None = None, log=lambda line: None):
    """Train one of :data:`BAG_STRATEGIES` on sentiment (best epoch on validation); returns ``(history, test acc)``.

    The history's ``best_epoch``/``max_epochs`` say whether the run stopped on its own or at the epoch cap."""
    lr = learning_rate if learning_rate is not None else cfg.learning_rates[name]
    history = train_classifier(model, data.loader("sentiment", "train", cfg.batch_size, run.seed),
                               data.loader("sentiment", "validation", EVAL_BATCH_SIZE), epochs=cfg.epochs,
                               learning_rate=lr, patience=cfg.patience, checkpoint=checkpoint_path(run, name),
                               desc=name, log=log)
    return history, evaluate(model, data.loader("sentiment", "test", EVAL_BATCH_SIZE))["accuracy"]


