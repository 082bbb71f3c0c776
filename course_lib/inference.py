"""Chapter 2: inference with pretrained Transformers, by hand and with ``pipeline()``.

One function per task, each taking the hub checkpoint of the source notebook by name and resolving it through
:func:`course_lib.hub.checkpoint`, so the same call runs on the hub checkpoint (``SOURCE=hub``) or on its
offline counterpart (``SOURCE=offline``), and :func:`model_for` says in one line which model is used:

===============  ==================================================  ============================================
task             SOURCE=hub                                          SOURCE=offline (real weights unless noted)
===============  ==================================================  ============================================
sentiment        distilbert-base-uncased-finetuned-sst-2-english     MiniLM-L6 encoder + a head trained here on
                                                                     synthetic reviews (:func:`train_sentiment_head`)
generation       gpt2                                                SmolLM2-135M-Instruct
translation      t5-small (``AutoModelForSeq2SeqLM`` + ``generate``;  SmolLM2-135M-Instruct via its chat template
                 transformers 5 has no translation pipeline)
fill-mask        bert-base-uncased                                   chapter 3's stand-in (NOT real BERT weights)
language-id      papluca/xlm-roberta-base-language-detection         SmolLM2-135M-Instruct, asked by prompting
embeddings       sentence-transformers/all-MiniLM-L6-v2              the same model
===============  ==================================================  ============================================

Bad input fails early and says what to do: an unknown task name, a hub id under ``SOURCE=offline``
(:func:`course_lib.hub.reject_hub_id_offline`), an empty prompt. A prompt longer than the model's context is
truncated with a ``UserWarning`` (:func:`fit_to_context`).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib import hub
from course_lib.config import Profile

TASKS = ("sentiment", "generation", "translation", "fill-mask", "language-id", "embeddings")
HUB_MODELS = {
    "sentiment": "distilbert-base-uncased-finetuned-sst-2-english",
    "generation": "gpt2",
    "translation": "t5-small",
    "fill-mask": "bert-base-uncased",
    "language-id": "papluca/xlm-roberta-base-language-detection",
    "embeddings": "sentence-transformers/all-MiniLM-L6-v2",
}
SENTIMENT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # the SST-2 checkpoint's id2label
LANGUAGES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
             "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja",
             "arabic": "ar", "polish": "pl", "turkish": "tr", "greek": "el", "hindi": "hi", "swahili": "sw",
             "thai": "th", "urdu": "ur", "vietnamese": "vi", "bulgarian": "bg"}


@contextlib.contextmanager
def quiet_hf():
    """Silence transformers' info/warning chatter (it goes to stderr, which nbval compares)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # also covers import-time warnings (tqdm's IProgress notice)
        import transformers

        old, bars = transformers.logging.get_verbosity(), transformers.utils.logging.is_progress_bar_enabled()
        transformers.logging.set_verbosity_error()
        if os.environ.get("COURSE_LIB_PROGRESS", "1") == "0":
            transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars
        try:
            yield
        finally:
            transformers.logging.set_verbosity(old)
            if bars:
                transformers.utils.logging.enable_progress_bar()


# ------------------------------------------------------------------------------------------- checks

def check_task(task: str) -> str:
    """Return ``task`` if it is one of :data:`TASKS`, else raise ``ValueError`` listing them."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    return task


def check_prompt(text: Any, what: str = "prompt") -> str:
    """A non-empty string, or ``ValueError`` (an empty prompt gives the model nothing to condition on)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty {what} {text!r}: pass some text")
    return text


def fit_to_context(tokenizer, text: str, max_tokens: int, *, keep: str = "end") -> str:
    """``text`` unchanged if it fits in ``max_tokens`` tokens, else truncated with a ``UserWarning``.

    ``keep="end"`` keeps the last tokens (what a causal LM continues from); ``keep="start"`` keeps the first.
    """
    check_prompt(text)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    kept = ids[-max_tokens:] if keep == "end" else ids[:max_tokens]
    warnings.warn(f"prompt has {len(ids)} tokens, more than the {max_tokens} that fit the model's context: "
                  f"kept the {'last' if keep == 'end' else 'first'} {max_tokens}", UserWarning, stacklevel=2)
    return tokenizer.decode(kept)


