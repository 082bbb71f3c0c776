"""Chapter 6, part 2: instruction tuning a causal language model with trl's ``SFTTrainer``.

The source notebook fine-tuned ``facebook/opt-350m`` on ``timdettmers/openassistant-guanaco``, dialogues in the
text format ``### Human: <question>### Assistant: <answer>``, with trl's ``DataCollatorForCompletionOnlyLM`` so
that only the assistant's answer contributes to the loss. That collator no longer exists; trl 1.x does the same
with a *prompt/completion* dataset and ``SFTConfig(completion_only_loss=True)``. This module holds:

- :func:`course_lib.data.corpora.split_dialogue`: the one function that turns a dialogue into ``prompt`` and
  ``completion`` (tested);
- :func:`course_lib.data.corpora.docs_qa_files`: the offline dataset, *real* questions and answers taken from
  CPython's own documentation
  (``What does json.dumps do?`` -> the opening sentences of ``json.dumps.__doc__``; the language-reference topics
  of ``pydoc_data.topics``), in the guanaco text format, read through ``load_dataset("json")`` exactly as the hub
  files are read. Docstrings differ between Python builds, so the pairs were extracted once
  (``scripts/make_docs_qa.py``) and ship frozen in ``course_lib/datafiles/docs_qa/``, sha256-checked;
- the SFT helpers (config, LoRA, trainer, masked-label display, greedy generation) and a token-level F1 metric.

Offline, ``facebook/opt-350m`` is replaced by the real SmolLM2-135M-Instruct (see :mod:`course_lib.hub`).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass

from course_lib import hub, precision
from course_lib.config import Profile, Run
from course_lib.data.corpora import ASSISTANT, HUMAN
from course_lib.data.loaders import Sizes
from course_lib.env import quiet_hf, show_progress
from course_lib.hub import checkpoint
from course_lib.train.hf_trainer import quiet_trainer

# --------------------------------------------------------------------------------------------------------------
# Supervised fine-tuning


@dataclass(frozen=True)
class Decoding:
    """Greedy decoding settings for :func:`generate_answers` (``transformers`` ``generate`` arguments).

    ``repetition_penalty`` > 1 divides the score of every token already in the text; ``no_repeat_ngram_size=n``
    forbids repeating any n-gram. A small model that has seen few examples tends to loop
    (``glob.glob.glob...``); these two settings stop the loops without sampling.
    """

    max_new_tokens: int = 48
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0


@dataclass(frozen=True)
class SFTSettings:
    """Data sizes, sequence length and optimisation settings of part 2, per profile."""

    sizes: Sizes
    max_length: int  # tokens per prompt + completion (longer completions are cut, see `fit_to_max_length`)
    batch_size: int
    max_steps: int  # optimizer steps (-1: use num_train_epochs)
    num_train_epochs: float
    learning_rate: float
    use_lora: bool  # LoRA adapters (peft) instead of updating every weight
    lora_r: int = 16
    lora_alpha: int = 32
    max_new_tokens: int = 48
    repetition_penalty: float = 1.0  # decoding settings for the generations, see `Decoding`
    no_repeat_ngram_size: int = 0
    activation_checkpointing: bool = False  # recompute activations in the backward pass (transformers 5 name)
    mixed_precision: str = "no"  # a request: `course_lib.precision.choose_precision` decides what the GPU does
    hub_id: str = hub.OPT_350M

    @property
    def decoding(self) -> Decoding:
        return Decoding(self.max_new_tokens, self.repetition_penalty, self.no_repeat_ngram_size)


def config_for(profile: Profile) -> SFTSettings:
    """``fast``: LoRA, 16 steps on short sequences (CPU), every held-out question answered with 32 new tokens at
    most; ``no_repeat_ngram_size=3`` stops the loops a barely tuned model falls into. ``full``: the source's full
    fine-tuning (GPU)."""
    cfg = profile.pick(
        fast=SFTSettings(sizes=Sizes(train=None, validation=32, test=None), max_length=96, batch_size=8,
                         max_steps=16, num_train_epochs=1, learning_rate=1e-3, use_lora=True, max_new_tokens=32,
                         no_repeat_ngram_size=3),
        full=SFTSettings(sizes=Sizes(train=None, validation=None, test=None), max_length=1024, batch_size=8,
                         max_steps=-1, num_train_epochs=3, learning_rate=2e-5, use_lora=False, max_new_tokens=128,
                         no_repeat_ngram_size=3,
                         activation_checkpointing=True, mixed_precision="bf16"),
    )
    return profile.capped_config(cfg, steps=("max_steps", "num_train_epochs"))


def load_causal_lm(run: Run, cfg: SFTSettings):
    """The pretrained causal LM and its tokenizer (with a pad token; prompts are left-padded for generation).

    The weights are loaded in float32 (:attr:`course_lib.precision.Precision.weights_dtype`) even when training
    runs in bf16 or fp16, and placed on the training device. The ``Trainer``'s ``bf16``/``fp16`` autocast runs the
    matrix products in low precision, while AdamW updates float32 *master weights*. Weights stored in bfloat16 and
    updated by plain AdamW would lose every update smaller than about 0.2% of the weight (bfloat16 keeps 8
    significant bits), and a full fine-tuning step at ``learning_rate=2e-5`` is far smaller; fp16 weights cannot be
    trained
    with the gradient scaler at all (it refuses to unscale fp16 gradients). LoRA adapters are float32 for the same
    reason: they are the weights being trained.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = checkpoint(cfg.hub_id, run.source)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = precision.choose_precision(cfg.mixed_precision).weights_dtype
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(precision.training_device())
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


