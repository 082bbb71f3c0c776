"""Chapter 1 (and 4, 5): data, sizes and the pretrained news encoder for the transfer-learning experiments.

The experiment of the source notebook: pretrain :class:`~course_lib.models.TransformerClassifier` on a 4-class
news task (AG News), then adapt it to binary movie-review sentiment (IMDB) in several ways. This module holds the
pieces the chapters share so that chapters 4 (adapters) and 5 (LoRA) start from the very same pretrained encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from course_lib.config import Profile, Run, cache_dir
from course_lib.data import Sizes, label_names, load_text_classification
from course_lib.models import TransformerClassifier, TransformerConfig
from course_lib.text import TextPipeline, Vocab, vocab_from_words
from course_lib.training import History, load_weights, make_loader, tokenize_dataset, train_classifier
from course_lib.vectors import WordVectors, get_word_vectors


@dataclass(frozen=True)
class TransferConfig:
    """Sizes and optimisation settings of the transfer experiments, per profile."""

    news_sizes: Sizes
    sentiment_sizes: Sizes
    max_len: int  # tokens kept per text (bounded: the source padded to 1,000+)
    batch_size: int
    pretrain_epochs: int
    finetune_epochs: int
    lr: float
    head_lr: float  # linear probing trains 202 parameters: it needs a larger step
    patience: int
    mixed_precision: str
    model: TransformerConfig = field(default_factory=TransformerConfig)


def config_for(profile: Profile) -> TransferConfig:
    """``fast``: a CPU subset in minutes. ``full``: the source's scale (all of AG News and IMDB) for a GPU.

    ``fast`` adapts with 500 labelled reviews: pretraining pays off most where labels are scarce, and all four
    strategies get the same small budget (6 epochs), which is the comparison the chapter makes.
    """
    return profile.pick(
        fast=TransferConfig(
            news_sizes=Sizes(train=6000, validation=500, test=1000),
            sentiment_sizes=Sizes(train=500, validation=500, test=2000),
            max_len=256, batch_size=32, pretrain_epochs=4, finetune_epochs=6, lr=1e-3, head_lr=1e-2,
            patience=3, mixed_precision="no"),
        full=TransferConfig(
            news_sizes=Sizes(train=None, validation=None, test=None),
            sentiment_sizes=Sizes(train=None, validation=None, test=None),
            max_len=512, batch_size=64, pretrain_epochs=20, finetune_epochs=20, lr=5e-4, head_lr=5e-3,
            patience=4, mixed_precision="bf16"),
    )


@dataclass
class TransferData:
    """Vocabulary, text pipeline, word vectors and tokenized splits of both tasks."""

    vectors: WordVectors
    vocab: Vocab
    pipeline: TextPipeline
    embeddings: torch.Tensor  # (V, d): zero rows for <unk> and <pad>, then the word vectors
    news: dict
    sentiment: dict
    news_labels: list[str]
    sentiment_labels: list[str]

    def loader(self, task: str, split: str, batch_size: int, seed: int = 0):
        ds = getattr(self, task)[split]
        return make_loader(ds, batch_size, self.vocab.pad_index, shuffle=(split == "train"), seed=seed)


def build_embeddings(vectors: WordVectors) -> tuple[Vocab, torch.Tensor]:
    """Vocabulary ``<unk>, <pad>, words...`` and the matching embedding matrix (specials get zero vectors)."""
    vocab = vocab_from_words(vectors.words)
    emb = torch.zeros(len(vocab), vectors.dim)
    emb[2:] = torch.from_numpy(vectors.vectors)
    return vocab, emb


def load_transfer_data(run: Run, cfg: TransferConfig) -> TransferData:
    """Word vectors, vocabulary and the tokenized news (AG News) and sentiment (IMDB) splits for ``run``."""
    vectors = get_word_vectors(run.source)
    vocab, emb = build_embeddings(vectors)
    pipeline = TextPipeline(vocab, max_len=cfg.max_len)
    news = load_text_classification("ag_news", run.source, cfg.news_sizes, seed=run.seed)
    sentiment = load_text_classification("imdb", run.source, cfg.sentiment_sizes, seed=run.seed)
    news = {k: tokenize_dataset(v, pipeline) for k, v in news.items()}
    sentiment = {k: tokenize_dataset(v, pipeline) for k, v in sentiment.items()}
    return TransferData(vectors, vocab, pipeline, emb, news, sentiment, label_names("ag_news", run.source),
                        label_names("imdb", run.source))


def new_model(data: TransferData, cfg: TransferConfig, num_labels: int) -> TransformerClassifier:
    """A freshly initialised classifier on the frozen word vectors."""
    return TransformerClassifier(data.embeddings, replace(cfg.model, num_labels=num_labels, max_len=cfg.max_len),
                                 pad_index=data.vocab.pad_index)


def checkpoint_path(run: Run, name: str):
    """Where the best weights of run ``name`` are kept (per chapter, profile, source and seed)."""
    return cache_dir("checkpoints", run.chapter) / f"{name}-{run.profile.name}-{run.source}-seed{run.seed}.safetensors"


def settings_digest(run: Run, *settings) -> str:
    """A short digest of ``settings`` and of the offline data files: part of cached weights' names.

    Everything that shapes cached weights besides profile, source and seed goes in (the settings, and offline the
    sha256 of the packaged data files and the format of the files built from them), so that a changed setting or
    corpus never loads a stale checkpoint.
    """
    import hashlib

    from course_lib.data import OFFLINE_FORMAT, PACKAGE_FILES

    data_key = OFFLINE_FORMAT + "".join(f.sha256 for f in PACKAGE_FILES.values()) if run.source == "offline" else ""
    key = "|".join(map(repr, settings)) + data_key
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def news_checkpoint(run: Run, cfg: TransferConfig):
    """The shared file of the news-pretrained encoder, reused by chapters 4 and 5 (see :func:`settings_digest`)."""
    name = f"news-{run.profile.name}-{run.source}-seed{run.seed}-{settings_digest(run, cfg)}.safetensors"
    return cache_dir("checkpoints", "news_pretrained") / name


def pretrain_on_news(run: Run, data: TransferData, cfg: TransferConfig) -> tuple[TransformerClassifier, History]:
    """Train the 4-class news classifier and publish its best weights at :func:`news_checkpoint`.

    Training writes to a private file that is moved into place only when training is done, so a chapter that
    loads the shared file at the same time (chapters 4 and 5 under parallel nbval) never sees a half-trained model.
    """
    import os
    import shutil

    torch.manual_seed(run.seed)
    model = new_model(data, cfg, num_labels=len(data.news_labels))
    private = checkpoint_path(run, f"news_pretrain-{os.getpid()}")
    history = train_classifier(model, data.loader("news", "train", cfg.batch_size, run.seed),
                               data.loader("news", "validation", 256), epochs=cfg.pretrain_epochs, lr=cfg.lr,
                               patience=cfg.patience, checkpoint=private,
                               mixed_precision=cfg.mixed_precision, desc="news pretraining")
    staged = news_checkpoint(run, cfg).with_suffix(f".{os.getpid()}.tmp")
    shutil.move(private, staged)
    os.replace(staged, news_checkpoint(run, cfg))  # atomic on one file system
    return model, history


def load_news_pretrained(run: Run, data: TransferData, cfg: TransferConfig) -> TransformerClassifier:
    """The news-pretrained encoder (4-class head), trained first if this profile/source/seed has none yet."""
    path = news_checkpoint(run, cfg)
    if not path.exists():
        print(f"No news-pretrained encoder for this profile/source/seed yet: training it (chapter 1 does the same)")
        pretrain_on_news(run, data, cfg)
    model = new_model(data, cfg, num_labels=len(data.news_labels))
    return load_weights(model, path)


def adapt_to_sentiment(run: Run, data: TransferData, cfg: TransferConfig, name: str,
                       model: TransformerClassifier) -> tuple[History, float]:
    """Train ``model`` (whatever is left trainable) on the sentiment task, test it and record the result.

    The new head gets ``cfg.head_lr``, the rest ``cfg.lr``. Returns the history and the test accuracy.
    """
    from course_lib.models import count_parameters
    from course_lib.training import evaluate

    history = train_classifier(model, data.loader("sentiment", "train", cfg.batch_size, run.seed),
                               data.loader("sentiment", "validation", 256), epochs=cfg.finetune_epochs, lr=cfg.lr,
                               head_lr=cfg.head_lr, patience=cfg.patience, checkpoint=checkpoint_path(run, name),
                               mixed_precision=cfg.mixed_precision, desc=name)
    accuracy = evaluate(model, data.loader("sentiment", "test", 256))["accuracy"]
    trainable, total = count_parameters(model)
    run.record(name, "sentiment", "accuracy", accuracy, trainable_params=trainable, total_params=total,
               best_epoch=history.best_epoch, train_examples=len(data.sentiment["train"]))
    return history, accuracy
