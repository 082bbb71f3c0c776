"""Chapter 6, part 2: instruction tuning a causal language model with trl's ``SFTTrainer``.

The source notebook fine-tuned ``facebook/opt-350m`` on ``timdettmers/openassistant-guanaco``, dialogues in the
text format ``### Human: <question>### Assistant: <answer>``, with trl's ``DataCollatorForCompletionOnlyLM`` so
that only the assistant's answer contributes to the loss. That collator no longer exists; trl 1.x does the same
with a *prompt/completion* dataset and ``SFTConfig(completion_only_loss=True)``. This module holds:

- :func:`split_dialogue`: the one function that turns a dialogue into ``prompt`` and ``completion`` (tested);
- :func:`build_docs_qa`: the offline dataset, *real* questions and answers taken from CPython's own documentation
  (``What does json.dumps do?`` -> the opening sentences of ``json.dumps.__doc__``; the language-reference topics
  of ``pydoc_data.topics``), written in the guanaco text format and read back through ``load_dataset("json")``
  exactly as the hub files are read;
- the SFT helpers (config, LoRA, trainer, masked-label display, greedy generation) and a token-level F1 metric.

Offline, ``facebook/opt-350m`` is replaced by the real SmolLM2-135M-Instruct (see :mod:`course_lib.hub`).
"""

from __future__ import annotations

import inspect
import json
import random
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from course_lib.config import Profile, Run, cache_dir
from course_lib.data import Sizes, split_and_cap
from course_lib.training import show_progress

HUMAN = "### Human:"
ASSISTANT = "### Assistant:"
GUANACO = "timdettmers/openassistant-guanaco"
DIALOGUE_FORMAT = f"'{HUMAN} <question>{ASSISTANT} <answer>'"


# --------------------------------------------------------------------------------------------------------------
# The dialogue format


def format_dialogue(question: str, answer: str) -> str:
    """One exchange in the guanaco text format: ``### Human: <question>### Assistant: <answer>``."""
    return f"{HUMAN} {question.strip()}{ASSISTANT} {answer.strip()}"


def split_dialogue(text: str) -> dict[str, str]:
    """Split a guanaco dialogue into the ``prompt`` (everything up to and including the first assistant marker)
    and the ``completion`` (the assistant's first answer, up to the next ``### Human:`` turn, if any).

    >>> split_dialogue("### Human: Hi?### Assistant: Hello.")
    {'prompt': '### Human: Hi?### Assistant:', 'completion': ' Hello.'}

    Only the first exchange of a multi-turn dialogue is kept, so that every example has one answer to learn.
    Raises ``ValueError`` naming the expected format when the assistant marker or the answer is missing.
    """
    if not isinstance(text, str):
        raise TypeError(f"a dialogue must be a string in the format {DIALOGUE_FORMAT}, got {type(text).__name__}")
    start = text.find(ASSISTANT)
    if start < 0:
        raise ValueError(f"dialogue has no {ASSISTANT!r} marker: {text[:60]!r}...; expected the format "
                         f"{DIALOGUE_FORMAT}")
    cut = start + len(ASSISTANT)
    prompt, rest = text[:cut], text[cut:]
    end = rest.find(HUMAN)
    completion = (rest if end < 0 else rest[:end]).rstrip()
    if not prompt[:start].strip():
        raise ValueError(f"dialogue has no question before {ASSISTANT!r}: {text[:60]!r}; expected the format "
                         f"{DIALOGUE_FORMAT}")
    if not completion.strip():
        raise ValueError(f"dialogue has no answer after {ASSISTANT!r}: {text[:60]!r}; expected the format "
                         f"{DIALOGUE_FORMAT}")
    if not completion.startswith((" ", "\n")):
        completion = " " + completion  # the answer starts a new word, as after the marker in the guanaco data
    return {"prompt": prompt, "completion": completion}


def to_prompt_completion(ds):
    """Map a ``text`` dataset (or ``DatasetDict``) to ``prompt``/``completion`` columns with :func:`split_dialogue`."""
    from datasets import DatasetDict

    parts = ds.values() if isinstance(ds, DatasetDict) else [ds]
    for part in parts:
        if len(part) == 0:
            raise ValueError("the dialogue dataset is empty: load some dialogues first "
                             f"(one 'text' column in the format {DIALOGUE_FORMAT})")
        if "text" not in part.column_names:
            raise ValueError(f"expected a 'text' column of dialogues, got columns {part.column_names}")
    return ds.map(lambda ex: split_dialogue(ex["text"]), remove_columns=["text"],
                  desc="split dialogues" if show_progress() else None)


