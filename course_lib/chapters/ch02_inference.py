"""Chapter 2: inference with pretrained Transformers, by hand and with ``pipeline()``.

One function per task, each taking the hub checkpoint of the source notebook by name and resolving it through
:func:`course_lib.hub.checkpoint`, so the same call runs on the hub checkpoint (``SOURCE=hub``) or on its
offline counterpart (``SOURCE=offline``), and :func:`model_for` says in one line which model is used:

===============  ==================================================  ============================================
task             SOURCE=hub                                          SOURCE=offline (real weights unless noted)
===============  ==================================================  ============================================
sentiment        distilbert-base-uncased-finetuned-sst-2-english     MiniLM-L6 encoder, masked mean pooling + a head
                                                                     trained here on real IMDB reviews
                                                                     (:func:`train_sentiment_head`)
generation       gpt2                                                SmolLM2-135M-Instruct
chat             HuggingFaceTB/SmolLM2-135M-Instruct                 the same model (de-quantised GGUF Q4_1 copy)
translation      t5-small (``AutoModelForSeq2SeqLM`` + ``generate``;  SmolLM2-135M-Instruct via its chat template
                 transformers 5 has no translation pipeline)
fill-mask        bert-base-uncased                                   chapter 3's stand-in: MiniLM + an MLM head
language-id      papluca/xlm-roberta-base-language-detection         SmolLM2-135M-Instruct, asked by prompting
embeddings       sentence-transformers/all-MiniLM-L6-v2              the same model
===============  ==================================================  ============================================

Bad input fails early and says what to do: an unknown task name, a hub id under ``SOURCE=offline``
(:func:`course_lib.hub.reject_hub_id_offline`), an empty prompt. A prompt longer than the model's context is
truncated with a ``UserWarning`` (:func:`fit_to_context`).

Chat templates: only instruction-tuned tokenizers carry one (GPT-2's does not, and transformers 5 raises
``ValueError`` when asked to apply a missing template). The chat demos therefore use the ``chat`` task's model,
an instruction model on both sources, and :func:`generate` with ``chat=True`` falls back to plain prompting, with
a ``UserWarning``, when ``tokenizer.chat_template`` is ``None``: no path applies a template that is not there.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from course_lib import hub
from course_lib.config import Profile, check_source
from course_lib.data.loaders import Sizes, load_text_classification
from course_lib.env import quiet_hf
from course_lib.nn.params import count_parameters
from course_lib.nn.pooling import masked_mean  # noqa: F401  (shown in the chapter)
from course_lib.train.classifier import train_classifier

TASKS = ("sentiment", "generation", "chat", "translation", "fill-mask", "language-id", "embeddings")
HUB_MODELS = {
    "sentiment": hub.SST2,
    "generation": hub.GPT2,
    "chat": hub.SMOLLM2,  # an instruction model: its tokenizer has a chat template
    "translation": hub.T5_SMALL,
    "fill-mask": hub.BERT_UNCASED,
    "language-id": hub.LANGUAGE_ID,
    "embeddings": hub.MINILM,
}
#: the chapter's generation demo: greedy and sampled continuations of one prompt (the settings table reads it)
DEMO_DECODING = {"max_new_tokens": 110, "temperature": 0.8, "top_p": 0.9}
SENTIMENT_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}  # the SST-2 checkpoint's id2label
LANGUAGES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it",
             "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh", "japanese": "ja",
             "arabic": "ar", "polish": "pl", "turkish": "tr", "greek": "el", "hindi": "hi", "swahili": "sw",
             "thai": "th", "urdu": "ur", "vietnamese": "vi", "bulgarian": "bg"}


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


def model_for(task: str, source: str, hub_id: str | None = None, *, profile: Profile | str | None = None,
              seed: int = 0) -> ModelChoice:
    """The checkpoint for ``task`` (default: the source notebook's) under ``source`` (``hub`` or ``offline``).

    Offline, hub ids resolve to local directories with real weights (:mod:`course_lib.hub`); ``fill-mask``
    resolves to chapter 3's stand-in for ``profile`` and ``seed`` (required: a full run must not use a fast-sized
    stand-in), built and cached on first use; ``sentiment`` gives the MiniLM encoder, whose head
    :func:`train_sentiment_head` trains.
    """
    check_task(task)
    hub_id = hub_id or HUB_MODELS[task]
    check_source(source)
    if source == "offline" and Path(hub_id).exists():
        return ModelChoice(task, hub_id, hub_id, f"{task}: local checkpoint {hub_id}")
    if task == "fill-mask" and source == "offline":
        from course_lib.experiments import mlm as ch03_mlm

        if profile is None:
            raise ValueError("the offline fill-mask model is chapter 3's stand-in, sized by the profile: pass "
                             "profile=run.profile")
        path = ch03_mlm.reference_model_dir("offline", seed, profile=profile)
        return ModelChoice(task, hub_id, path, f"{task}: {hub.describe(hub_id, source)}")
    return ModelChoice(task, hub_id, hub.checkpoint(hub_id, source), f"{task}: {hub.describe(hub_id, source)}")


def load(name_or_path: str, source: str, kind: str = "auto", **kwargs):
    """``(model, tokenizer)`` from ``name_or_path`` in eval mode; a hub id under ``SOURCE=offline`` fails at once.

    ``kind``: ``"causal"``, ``"seq2seq"``, ``"classification"``, ``"masked"`` or ``"auto"`` (the bare encoder).
    """
    from transformers import (
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

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
    """The in-chapter sentiment head: how many real IMDB reviews, how many tokens, how long to train."""

    n_train: int
    n_validation: int
    n_test: int
    max_length: int
    epochs: int
    learning_rate: float
    batch_size: int = 32


def config_for(profile: Profile) -> SentimentConfig:
    """Chapter 2's settings: the in-chapter sentiment head (offline)."""
    cfg = profile.pick(fast=SentimentConfig(n_train=320, n_validation=80, n_test=300, max_length=256, epochs=200,
                                             learning_rate=2e-2),
                        full=SentimentConfig(n_train=5000, n_validation=500, n_test=2000, max_length=256,
                                             epochs=200, learning_rate=2e-2))
    return profile.capped_config(cfg, steps=("epochs",), examples=("n_train", "n_validation", "n_test"))