# ------------------------------------------------------------------------------------------- models

@dataclass(frozen=True)
class ModelChoice:
    """Which checkpoint a task uses: what to pass to ``from_pretrained`` and a line saying what it is."""

    task: str
    hub_id: str
    name_or_path: str
    description: str


def model_for(task: str, source: str, hub_id: str | None = None) -> ModelChoice:
    """The checkpoint for ``task`` (default: the source notebook's) under ``source`` (``hub`` or ``offline``).

    Offline, hub ids resolve to local directories with real weights (:mod:`course_lib.hub`); ``fill-mask``
    resolves to chapter 3's stand-in, built and cached on first use; ``sentiment`` gives the MiniLM encoder,
    whose head :func:`train_sentiment_head` trains.
    """
    check_task(task)
    hub_id = hub_id or HUB_MODELS[task]
    if source not in ("hub", "offline"):
        raise ValueError(f"Unknown source {source!r}; choose one of: hub, offline")
    if source == "offline" and Path(hub_id).exists():
        return ModelChoice(task, hub_id, hub_id, f"{task}: local checkpoint {hub_id}")
    if task == "fill-mask" and source == "offline":
        from course_lib import mlm

        path = mlm.reference_model_dir("offline")
        return ModelChoice(task, hub_id, path, f"{task}: {hub.describe(hub_id, source)}")
    return ModelChoice(task, hub_id, hub.checkpoint(hub_id, source), f"{task}: {hub.describe(hub_id, source)}")


def load(name_or_path: str, source: str, kind: str = "auto", **kwargs):
    """``(model, tokenizer)`` from ``name_or_path`` in eval mode; a hub id under ``SOURCE=offline`` fails at once.

    ``kind``: ``"causal"``, ``"seq2seq"``, ``"classification"``, ``"masked"`` or ``"auto"`` (the bare encoder).
    """
    from transformers import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM,
                              AutoModelForSequenceClassification, AutoTokenizer)

    classes = {"causal": AutoModelForCausalLM, "seq2seq": AutoModelForSeq2SeqLM,
               "classification": AutoModelForSequenceClassification, "masked": AutoModelForMaskedLM,
               "auto": AutoModel}
    if kind not in classes:
        raise ValueError(f"Unknown model kind {kind!r}; choose one of: {', '.join(classes)}")
    if source == "offline":
        hub.reject_hub_id_offline(name_or_path)
    with quiet_hf():
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = classes[kind].from_pretrained(name_or_path, **kwargs).eval()
    return model, tokenizer


# --------------------------------------------------------------------------- sentiment: the manual path

@dataclass
class ManualSteps:
    """Every intermediate of the manual classification path, for printing."""

    input_ids: Any  # (B, T)
    attention_mask: Any  # (B, T)
    tokens: list[list[str]]
    logits: Any  # (B, C)
    probs: Any  # (B, C)
    predicted: list[int]
    labels: list[str]
    scores: list[float]


def classify_manual(model, tokenizer, texts: str | Sequence[str], max_length: int | None = None) -> ManualSteps:
    """Tokenizer -> model (no grad) -> logits -> softmax -> argmax -> ``config.id2label``, keeping each stage."""
    import torch

    texts = [texts] if isinstance(texts, str) else list(texts)
    for t in texts:
        check_prompt(t, "text")
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits  # (B, C)
    probs = torch.softmax(logits, dim=-1)  # (B, C), rows sum to 1
    predicted = probs.argmax(dim=-1).tolist()
    return ManualSteps(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                       tokens=[tokenizer.convert_ids_to_tokens(row) for row in enc["input_ids"].tolist()],
                       logits=logits, probs=probs, predicted=predicted,
                       labels=[model.config.id2label[i] for i in predicted],
                       scores=[float(probs[b, i]) for b, i in enumerate(predicted)])