def sft_config(cfg: SFTSettings, output_dir, seed: int = 0):
    """trl's ``SFTConfig`` for a prompt/completion dataset: the loss is computed on the completion only.

    ``completion_only_loss=True`` gives every prompt token the label -100; trl appends the end-of-sequence token
    to every completion and cuts sequences at ``max_length``. Nothing is saved during training and nothing is
    reported to external trackers; the loss is logged every few steps into ``trainer.state.log_history``.

    ``bf16``/``fp16`` come from :func:`course_lib.precision.choose_precision` and are always given (trl switches
    ``bf16`` on when it is left out). ``activation_checkpointing`` is transformers 5's name for what was
    ``gradient_checkpointing``; it is always given too, because trl's default ``gradient_checkpointing=True``
    would otherwise turn checkpointing on under the deprecated name.
    """
    import torch
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir), completion_only_loss=True, max_length=cfg.max_length,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        max_steps=cfg.max_steps, num_train_epochs=cfg.num_train_epochs, learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear", warmup_steps=0, logging_steps=5, eval_strategy="no",
        save_strategy="no", report_to="none", seed=seed, data_seed=seed,
        **precision.choose_precision(cfg.mixed_precision).trainer_flags,
        activation_checkpointing=cfg.activation_checkpointing, disable_tqdm=not show_progress(),
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
    )


def make_sft_trainer(model, tokenizer, train, cfg: SFTSettings, *, eval_dataset=None, output_dir, seed: int = 0):
    """An ``SFTTrainer`` with :func:`sft_config` on a prompt/completion dataset (columns ``prompt``,
    ``completion``): trl tokenises each pair, appends EOS and masks the prompt's labels with -100."""
    from trl import SFTTrainer

    args = sft_config(cfg, output_dir, seed)
    with quiet_hf():
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=eval_dataset,
                             processing_class=tokenizer)
    return quiet_trainer(trainer)


def masked_label_rows(example: dict, tokenizer, max_rows: int | None = None) -> list[dict]:
    """One prepared training example as rows ``token / input_id / label``; masked labels (-100) show as such.

    ``example`` is a row of ``trainer.train_dataset`` (``input_ids`` and ``labels``).
    """
    tokens = tokenizer.convert_ids_to_tokens(example["input_ids"])
    rows = [{"pos": i, "token": repr(tokenizer.convert_tokens_to_string([t])), "input_id": str(int(ids)),
             "label": "-100 (masked)" if lab == -100 else str(int(lab))}
            for i, (t, ids, lab) in enumerate(zip(tokens, example["input_ids"], example["labels"]))]
    return rows if max_rows is None else rows[:max_rows]