class BertMeanPoolForSequenceClassification(BertPreTrainedModel):
    """A BERT encoder read the sentence-transformers way: masked mean of the token vectors, L2-normalised
    (exactly :func:`embed`), then dropout and a linear ``classifier`` giving one logit per label.

    ``BertForSequenceClassification`` instead reads ``[CLS]`` through the pretrained ``pooler``; all-MiniLM-L6-v2
    was trained as a mean-pooled sentence encoder, so the mean is the representation it learned to make useful.
    """

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def pool(self, input_ids=None, attention_mask=None, token_type_ids=None):
        """The sentence embedding: ``(B, T)`` ids -> ``(B, d)`` unit vectors."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state  # (B, T, d)
        return nn.functional.normalize(masked_mean(hidden, attention_mask), dim=-1)  # (B, d)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        logits = self.classifier(self.dropout(self.pool(input_ids, attention_mask, token_type_ids)))  # (B, C)
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


_QUIETED: set[str] = set()


def _quiet_unsupported_model_notice(class_name: str) -> None:
    """``pipeline()`` logs an error for any model class outside its built-in list, then runs it all the same (it
    only needs a model that returns ``logits``). Drop exactly that notice for our class, nothing else."""
    import logging

    if class_name in _QUIETED:
        return

    class _Drop(logging.Filter):
        def filter(self, record):
            return not str(record.getMessage()).startswith(f"The model '{class_name}' is not supported")

    logging.getLogger("transformers.pipelines.base").addFilter(_Drop())
    _QUIETED.add(class_name)


def mean_pool_classifier(encoder_dir: str, id2label: dict[int, str] | None = None, **kwargs):
    """``BertMeanPoolForSequenceClassification.from_pretrained(encoder_dir)``: the pretrained encoder, a new head."""
    id2label = dict(id2label or SENTIMENT_LABELS)
    _quiet_unsupported_model_notice(BertMeanPoolForSequenceClassification.__name__)
    with quiet_hf():
        return BertMeanPoolForSequenceClassification.from_pretrained(
            encoder_dir, num_labels=len(id2label), id2label=id2label, label2id={v: k for k, v in id2label.items()},
            **kwargs).eval()


@dataclass
class HeadResult:
    model: Any
    tokenizer: Any
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float
    n_train: int
    n_test: int
    max_length: int
    trainable_params: int
    total_params: int
    seconds: float
    train_loss: list[float]


def _pooled_loader(feats, labels, batch_size: int, shuffle: bool = False, seed: int = 0):
    """Batches ``{"features": (B, d), "labels": (B,)}`` of precomputed sentence embeddings."""
    from torch.utils.data import DataLoader, TensorDataset

    def collate(rows):
        return {"features": torch.stack([r[0] for r in rows]), "labels": torch.stack([r[1] for r in rows])}

    return DataLoader(TensorDataset(feats, labels), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed))


def _pooled_features(model, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 32):
    """``model.pool`` of each text, computed once (the encoder is frozen): ``(N, d)``, in the order of ``texts``.

    Texts are batched by length, so that a batch pads to its own longest text, not to ``max_length``.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    feats = torch.empty(len(texts), model.config.hidden_size)
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            feats[idx] = model.pool(**enc)  # (B, d)
    return feats


