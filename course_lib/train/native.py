"""Fine-tuning a Hugging Face sequence classifier with a plain PyTorch loop (chapter 6, part 1; the pretrained
baseline of chapter 1).

``datasets.map`` tokenization, a ``DataLoader`` padded per batch, ``AdamW`` with transformers' linear-decay
schedule (``get_linear_schedule_with_warmup``), one progress bar, and accuracy. The loop runs on
:class:`accelerate.Accelerator`, so the same code uses a GPU with ``bf16`` where
:func:`course_lib.precision.choose_precision` grants it; the weights stay float32. Written out by hand because
chapter 6 shows the loop before handing the job to ``transformers.Trainer``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from course_lib import precision
from course_lib.env import show_progress
from course_lib.hub import load_pretrained
from course_lib.train.classifier import History


def load_pretrained_classifier(name_or_path: str, num_labels: int):
    """``(model, tokenizer, new_keys)``: a pretrained encoder with a new, randomly initialised classification head.

    ``new_keys`` are the weights that were *not* in the checkpoint (the head), sorted, so a chapter can say which
    part starts from scratch (transformers' own load report is hidden by :func:`course_lib.env.quiet_hf`). The model
    is in float32 (:func:`course_lib.hub.load_pretrained`) on the device it will be trained on
    (:func:`course_lib.precision.training_device`).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2:
        raise ValueError(f"num_labels must be an integer of at least 2 (a classifier picks one of several labels), "
                         f"got {num_labels!r}")
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    model, info = load_pretrained(AutoModelForSequenceClassification, name_or_path, num_labels=num_labels,
                                  output_loading_info=True)
    return model.to(precision.training_device()), tokenizer, sorted(info["missing_keys"])


def tokenize_classification(ds, tokenizer, max_length: int):
    """Tokenise every split with ``datasets.map``: adds ``input_ids``, ``attention_mask`` (and ``token_type_ids``).

    Texts are truncated to ``max_length`` tokens but not padded: the collator pads each batch to its longest
    text. ``text`` is dropped and ``label`` renamed ``labels``, the name the model's ``forward`` expects.
    """
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length)

    out = ds.map(encode, batched=True, desc="tokenize" if show_progress() else None)
    out = out.remove_columns(["text"]).rename_column("label", "labels")
    return out


def make_dataloaders(tokenized, tokenizer, batch_size: int, seed: int = 0) -> dict[str, DataLoader]:
    """A ``DataLoader`` per split; ``train`` is shuffled with a seeded generator, batches are padded per batch."""
    from transformers import DataCollatorWithPadding

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    collate = DataCollatorWithPadding(tokenizer)
    loaders = {}
    for split, ds in tokenized.items():
        generator = torch.Generator().manual_seed(seed)
        loaders[split] = DataLoader(ds, batch_size=batch_size, shuffle=split == "train", collate_fn=collate,
                                    generator=generator)
    return loaders


def train_native(model, train_loader: DataLoader, *, epochs: int, learning_rate: float, weight_decay: float = 0.01,
                 valid_loader: DataLoader | None = None, mixed_precision: str = "no",
                 max_grad_norm: float = 1.0, desc: str = "fine-tune") -> History:
    """Fine-tune a Hugging Face classifier with a plain loop: AdamW, linear decay, one progress bar.

    ``model(**batch)`` returns the cross-entropy loss because the batches carry ``labels``. After each epoch the
    validation accuracy is measured (if ``valid_loader`` is given). ``mixed_precision`` is a request that
    :func:`course_lib.precision.choose_precision` grants only where the GPU supports it; the weights stay float32.
    The model is returned on the training device without the autocast wrapper ``accelerate`` put on its
    ``forward``, so later evaluations run in float32, like those of a reloaded copy. Returns a
    :class:`History`; its ``best_epoch`` (1-based) is the epoch of the highest validation accuracy (the first one
    on a tie), or 0 when there is no ``valid_loader``. The model returned is the one after the last epoch.
    """
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    if weight_decay < 0 or max_grad_norm <= 0:
        raise ValueError(f"weight_decay must be >= 0 and max_grad_norm > 0, got {weight_decay!r}, {max_grad_norm!r}")
    if len(train_loader) == 0:
        raise ValueError("train_loader is empty: there is nothing to train on")

    accelerator = precision.make_accelerator(mixed_precision)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    total_steps = epochs * len(train_loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total_steps)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    history = History()
    bar = tqdm(total=total_steps, desc=desc, disable=not show_progress())
    for epoch in range(epochs):
        model.train()
        start, epoch_losses = time.perf_counter(), []
        for batch in train_loader:
            loss = model(**batch).loss  # cross-entropy over the 5 classes
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        history.step_loss += epoch_losses
        history.train_loss.append(sum(epoch_losses) / len(epoch_losses))
        if valid_loader is not None:
            history.val_accuracy.append(evaluate_accuracy(model, valid_loader)["accuracy"])
            if history.val_accuracy[-1] > max(history.val_accuracy[:-1], default=float("-inf")):
                history.best_epoch = epoch + 1
        history.epoch_seconds.append(time.perf_counter() - start)
    bar.close()
    accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # removes the autocast wrapper from `model.forward`
    return history


@torch.no_grad()
def evaluate_accuracy(model, loader: DataLoader) -> dict:
    """Accuracy of ``model`` over ``loader``; also returns the ``predictions`` and ``labels`` (lists of ints)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    preds, labels = [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits  # (B, num_labels)
        preds += logits.argmax(-1).tolist()
        labels += batch["labels"].tolist()
    model.train(was_training)
    if not labels:
        raise ValueError("cannot measure accuracy on an empty dataset")
    accuracy = sum(p == t for p, t in zip(preds, labels)) / len(labels)
    return {"accuracy": accuracy, "predictions": preds, "labels": labels}


def save_finetuned(model, tokenizer, path: str | os.PathLike) -> Path:
    """``save_pretrained`` the model (safetensors) and its tokenizer into ``path``."""
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def load_finetuned(path: str | os.PathLike):
    """Load what :func:`save_finetuned` wrote; returns ``(model, tokenizer)``.

    The model is in float32 on the training device, like the model :func:`train_native` returns, so comparing the
    two compares the same computation.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = load_pretrained(AutoModelForSequenceClassification, path).to(precision.training_device())
    return model, AutoTokenizer.from_pretrained(path)