# --------------------------------------------------------------------------------------------------------------
# The offline question-answer set, from CPython's documentation

DOC_MODULES = (
    "base64", "bisect", "calendar", "collections", "colorsys", "copy", "csv", "difflib", "filecmp", "fnmatch",
    "functools", "glob", "gzip", "heapq", "html", "inspect", "itertools", "json", "keyword", "linecache", "math",
    "operator", "os", "os.path", "pathlib", "pprint", "random", "re", "secrets", "shlex", "shutil", "statistics",
    "string", "tempfile", "textwrap", "time", "unicodedata", "urllib.parse", "uuid", "warnings", "zlib",
)
DOC_BUILTIN_TYPES = ("str", "bytes", "list", "dict", "set", "int", "float", "tuple")
MIN_ANSWER_CHARS, MAX_ANSWER_CHARS = 25, 220


def _clean_doc_text(text: str) -> str:
    """Docstring / reST markup to plain prose: ``x`` -> x, :func:`x` -> x, "x" quoting of the reference kept."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    text = re.sub(r"`+([^`]+)`+", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _first_sentences(paragraph: str, max_chars: int = MAX_ANSWER_CHARS) -> str:
    """The opening sentences of ``paragraph`` that fit in ``max_chars`` (at least the first one)."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph)
    out = sentences[0]
    for s in sentences[1:]:
        if len(out) + 1 + len(s) > max_chars:
            break
        out += " " + s
    return out


def _clean_answer(paragraph: str) -> str | None:
    """A clean answer from a docstring's first paragraph, or ``None`` when it is not usable prose."""
    text = _first_sentences(_clean_doc_text(paragraph))
    if text.endswith(":"):
        text = text[:-1] + "."
    ok = (MIN_ANSWER_CHARS <= len(text) <= MAX_ANSWER_CHARS and text[0].isupper() and text.endswith(".")
          and "::=" not in text and ">>>" not in text and "deprecated" not in text.lower()
          and "(" not in text.split(" ")[0])  # not a signature line such as "dumps(obj, ...)"
    return text if ok else None


def _documented_objects():
    """``(qualified name, object)`` for the public functions of :data:`DOC_MODULES` and builtin-type methods."""
    import importlib

    for module_name in DOC_MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(vars(module)):
            obj = getattr(module, name)
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                continue
            if getattr(obj, "__module__", None) not in (module.__name__, module_name, None) and not \
                    str(getattr(obj, "__module__", "")).lstrip("_").startswith(module_name.split(".")[0]):
                continue  # re-exported from another module: ask about it where it is defined
            yield f"{module_name}.{name}", obj
    import builtins

    for type_name in DOC_BUILTIN_TYPES:
        cls = getattr(builtins, type_name)
        for name in sorted(vars(cls)):
            if not name.startswith("_"):
                yield f"{type_name}.{name}", getattr(cls, name)


def _topic_pairs() -> list[tuple[str, str]]:
    """Questions about the language reference topics shipped in ``pydoc_data.topics``."""
    from pydoc_data.topics import topics

    pairs = []
    for key in sorted(topics):
        lines = topics[key].strip().splitlines()
        if len(lines) < 3 or not set(lines[1].strip()) <= set("*=-") or not lines[1].strip():
            continue
        title = _clean_doc_text(lines[0]).rstrip(".")
        body = "\n".join(lines[2:]).strip()
        paragraph = body.split("\n\n")[0]
        answer = _clean_answer(paragraph)
        if answer and len(title) < 60:
            title = "the" + title[3:] if title.startswith("The ") else title
            pairs.append((f"What does the Python language reference say about {title}?", answer))
    return pairs


def docs_qa_pairs() -> list[tuple[str, str]]:
    """Every clean ``(question, answer)`` pair from CPython's docstrings and reference topics, in a fixed order.

    Filters: the answer is the docstring's first paragraph cut to its opening sentences (25-220 characters),
    starts with a capital letter, ends with a full stop, has no signature line, grammar rule or doctest, and
    every answer and question appears once (aliases such as ``os.path.join``/``posixpath.join`` are dropped).
    """
    pairs, seen_q, seen_a = [], set(), set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        candidates = [(f"What does {name} do?", inspect.getdoc(obj) or "") for name, obj in _documented_objects()]
    for question, doc in candidates:
        answer = _clean_answer(doc.split("\n\n")[0]) if doc else None
        if answer and question not in seen_q and answer not in seen_a:
            pairs.append((question, answer))
            seen_q.add(question)
            seen_a.add(answer)
    for question, answer in _topic_pairs():
        if answer not in seen_a:
            pairs.append((question, answer))
            seen_a.add(answer)
    return pairs