def chat_prompt(tokenizer, prompt: str) -> str:
    """A guanaco ``prompt`` rewritten in the model's own chat template (the format an instruct model was tuned
    with): the question becomes a ``user`` message, followed by the template's assistant header.

    A base model without a chat template (``facebook/opt-350m``, the hub model) has no format of its
    own: the prompt is returned unchanged with a ``UserWarning``, so both baselines are then the guanaco format.
    """
    if not getattr(tokenizer, "chat_template", None):
        warnings.warn(f"{type(tokenizer).__name__} has no chat template: the guanaco prompt is used as it is",
                      UserWarning, stacklevel=2)
        return prompt
    question = prompt.removeprefix(HUMAN).removesuffix(ASSISTANT).strip()
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def generate_answers(model, tokenizer, prompts: list[str], decoding: Decoding | int = Decoding(),
                     batch_size: int = 8, *, return_stopped: bool = False):
    """Greedy answers to ``prompts`` (deterministic), cut where the model starts a new ``###`` turn.

    ``decoding`` is a :class:`Decoding` (an int is read as ``max_new_tokens``). With ``return_stopped=True``
    also returns, per answer, whether the model ended it itself (an end-of-sequence token or a new ``###``
    turn) rather than running into ``max_new_tokens``.
    """
    import torch

    if isinstance(decoding, int):
        decoding = Decoding(max_new_tokens=decoding)
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"  # generation continues from the right end of every prompt
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
    answers, stopped = [], []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False)
            batch = {k: v.to(next(model.parameters()).device) for k, v in batch.items()}
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=decoding.max_new_tokens, do_sample=False,
                                     repetition_penalty=decoding.repetition_penalty,
                                     no_repeat_ngram_size=decoding.no_repeat_ngram_size,
                                     pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]  # (B, new tokens)
            for ids, text in zip(new.tolist(), tokenizer.batch_decode(new, skip_special_tokens=True)):
                answers.append(text.split("###")[0].strip())
                stopped.append(any(i in eos for i in ids) or "###" in text)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return (answers, stopped) if return_stopped else answers


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
    scores = token_f1_scores(predictions, references)
    return sum(scores) / len(scores)


def token_f1_scores(predictions: list[str], references: list[str]) -> list[float]:
    """:func:`token_f1` per pair; the lists must have the same, non-zero length."""
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (>0), got {len(predictions)} and "
                         f"{len(references)}")
    return [token_f1(p, r) for p, r in zip(predictions, references)]


def mean_and_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n)); needs two values or more."""
    import statistics

    if len(values) < 2:
        raise ValueError(f"need at least two values for a standard error, got {len(values)}")
    return statistics.fmean(values), statistics.stdev(values) / len(values) ** 0.5


def paired_bootstrap(before: list[float], after: list[float], n_resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(after - before)`` over paired per-question scores.

    The questions are resampled with replacement (the same questions for both sides, so the pairing is kept);
    returns ``(low, high)`` at ``level``. An interval above 0 means the improvement is not an accident of which
    questions happened to be held out.
    """
    import numpy as np

    if len(before) != len(after) or len(before) < 2:
        raise ValueError(f"need two paired lists of equal length >= 2, got {len(before)} and {len(after)}")
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_resamples, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)



def near_twins(train_answers: list[str], test_answers: list[str], threshold: float = 0.7) -> list[int]:
    """Indices of the held-out answers whose :func:`token_f1` with some training answer reaches ``threshold``:
    a model could score on them by recalling a training answer."""
    return [i for i, a in enumerate(test_answers) if any(token_f1(a, b) >= threshold for b in train_answers)]


def cut_to_reference_length(predictions: list[str], references: list[str]) -> list[str]:
    """Each prediction cut to as many words as its reference: a length-controlled answer.

    Token F1's recall rewards long answers (a long answer shares more words by chance) and its precision punishes
    them, so a model that never stops and one that stops early are not compared on content alone. Scoring both
    cut to the reference's length leaves only what the first words say."""
    out = []
    for p, r in zip(predictions, references, strict=True):
        n = len(_words(r))
        spans = list(re.finditer(r"\w+", p))
        out.append(p[: spans[n - 1].end()] if 0 < n <= len(spans) else p)
    return out