def train_sentiment_head(encoder_dir: str, data, cfg: SentimentConfig, seed: int = 0) -> HeadResult:
    """A sentiment classifier on a frozen pretrained encoder: only the new ``classifier`` layer trains.

    The model is :class:`BertMeanPoolForSequenceClassification`: the encoder's token vectors are averaged over
    the real tokens (padding left out) and normalised, exactly as :func:`embed` computes sentence embeddings,
    then a new linear ``classifier`` (2 outputs) reads them. The encoder is frozen (a linear probe), so the
    pooled vectors are computed once and the head (dropout + ``classifier``) trains on them with chapter 1's loop,
    :func:`course_lib.train.classifier.train_classifier`, for ``cfg.epochs`` epochs; the epoch with the best
    validation accuracy is kept (the test split is never used to choose).
    Reviews longer than ``cfg.max_length`` tokens keep their *end* (``truncation_side="left"``): a review's
    verdict is often in its last sentences. ``data``: a ``DatasetDict`` with ``train``/``validation``/``test``
    (``text``, ``label``).
    """
    import tempfile

    from transformers import AutoTokenizer

    from course_lib.train.classifier import evaluate

    start = time.perf_counter()
    if not Path(encoder_dir).exists():
        hub.reject_hub_id_offline(encoder_dir)
    torch.manual_seed(seed)
    with quiet_hf():
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir, truncation_side="left")
    model = mean_pool_classifier(encoder_dir)
    model.config.max_length = None
    model.requires_grad_(False)
    texts = {s: list(data[s]["text"][: getattr(cfg, f"n_{s}")]) for s in ("train", "validation", "test")}
    labels = {s: torch.tensor(data[s]["label"][: getattr(cfg, f"n_{s}")]) for s in texts}
    feats = {s: _pooled_features(model, tokenizer, texts[s], cfg.max_length) for s in texts}  # (N, d)
    head = nn.Sequential(model.dropout, model.classifier)  # the model's own layers: training them trains the model
    head.requires_grad_(True)
    head_trainable = count_parameters(head)[0]  # counted while it trains: the model is frozen again below
    loaders = {s: _pooled_loader(feats[s], labels[s], cfg.batch_size, shuffle=s == "train", seed=seed)
               for s in feats}
    with tempfile.TemporaryDirectory() as tmp:
        history = train_classifier(head, loaders["train"], loaders["validation"], epochs=cfg.epochs,
                                   learning_rate=cfg.learning_rate, patience=cfg.epochs,
                                   checkpoint=Path(tmp) / "head.safetensors",
                                   desc="sentiment head", log=lambda line: None)
    accs = {s: evaluate(head, loader)["accuracy"] for s, loader in loaders.items()}
    model.requires_grad_(False)
    model.eval()
    return HeadResult(model=model, tokenizer=tokenizer, train_accuracy=accs["train"],
                      validation_accuracy=accs["validation"], test_accuracy=accs["test"],
                      n_train=len(texts["train"]), n_test=len(texts["test"]), max_length=cfg.max_length,
                      trainable_params=head_trainable,
                      total_params=count_parameters(model)[1],
                      seconds=time.perf_counter() - start, train_loss=history.train_loss)


def sentiment_model(source: str, profile: Profile, seed: int = 0):
    """``(model, tokenizer, description, HeadResult | None)``: the SST-2 checkpoint, or MiniLM + trained head."""
    choice = model_for("sentiment", source)
    if source == "hub":
        model, tokenizer = load(choice.name_or_path, source, "classification")
        return model, tokenizer, choice.description, None
    cfg = config_for(profile)
    with quiet_hf():
        data = load_text_classification("imdb", "offline", Sizes(cfg.n_train, cfg.n_validation, cfg.n_test), seed)
    result = train_sentiment_head(choice.name_or_path, data, cfg, seed)
    return result.model, result.tokenizer, choice.description, result