def build_docs_qa(seed: int = 0, test_fraction: float = 0.15) -> dict[str, Path]:
    """Write :func:`docs_qa_pairs` as guanaco-style JSON-lines files (``{"text": ...}`` per line), once.

    The pairs are shuffled with ``seed`` and split into ``train`` and ``test`` files, the two files of the hub
    dataset; returns ``{"train": path, "test": path}``.
    """
    pairs = docs_qa_pairs()
    folder = cache_dir("data", "docs_qa", f"seed{seed}-n{len(pairs)}")
    files = {split: folder / f"docs_qa_{split}.jsonl" for split in ("train", "test")}
    if all(f.exists() for f in files.values()):
        return files
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test_fraction * len(pairs)))
    chosen = {"test": order[:n_test], "train": order[n_test:]}
    for split, idx in chosen.items():
        tmp = files[split].with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for i in idx:
                f.write(json.dumps({"text": format_dialogue(*pairs[i])}, ensure_ascii=False) + "\n")
        tmp.replace(files[split])
    return files


def load_dialogues(source: str, sizes: Sizes = Sizes(), seed: int = 0):
    """``train``/``validation``/``test`` splits of dialogues, one ``text`` column in the guanaco format.

    ``hub``: ``timdettmers/openassistant-guanaco``; ``offline``: :func:`build_docs_qa`, read with the same
    ``load_dataset`` call. ``validation`` is 5% of ``train`` (seeded), then each split is capped at ``sizes``.
    """
    from datasets import load_dataset

    if source == "hub":
        raw = load_dataset(GUANACO)
    elif source == "offline":
        files = build_docs_qa(seed=0)  # one fixed offline set: the seed only shuffles the training order
        raw = load_dataset("json", data_files={k: str(v) for k, v in files.items()})
    else:
        raise ValueError(f"Unknown source {source!r}; choose one of: hub, offline")
    return split_and_cap(raw, sizes, seed)


# --------------------------------------------------------------------------------------------------------------
# Supervised fine-tuning


@dataclass(frozen=True)
class SFTSettings:
    """Data sizes, sequence length and optimisation settings of part 2, per profile."""

    sizes: Sizes
    max_length: int  # tokens per prompt + completion (longer completions are cut, see `fit_to_max_length`)
    batch_size: int
    max_steps: int  # optimizer steps (-1: use num_train_epochs)
    num_train_epochs: float
    lr: float
    use_lora: bool  # LoRA adapters (peft) instead of updating every weight
    lora_r: int = 16
    lora_alpha: int = 32
    max_new_tokens: int = 48
    gradient_checkpointing: bool = False
    mixed_precision: str = "no"
    hub_id: str = "facebook/opt-350m"


def sft_settings_for(profile: Profile) -> SFTSettings:
    """``fast``: LoRA, a few dozen steps on short sequences (CPU). ``full``: the source's full fine-tuning (GPU)."""
    return profile.pick(
        fast=SFTSettings(sizes=Sizes(train=None, validation=32, test=32), max_length=96, batch_size=8,
                         max_steps=16, num_train_epochs=1, lr=1e-3, use_lora=True, max_new_tokens=32),
        full=SFTSettings(sizes=Sizes(train=None, validation=None, test=None), max_length=1024, batch_size=8,
                         max_steps=-1, num_train_epochs=3, lr=2e-5, use_lora=False, max_new_tokens=128,
                         gradient_checkpointing=True, mixed_precision="bf16"),
    )