def classify_pipeline(model, tokenizer, texts: str | Sequence[str], max_length: int | None = None) -> list[dict]:
    """The same classification through ``pipeline("text-classification")``: ``[{"label", "score"}, ...]``."""
    from transformers import pipeline

    texts = [texts] if isinstance(texts, str) else list(texts)
    for t in texts:
        check_prompt(t, "text")
    with quiet_hf():
        clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=model.device)
        kwargs = {"truncation": True} if max_length is None else {"truncation": True, "max_length": max_length}
        return clf(texts, **kwargs)


def agree(steps: ManualSteps, piped: list[dict], atol: float = 1e-4) -> bool:
    """True when the pipeline gives the manual path's labels and (within ``atol``) its probabilities."""
    return len(piped) == len(steps.labels) and all(
        p["label"] == lab and abs(p["score"] - s) <= atol for p, lab, s in zip(piped, steps.labels, steps.scores))


# --------------------------------------------------------------------------- sentiment head (offline)

@dataclass(frozen=True)
class SentimentConfig:
    """The in-chapter sentiment head: how many synthetic reviews, how many tokens, how long to train."""

    n_train: int
    n_validation: int
    n_test: int
    max_length: int
    epochs: int
    learning_rate: float
    batch_size: int = 32


def sentiment_config(profile: Profile) -> SentimentConfig:
    return profile.pick(fast=SentimentConfig(n_train=480, n_validation=64, n_test=200, max_length=40, epochs=100,
                                             learning_rate=1e-2),
                        full=SentimentConfig(n_train=5000, n_validation=500, n_test=2000, max_length=64,
                                             epochs=100, learning_rate=1e-2))


@dataclass
class HeadResult:
    model: Any
    tokenizer: Any
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float
    trainable_params: int
    total_params: int
    seconds: float
    train_loss: list[float]


def _cls_features(encoder, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 32):
    """The frozen encoder's final hidden state at ``[CLS]`` for each text: ``(N, d)``."""
    import torch

    feats = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            feats.append(encoder(**enc).last_hidden_state[:, 0])  # (B, d)
    return torch.cat(feats)