# --------------------------------------------------------------------------- generation

def has_chat_template(tokenizer) -> bool:
    """True when ``tokenizer`` carries a chat template (instruction-tuned models do; GPT-2 and T5 do not)."""
    return bool(getattr(tokenizer, "chat_template", None))


def generate(model, tokenizer, prompt: str, *, max_new_tokens: int = 40, do_sample: bool = False,
             temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, chat: bool = False,
             system: str | None = None) -> str:
    """Continue ``prompt`` (or answer it, ``chat=True``, through the model's chat template); returns new text only.

    ``chat=True`` on a tokenizer without a chat template (GPT-2) falls back to the plain prompt with a
    ``UserWarning`` instead of failing: see :func:`has_chat_template`.

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
    if chat and not has_chat_template(tokenizer):
        warnings.warn(f"{type(tokenizer).__name__} has no chat template (not an instruction-tuned model): "
                      "the prompt is given as plain text", UserWarning, stacklevel=2)
        chat = False
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
    and ``generate`` (greedy). Offline (or any decoder-only model): the model is asked, through its chat template
    when it has one (:func:`generate`)."""
    import torch

    check_prompt(text)
    if model.config.is_encoder_decoder:
        enc = tokenizer(f"translate English to {target}: {text}", return_tensors="pt", truncation=True,
                        max_length=512)
        with quiet_hf(), torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        return tokenizer.decode(out[0], skip_special_tokens=True).strip()
    return generate(model, tokenizer, f"Translate this English text to {target}. Reply with the translation "
                                      f"only.\n\n{text}", max_new_tokens=max_new_tokens, chat=True)


FRENCH_REFERENCES = {  # accepted translations for the chapter's examples (any one counts as correct)
    "How are you?": ("Comment allez-vous ?", "Comment vas-tu ?", "Comment ça va ?", "Ça va ?"),
    "The weather is nice today.": ("Il fait beau aujourd'hui.", "Le temps est beau aujourd'hui.",
                                   "Aujourd'hui, il fait beau."),
}


def _normalise(text: str) -> str:
    text = text.strip().lower().replace("\u2019", "'").replace("\u00a0", " ")
    text = "".join(c if c.isalnum() or c in "'" else " " for c in text)
    return " ".join(text.split())


def matches_reference(output: str, references: Sequence[str]) -> bool:
    """True when ``output`` equals one of ``references`` up to case, spacing and punctuation (exact match
    otherwise: a crude check, which a correct paraphrase can fail, but which no wrong translation passes)."""
    return _normalise(output) in {_normalise(r) for r in references}


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
    return torch.nn.functional.normalize(masked_mean(hidden, enc["attention_mask"]), dim=-1)  # (B, d)


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


def next_token_entropy(logits, temperature: float = 1.0) -> float:
    """Entropy in bits of ``softmax(logits / temperature)`` over the *whole* vocabulary (not a top-k slice, whose
    probabilities do not sum to 1 and whose entropy would leave out the tail)."""
    import torch

    logp = torch.log_softmax(logits.double() / temperature, dim=-1)  # (vocab,)
    return float(-(logp.exp() * logp).sum() / math.log(2))


def plot_temperature(next_logits, temperatures=(0.5, 1.0, 1.5), top: int = 20, title: str = ""):
    """Probability of the ``top`` most likely next tokens at each temperature, on a log axis (so ranks 2 to
    ``top`` stay visible), each labelled with the entropy of the whole distribution (:func:`next_token_entropy`)."""
    import matplotlib.pyplot as plt
    import torch

    fig, ax = plt.subplots(figsize=(8, 3))
    for t in temperatures:
        p = torch.softmax(next_logits / t, dim=-1).sort(descending=True).values[:top]
        ax.semilogy(range(1, top + 1), p, marker="o",
                    label=f"temperature {t} (entropy {next_token_entropy(next_logits, t):.1f} bits)")
    ax.set(xlabel="rank of the next token", ylabel="probability (log scale)", title=title)
    ax.legend()
    fig.tight_layout()
    return fig
