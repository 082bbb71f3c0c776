"""The source's experiment, shared by chapters 1, 4 and 5: a small encoder pretrained on news, adapted to sentiment.

Pretrain :class:`~course_lib.nn.encoder.TransformerClassifier` on a news-topic task (AG News's 4 topics; offline,
BBC News's 5), then adapt it to binary movie-review sentiment (IMDB) in several ways (:func:`build_strategy`).
Chapters 4 (adapters) and 5 (LoRA) start from the very same pretrained encoder. Every run follows the comparison
protocol (:mod:`course_lib.experiments.protocol`): frozen parts in eval mode, a linear probe on features computed
once, an epoch cap the chosen runs must not hit, and each test example's correctness recorded for the paired
verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from course_lib.config import EVAL_BATCH_SIZE, Profile, Run
from course_lib.data import loaders
from course_lib.data.loaders import Sizes, label_names, load_text_classification
from course_lib.data.text import TextPipeline, Vocab, vocab_from_words
from course_lib.data.vectors import WordVectors, get_word_vectors
from course_lib.env import cache_dir, cache_key, publish
from course_lib.experiments.protocol import encode_correct
from course_lib.nn.adapters import add_adapters
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.nn.lora import apply_lora
from course_lib.nn.params import count_parameters, freeze
from course_lib.train.batching import make_loader, tokenize_dataset
from course_lib.train.classifier import History, evaluate, feature_loader, head_inputs, load_weights, train_classifier

# The starting learning-rate grid of every compared run; `make claims` widens it while the best value is on an edge
# (course_lib.experiments.protocol.search_learning_rate) and stores the searches in book/_results/claims_runs.jsonl;
# tests/test_transfer.py checks that the settings below are its choices.
LR_GRID = (1e-3, 3e-3, 1e-2)
STRATEGIES = ("scratch", "full_finetune", "linear_probe", "partial_unfreeze", "adapters", "lora_encoder")


@dataclass(frozen=True)
class TransferConfig:
    """Sizes and optimisation settings of the transfer experiments, per profile.

    ``learning_rates`` holds one learning rate per strategy (body and new head alike), each picked from
    :data:`LR_GRID` on the validation split, so that no strategy wins by a better-tuned step size.
    """

    news_sizes: Sizes
    sentiment_sizes: Sizes
    max_len: int  # tokens kept per text (bounded: the source padded to 1,000+)
    batch_size: int
    pretrain_epochs: int
    finetune_epochs: int
    pretrain_learning_rate: float
    learning_rates: dict = field(default_factory=dict)  # strategy -> learning rate
    patience: int = 3
    mixed_precision: str = "no"  # a request: train_classifier asks `course_lib.precision.choose_precision`
    adapter_bottleneck: int = 16
    lora_r: int = 8
    lora_alpha: float = 16.0
    model: TransformerConfig = field(default_factory=TransformerConfig)

    def learning_rate_for(self, strategy: str) -> float:
        if strategy not in self.learning_rates:
            raise KeyError(f"no learning rate for strategy {strategy!r}; known: {', '.join(self.learning_rates)}")
        return self.learning_rates[strategy]


FAST_LEARNING_RATES = {"scratch": 3e-3, "full_finetune": 3.33e-4, "linear_probe": 1e-2, "partial_unfreeze": 3e-3,
                       "adapters": 3e-3, "lora_encoder": 1e-2}


def config_for(profile: Profile) -> TransferConfig:
    """``fast``: a CPU subset in minutes. ``full``: the source's scale (all of AG News and IMDB) for a GPU.

    ``fast`` adapts with 800 labelled reviews (500 to train on, 300 to pick the best epoch and learning rate on) cut
    at 128 tokens, a 2-core CPU budget: pretraining should pay off most where labels are scarce. Every strategy
    trains until validation accuracy has not improved for ``patience`` epochs, under a cap of ``finetune_epochs``
    that the chosen runs do not reach (a run that does is recorded as capped).
    """
    cfg = profile.pick(
        fast=TransferConfig(
            news_sizes=Sizes(train=3000, validation=300, test=1000),
            sentiment_sizes=Sizes(train=500, validation=300, test=2000),
            max_len=128, batch_size=32, pretrain_epochs=2, finetune_epochs=20, pretrain_learning_rate=1e-3,
            learning_rates=dict(FAST_LEARNING_RATES), patience=3, mixed_precision="no"),
        full=TransferConfig(
            news_sizes=Sizes(train=None, validation=None, test=None),
            sentiment_sizes=Sizes(train=None, validation=None, test=None),
            max_len=512, batch_size=64, pretrain_epochs=20, finetune_epochs=20, pretrain_learning_rate=5e-4,
            learning_rates={k: v / 2 for k, v in FAST_LEARNING_RATES.items()}, patience=4,
            mixed_precision="bf16"),
    )
    return profile.capped_config(cfg, steps=("pretrain_epochs", "finetune_epochs"))


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
    """A short :func:`~course_lib.env.cache_key` of ``settings`` and of the offline data files: part of cached
    weights' names.

    Everything that shapes cached weights besides profile, source and seed goes in (the settings, and offline the
    sha256 of the packaged data files and the format of the files built from them), so that a changed setting or
    corpus never loads a stale checkpoint.
    """
    data_key = ""
    if run.source == "offline":
        data_key = (loaders.OFFLINE_FORMAT, [f.sha256 for f in loaders.PACKAGE_FILES.values()])
    return cache_key(*settings, data_key, length=10)


def news_checkpoint(run: Run, cfg: TransferConfig):
    """The shared file of the news-pretrained encoder, reused by chapters 4 and 5 (see :func:`settings_digest`)."""
    # only what shapes the news encoder: the sentiment settings (label budget, learning rates) do not
    shaping = (cfg.news_sizes, cfg.max_len, cfg.batch_size, cfg.pretrain_epochs, cfg.pretrain_learning_rate,
               cfg.patience, cfg.mixed_precision, cfg.model)
    name = f"news-{run.profile.name}-{run.source}-seed{run.seed}-{settings_digest(run, *shaping)}.safetensors"
    return cache_dir("checkpoints", "news_pretrained") / name


def pretrain_on_news(run: Run, data: TransferData, cfg: TransferConfig) -> tuple[TransformerClassifier, History]:
    """Train the 4-class news classifier and publish its best weights at :func:`news_checkpoint`.

    Training writes to a staging file (:func:`~course_lib.env.publish`) that takes the shared name only when training
    is done, so a chapter that loads the shared file at the same time (chapters 4 and 5 under parallel nbval) never
    sees a half-trained model, and an interrupted run leaves nothing that looks finished.
    """
    torch.manual_seed(run.seed)
    model = new_model(data, cfg, num_labels=len(data.news_labels))
    with publish(news_checkpoint(run, cfg)) as staging:
        history = train_classifier(model, data.loader("news", "train", cfg.batch_size, run.seed),
                                   data.loader("news", "validation", EVAL_BATCH_SIZE), epochs=cfg.pretrain_epochs,
                                   learning_rate=cfg.pretrain_learning_rate, patience=cfg.patience,
                                   checkpoint=staging, mixed_precision=cfg.mixed_precision, desc="news pretraining")
    return model, history


def load_news_pretrained(run: Run, data: TransferData, cfg: TransferConfig) -> TransformerClassifier:
    """The news-pretrained encoder (4-class head), trained first if this profile/source/seed has none yet."""
    path = news_checkpoint(run, cfg)
    if not path.exists():
        print("No news-pretrained encoder for this profile/source/seed yet: training it (chapter 1 does the same)")
        pretrain_on_news(run, data, cfg)
    model = new_model(data, cfg, num_labels=len(data.news_labels))
    return load_weights(model, path)


def build_strategy(name: str, run: Run, data: TransferData, cfg: TransferConfig) -> TransformerClassifier:
    """The model that strategy ``name`` starts from, with exactly its parameters left trainable.

    ==================  ============================================  ===========================================
    strategy            starts from                                   trains
    ==================  ============================================  ===========================================
    scratch             random weights                                encoder + head
    full_finetune       news-pretrained encoder, new head             encoder + head
    linear_probe        news-pretrained encoder, new head             head
    partial_unfreeze    news-pretrained encoder, new head             ``linear2`` of each layer + head
    adapters            news-pretrained encoder, new head             adapters in ``linear1``/``linear2`` + head
    lora_encoder        news-pretrained encoder, new head             LoRA on ``linear1``/``linear2`` + head
    ==================  ============================================  ===========================================
    """
    torch.manual_seed(run.seed)
    if name == "scratch":
        return new_model(data, cfg, num_labels=len(data.sentiment_labels))
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    model = load_news_pretrained(run, data, cfg)
    torch.manual_seed(run.seed)  # the new head and any added weights start the same way in every run
    model.replace_head(num_labels=len(data.sentiment_labels))
    if name == "linear_probe":
        return freeze(model, except_=("classifier",))
    if name == "partial_unfreeze":
        return freeze(model, except_=("linear2", "classifier"))
    if name == "adapters":
        add_adapters(model, ("linear1", "linear2"), cfg.adapter_bottleneck, modules_to_save=["classifier"])
    elif name == "lora_encoder":
        apply_lora(model, ("linear1", "linear2"), r=cfg.lora_r, lora_alpha=cfg.lora_alpha, modules_to_save="classifier")
    return model


def adapt_to_sentiment(run: Run, data: TransferData, cfg: TransferConfig, name: str,
                       model: TransformerClassifier, *, learning_rate: float | None = None,
                       record: bool = True) -> tuple[History, float]:
    """Train ``model`` (whatever is left trainable) on the sentiment task, test it and record the result.

    Every parameter gets the strategy's learning rate ``cfg.learning_rate_for(name)`` (or ``learning_rate``). A
    linear probe trains its head on features computed once by the frozen encoder in eval mode (no dropout), then
    the head goes back on the encoder. Returns the history and the test accuracy; the best epoch is chosen on
    validation, never on test. The recorded run holds each test review's correctness (``test_correct``) for the
    paired verdicts, and ``best_epoch``/``max_epochs``/``capped`` for the convergence rule.
    """
    lr = learning_rate if learning_rate is not None else cfg.learning_rate_for(name)
    log = print if record else (lambda _: None)
    train_loader = data.loader("sentiment", "train", cfg.batch_size, run.seed)
    valid_loader = data.loader("sentiment", "validation", EVAL_BATCH_SIZE)
    if name == "linear_probe":
        train_loader = feature_loader(*head_inputs(model, train_loader), cfg.batch_size, shuffle=True, seed=run.seed)
        valid_loader = feature_loader(*head_inputs(model, valid_loader), EVAL_BATCH_SIZE, shuffle=False)
        target = model.classifier
    else:
        target = model
    history = train_classifier(target, train_loader, valid_loader, epochs=cfg.finetune_epochs, learning_rate=lr,
                               patience=cfg.patience, checkpoint=checkpoint_path(run, name),
                               mixed_precision=cfg.mixed_precision, desc=name, log=log)
    test = evaluate(model, data.loader("sentiment", "test", EVAL_BATCH_SIZE), predictions=True)
    if record:
        trainable, total = count_parameters(model)
        run.record(name, "sentiment", "accuracy", test["accuracy"], trainable_params=trainable, total_params=total,
                   train_examples=len(data.sentiment["train"]),
                   validation_examples=len(data.sentiment["validation"]), learning_rate=lr,
                   best_epoch=history.best_epoch, max_epochs=history.max_epochs, capped=history.capped,
                   test_correct=encode_correct(test["correct"]))
    return history, test["accuracy"]