def train_sentiment_head(encoder_dir: str, data, cfg: SentimentConfig, seed: int = 0) -> HeadResult:
    """A sentiment classifier on a frozen pretrained encoder: only the new ``classifier`` layer trains.

    ``AutoModelForSequenceClassification`` puts the pretrained ``pooler`` (dense + tanh on ``[CLS]``) and a new
    ``classifier`` (linear, 2 outputs) on the encoder. Everything but the classifier is frozen (a linear probe),
    so the pooled ``[CLS]`` vectors are computed once and the classifier trains on them for ``cfg.epochs``
    passes (AdamW, weight decay); the best validation epoch is kept. Reviews are truncated from the *left*
    (``truncation_side="left"``) to ``cfg.max_length`` tokens: the verdict of a review usually comes last.
    ``data``: a ``DatasetDict`` with ``train``/``validation``/``test`` (``text``, ``label``).
    """
    import torch
    from torch import nn
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    start = time.perf_counter()
    hub.reject_hub_id_offline(encoder_dir) if not Path(encoder_dir).exists() else None
    torch.manual_seed(seed)
    with quiet_hf():
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir, truncation_side="left")
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_dir, num_labels=2, id2label=dict(SENTIMENT_LABELS),
            label2id={v: k for k, v in SENTIMENT_LABELS.items()}).eval()
    model.config.max_length = None
    base = getattr(model, model.base_model_prefix)
    for p in base.parameters():
        p.requires_grad_(False)
    if getattr(base, "pooler", None) is None:
        raise ValueError("this encoder has no pooler; pass a BERT-family checkpoint")
    head = model.classifier
    for p in head.parameters():
        p.requires_grad_(True)
    texts = {s: data[s]["text"][: getattr(cfg, f"n_{s}")] for s in ("train", "validation", "test")}
    labels = {s: torch.tensor(data[s]["label"][: getattr(cfg, f"n_{s}")]) for s in texts}
    feats = {s: _cls_features(base, tokenizer, texts[s], cfg.max_length) for s in texts}  # (N, d)

    with torch.no_grad():  # the frozen pooler: dense + tanh on [CLS], exactly as in the model's forward
        feats = {s: base.pooler.activation(base.pooler.dense(f)) for s, f in feats.items()}

    def forward(x):  # (N, d) -> (N, 2): dropout + classifier, as in BertForSequenceClassification
        return head(model.dropout(x))

    opt = torch.optim.AdamW(head.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, losses = -1.0, None, []
    for _ in range(cfg.epochs):
        head.train(), model.dropout.train()
        order = torch.randperm(len(labels["train"]), generator=gen)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = nn.functional.cross_entropy(forward(feats["train"][idx]), labels["train"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
        head.eval(), model.dropout.eval()
        with torch.no_grad():
            acc = (forward(feats["validation"]).argmax(-1) == labels["validation"]).float().mean().item()
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        accs = {s: (forward(feats[s]).argmax(-1) == labels[s]).float().mean().item() for s in feats}
    trainable = sum(p.numel() for p in head.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    return HeadResult(model=model, tokenizer=tokenizer, train_accuracy=accs["train"],
                      validation_accuracy=accs["validation"], test_accuracy=accs["test"],
                      trainable_params=trainable, total_params=sum(p.numel() for p in model.parameters()),
                      seconds=time.perf_counter() - start, train_loss=losses)


def sentiment_model(source: str, profile: Profile, seed: int = 0):
    """``(model, tokenizer, description, HeadResult | None)``: the SST-2 checkpoint, or MiniLM + trained head."""
    choice = model_for("sentiment", source)
    if source == "hub":
        model, tokenizer = load(choice.name_or_path, source, "classification")
        return model, tokenizer, choice.description, None
    from course_lib.data import Sizes, load_text_classification

    cfg = sentiment_config(profile)
    with quiet_hf():
        data = load_text_classification("imdb", "offline", Sizes(cfg.n_train, cfg.n_validation, cfg.n_test), seed)
    result = train_sentiment_head(choice.name_or_path, data, cfg, seed)
    return result.model, result.tokenizer, choice.description, result


# --------------------------------------------------------------------------- generation

def generate(model, tokenizer, prompt: str, *, max_new_tokens: int = 40, do_sample: bool = False,
             temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, chat: bool = False,
             system: str | None = None) -> str:
    """Continue ``prompt`` (or answer it, ``chat=True``, through the model's chat template); returns new text only.

    Greedy (``do_sample=False``) always takes the most likely token; sampling draws from the softmax at
    ``temperature``, restricted to the smallest set of tokens whose probability reaches ``top_p``. The seed
    makes a sampled continuation repeat. A prompt longer than the context is truncated (``UserWarning``).
    """
    import torch

    check_prompt(prompt)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", 1024)
    prompt = fit_to_context(tokenizer, prompt, max(1, context - max_new_tokens - 32))
    if chat:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user",
                                                                                    "content": prompt}]
        enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
    else:
        enc = tokenizer(prompt, return_tensors="pt")
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0} if do_sample else {
        "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    torch.manual_seed(seed)
    with quiet_hf(), torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=pad, **sampling)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def repeated_ngram_fraction(text: str, n: int = 3) -> float:
    """Share of the word n-grams in ``text`` that already occurred earlier in it (0 = no repetition)."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    seen, repeats = set(), 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


# --------------------------------------------------------------------------- translation

def translate(model, tokenizer, text: str, target: str = "French", *, source: str,
              max_new_tokens: int = 40) -> str:
    """English -> ``target``. Hub: T5's ``"translate English to French: ..."`` prefix, ``AutoModelForSeq2SeqLM``
    and ``generate`` (greedy). Offline: the instruction model, asked through its chat template."""
    import torch

    check_prompt(text)
    if source == "hub" and model.config.is_encoder_decoder:
        enc = tokenizer(f"translate English to {target}: {text}", return_tensors="pt", truncation=True,
                        max_length=512)
        with quiet_hf(), torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        return tokenizer.decode(out[0], skip_special_tokens=True).strip()
    return generate(model, tokenizer, f"Translate this English text to {target}. Reply with the translation "
                                      f"only.\n\n{text}", max_new_tokens=max_new_tokens, chat=True)


# --------------------------------------------------------------------------- language identification

def detect_language(model, tokenizer, text: str, *, source: str) -> dict:
    """``{"label": ISO 639-1 code, "score": ...}``. Hub: the XLM-R language-detection classifier (pipeline).

    Offline: the instruction model is asked which language the text is in; the language name in its answer
    becomes the code, and the score is ``None`` (a generated answer has no calibrated probability).
    """
    check_prompt(text)
    if source == "hub":
        return classify_pipeline(model, tokenizer, [text])[0]
    answer = generate(model, tokenizer, f"Which language is this text written in? Answer with the name of the "
                                        f"language only.\n\nText: {text}", max_new_tokens=12, chat=True)
    low = answer.lower()
    found = sorted((low.find(name), code) for name, code in LANGUAGES.items() if name in low)
    return {"label": found[0][1] if found else "unknown", "score": None, "answer": answer}


# --------------------------------------------------------------------------- embeddings

def embed(model, tokenizer, texts: Sequence[str], max_length: int = 256):
    """Sentence embeddings: masked mean of the last hidden states, L2-normalised (all-MiniLM-L6-v2's recipe)."""
    import torch

    texts = [texts] if isinstance(texts, str) else list(texts)
    for t in texts:
        check_prompt(t, "sentence")
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state  # (B, T, d)
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, d)
    return torch.nn.functional.normalize(mean, dim=-1)


def cosine_matrix(embeddings):
    """All pairwise cosine similarities of row vectors: ``(N, N)``."""
    import torch

    e = torch.nn.functional.normalize(embeddings, dim=-1)
    return e @ e.T


def plot_similarity(sim, labels: Sequence[str], title: str = "cosine similarity"):
    """A heatmap of a similarity matrix with the sentences as tick labels."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    im = ax.imshow(sim, vmin=-0.1, vmax=1, cmap="viridis")
    short = [s if len(s) <= 32 else s[:30] + "..." for s in labels]
    ax.set_xticks(range(len(short)), short, rotation=45, ha="right")
    ax.set_yticks(range(len(short)), short)
    for i in range(len(short)):
        for j in range(len(short)):
            ax.text(j, i, f"{float(sim[i, j]):.2f}", ha="center", va="center", fontsize=8,
                    color="w" if sim[i, j] < 0.6 else "k")
    fig.colorbar(im, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- timing

def median_seconds(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency_table(model, tokenizer, texts: Sequence[str], repeat: int = 5) -> list[dict]:
    """Manual path vs ``pipeline()`` on the same batch: median milliseconds per call and per text."""
    from transformers import pipeline

    with quiet_hf():
        clf = pipeline("text-classification", model=model, tokenizer=tokenizer, device=model.device)
        rows = []
        for name, fn in (("manual (one padded batch)", lambda: classify_manual(model, tokenizer, texts)),
                         ("pipeline, batch_size=1 (default)", lambda: clf(list(texts))),
                         (f"pipeline, batch_size={len(texts)}", lambda: clf(list(texts), batch_size=len(texts)))):
            s = median_seconds(fn, repeat=repeat)
            rows.append({"path": name, "ms per call": 1000 * s, "ms per text": 1000 * s / len(texts)})
    return rows


def softmax(logits):
    """Numerically stable softmax over the last axis (the same as ``torch.softmax``)."""
    import torch

    z = logits - logits.max(dim=-1, keepdim=True).values
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)


def entropy_bits(probs) -> float:
    """Entropy of a probability vector in bits (how unsure the model is)."""
    return float(-sum(float(p) * math.log2(float(p)) for p in probs if float(p) > 0))