def load_causal_lm(run: Run, cfg: SFTSettings):
    """The pretrained causal LM and its tokenizer (with a pad token; prompts are left-padded for generation)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_lib.finetune import resolve_precision
    from course_lib.hub import checkpoint

    path = checkpoint(cfg.hub_id, run.source)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if resolve_precision(cfg.mixed_precision) == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model, tokenizer


def fit_to_max_length(ds, tokenizer, max_length: int, *, min_answer_tokens: int = 4):
    """Keep the prompt/completion examples that fit ``max_length``; say what was dropped or cut.

    An example whose prompt leaves fewer than ``min_answer_tokens`` for the answer is dropped (it would teach
    nothing: trl cuts sequences at ``max_length`` from the end, so the answer would vanish). Longer answers are
    kept and cut by the trainer; both cases raise a warning with the counts. Raises ``ValueError`` when no
    example is left, naming the shortest prompt so the fix (a larger ``max_length``) is clear.
    """
    if len(ds) == 0:
        raise ValueError("the prompt/completion dataset is empty: nothing to fit into max_length")
    prompts, completions = list(ds["prompt"]), list(ds["completion"])
    prompt_lens = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    total_lens = [len(ids) for ids in tokenizer([p + c for p, c in zip(prompts, completions)])["input_ids"]]
    keep = [i for i, n in enumerate(prompt_lens) if n + min_answer_tokens <= max_length]
    if not keep:
        raise ValueError(f"max_length={max_length} is smaller than every prompt plus {min_answer_tokens} answer "
                         f"tokens (the shortest prompt has {min(prompt_lens)} tokens): raise max_length to at "
                         f"least {min(prompt_lens) + min_answer_tokens}")
    dropped = len(ds) - len(keep)
    cut = sum(total_lens[i] + 1 > max_length for i in keep)  # + 1: trl appends the EOS token
    if dropped:
        warnings.warn(f"{dropped} of {len(ds)} examples dropped: their prompt leaves fewer than "
                      f"{min_answer_tokens} of max_length={max_length} tokens for the answer", stacklevel=2)
    if cut:
        warnings.warn(f"{cut} of {len(keep)} answers are longer than max_length={max_length} allows and will be "
                      "cut", stacklevel=2)
    return ds.select(keep) if dropped else ds


def add_lora(model, cfg: SFTSettings):
    """Wrap ``model`` with peft LoRA adapters on every linear layer of the attention and MLP blocks."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
                        task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # transformers 5 renames gradient checkpointing; peft still asks the old name
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, config)


def make_sft_trainer(model, tokenizer, train, cfg: SFTSettings, *, eval_dataset=None, output_dir, seed: int = 0):
    """An ``SFTTrainer`` on a prompt/completion dataset with completion-only loss (prompt tokens get label -100).

    Nothing is saved during training and nothing is reported to external trackers; the loss is logged every
    few steps into ``trainer.state.log_history``.
    """
    import torch
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    from course_lib.finetune import resolve_precision

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():  # trl 1.x still sets the renamed `gradient_checkpointing` argument
            warnings.simplefilter("ignore", FutureWarning)
            args = SFTConfig(
                output_dir=str(output_dir), max_length=cfg.max_length, completion_only_loss=True,
                per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
                max_steps=cfg.max_steps, num_train_epochs=cfg.num_train_epochs, learning_rate=cfg.lr,
                lr_scheduler_type="linear", warmup_steps=0, logging_steps=5, eval_strategy="no",
                save_strategy="no", report_to="none", seed=seed, data_seed=seed,
                bf16=resolve_precision(cfg.mixed_precision) == "bf16",
                gradient_checkpointing=cfg.gradient_checkpointing, disable_tqdm=not show_progress(),
                dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
            )
            trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=eval_dataset,
                                 processing_class=tokenizer)
        if not show_progress():  # without progress bars the trainer would print every log dict instead
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
    finally:
        hf_logging.set_verbosity(verbosity)
    return trainer


def masked_label_rows(example: dict, tokenizer, max_rows: int | None = None) -> list[dict]:
    """One prepared training example as rows ``token / input_id / label``; masked labels (-100) show as such.

    ``example`` is a row of ``trainer.train_dataset`` (``input_ids`` and ``labels``).
    """
    tokens = tokenizer.convert_ids_to_tokens(example["input_ids"])
    rows = [{"pos": i, "token": repr(tokenizer.convert_tokens_to_string([t])), "input_id": str(int(ids)),
             "label": "-100 (masked)" if lab == -100 else str(int(lab))}
            for i, (t, ids, lab) in enumerate(zip(tokens, example["input_ids"], example["labels"]))]
    return rows if max_rows is None else rows[:max_rows]


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 48,
                     batch_size: int = 8) -> list[str]:
    """Greedy answers to ``prompts`` (deterministic), cut where the model starts a new ``### Human:`` turn."""
    import torch

    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"  # generation continues from the right end of every prompt
    answers = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
            batch = {k: v.to(next(model.parameters()).device) for k, v in batch.items()}
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]  # (B, new tokens)
            for text in tokenizer.batch_decode(new, skip_special_tokens=True):
                answers.append(text.split("###")[0].strip())
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 between two texts: lower-cased word overlap (a bag of words), harmonic mean of
    precision and recall. 1.0 for identical word bags, 0.0 when nothing is shared (or one side is empty)."""
    pred, ref = _words(prediction), _words(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def mean_token_f1(predictions: list[str], references: list[str]) -> float:
    """Average :func:`token_f1` over pairs; the lists must have the same, non-zero length."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (>0), got {len(predictions)} and "
                         f"{len(references)}")
    return sum(token_f1(p, r) for p, r in zip(predictions, references)) / len(references)
