"""Batching, the training loop, evaluation and prediction for the from-scratch classifiers.

The loop is plain PyTorch on :class:`accelerate.Accelerator`, which picks the device (CPU, CUDA, MPS) and mixed
precision (``bf16`` on a GPU in the full profile, as far as :func:`course_lib.precision.choose_precision` finds the
GPU supports it) without changing the code. Each epoch it measures validation accuracy, keeps the best weights in a
safetensors file, and stops early when validation stops improving. Under ``accelerate launch`` the processes
measure validation together (``gather_for_metrics``), so they agree on the best epoch and on when to stop, and only
the main process writes the checkpoint.

Batches are *length-grouped*: examples are shuffled, cut into pools of ``50 x batch_size``, sorted by length
within a pool and then batched, so a batch holds texts of similar length and is padded only to its own longest
text (capped at ``max_len``). The source padded every batch of random reviews to its longest one (1,000+ tokens).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from course_lib import precision
from course_lib.text import TextPipeline


def show_progress() -> bool:
    """Progress bars are on unless ``COURSE_LIB_PROGRESS=0`` (set when notebooks are executed for the book)."""
    return os.environ.get("COURSE_LIB_PROGRESS", "1") != "0"


def tokenize_dataset(ds, pipeline: TextPipeline, text_column: str = "text"):
    """Add ``input_ids`` (token ids cut at ``pipeline.max_len``) to a ``datasets.Dataset``."""
    return ds.map(lambda batch: {"input_ids": [pipeline(t) for t in batch[text_column]]}, batched=True,
                  desc="tokenize" if show_progress() else None)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar-length examples (see the module docstring). Deterministic per ``seed``/epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 pool_factor: int = 50):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.lengths, self.batch_size, self.shuffle = list(lengths), batch_size, shuffle
        self.seed, self.pool = seed, batch_size * pool_factor
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        idx = list(range(len(self.lengths)))
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        if self.shuffle:
            rng.shuffle(idx)
        batches = []
        for start in range(0, len(idx), self.pool):
            pool = sorted(idx[start:start + self.pool], key=lambda i: self.lengths[i])
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            rng.shuffle(batches)
        return iter(batches)


@dataclass
class PadCollator:
    """Pads ``input_ids`` to the longest example of the batch; returns ``input_ids``, ``attention_mask``, ``labels``."""

    pad_index: int

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(1, max(len(r["input_ids"]) for r in rows))
        ids = torch.full((len(rows), longest), self.pad_index, dtype=torch.long)  # (B, T)
        for i, r in enumerate(rows):
            ids[i, : len(r["input_ids"])] = torch.as_tensor(r["input_ids"], dtype=torch.long)
        batch = {"input_ids": ids, "attention_mask": ids.ne(self.pad_index)}
        if "label" in rows[0]:
            batch["labels"] = torch.tensor([r["label"] for r in rows], dtype=torch.long)
        return batch


def make_loader(ds, batch_size: int, pad_index: int, *, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A ``DataLoader`` over a tokenized dataset with length-grouped, padded batches."""
    ds = ds.with_format(None, columns=["input_ids", "label"])
    lengths = [len(x) for x in ds["input_ids"]]
    sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=PadCollator(pad_index))


@dataclass
class History:
    """Per-epoch training loss, validation loss/accuracy, and which epoch was best."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    examples_per_second: float = 0.0

    @property
    def best_val_accuracy(self) -> float:
        return self.val_accuracy[self.best_epoch - 1] if self.val_accuracy else float("nan")


def forward_batch(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits for one batch: text batches call ``model(input_ids, attention_mask)``, image batches (with
    ``pixel_values``, e.g. from :mod:`course_lib.images`) call ``model(pixel_values)``."""
    if "pixel_values" in batch:
        return model(batch["pixel_values"])
    return model(batch["input_ids"], batch["attention_mask"])


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: str | torch.device | None = None, *,
             gather: Callable | None = None) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader``.

    ``gather``: for a loader that ``accelerate`` split over processes, ``accelerator.gather_for_metrics``; each
    batch's logits and labels are then collected from every process (without the samples repeated to even out the
    last batch), so every process measures the whole validation set and gets the same numbers.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits, labels = forward_batch(model, batch), batch["labels"]  # (B, C), (B,)
        if gather is not None:
            logits, labels = gather((logits, labels))
        loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
        count += labels.numel()
    model.train(was_training)
    return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}


def save_trainable(model: nn.Module, path: str | os.PathLike, *, only_trainable: bool = False) -> Path:
    """Save the model's weights (or only those that require grad) as safetensors."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {n for n, p in model.named_parameters() if p.requires_grad}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if not only_trainable or k in params}
    save_file(state, str(path))
    return path


def load_weights(model: nn.Module, path: str | os.PathLike, *, strict: bool = True) -> nn.Module:
    """Load safetensors weights into ``model``; a head of the wrong size gets an error that says what to do."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    for key, tensor in state.items():
        if key in own and own[key].shape != tensor.shape:
            hint = ""
            if "classifier" in key or key.startswith("fc"):
                hint = (f" The checkpoint's head has {tensor.shape[0]} outputs but the model's has "
                        f"{own[key].shape[0]}: build the model with the checkpoint's num_labels, load, then call "
                        "model.replace_head(new_num_labels).")
            raise ValueError(f"{path}: shape mismatch for {key!r}: checkpoint {tuple(tensor.shape)} vs model "
                             f"{tuple(own[key].shape)}.{hint}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if strict and (unexpected or (missing and len(state) == len(own))):
        raise ValueError(f"{path}: missing keys {missing}, unexpected keys {unexpected}")
    return model


def train_classifier(model: nn.Module, train_loader: DataLoader, valid_loader: DataLoader, *, epochs: int,
                     lr: float, checkpoint: str | os.PathLike, weight_decay: float = 0.01, patience: int = 3,
                     max_grad_norm: float = 1.0, mixed_precision: str = "no", log: Callable[[str], None] = print,
                     desc: str = "train", head_lr: float | None = None, head_name: str = "classifier") -> History:
    """Train with AdamW and a linear-decay schedule; keep the best validation-accuracy weights.

    Args:
        model: any module called as ``model(input_ids, attention_mask) -> logits``; frozen parameters
            (``requires_grad=False``) are left out of the optimizer.
        epochs / lr / weight_decay: optimisation budget.
        head_lr: learning rate of the parameters whose name starts with ``head_name`` (a freshly initialised head
            learns faster with a larger step than the pretrained body; ``None``: same as ``lr``).
        checkpoint: safetensors file where the best weights are saved; they are loaded back at the end.
        patience: stop after this many epochs without a better validation accuracy.
        mixed_precision: ``"no"``, ``"bf16"`` or ``"fp16"``: a request that
            :func:`course_lib.precision.choose_precision` grants only where the GPU supports it.

    Under ``accelerate launch`` every process trains on its shard of the batches, validation metrics are gathered
    from all processes, and the best-epoch and early-stopping decisions are the main process's, broadcast, so no
    process stops alone. Only the main process saves the checkpoint (and logs); every process loads it at the end.

    Returns:
        :class:`History` (per-epoch curves, best epoch, training throughput in examples/s).
    """
    from accelerate.utils import broadcast
    from tqdm.auto import tqdm

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters: unfreeze something (see course_lib.models.freeze)")
    params = [p for _, p in named]
    head = [p for n, p in named if n.startswith(head_name)]
    body = [p for n, p in named if not n.startswith(head_name)]
    groups = [g for g in ({"params": body, "lr": lr}, {"params": head, "lr": head_lr or lr}) if g["params"]]
    accelerator = precision.make_accelerator(mixed_precision)
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    total_steps = max(1, epochs * len(train_loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))
    model, optimizer, train_loader, valid_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, valid_loader, scheduler)
    # several processes measure the validation set together: each batch's logits and labels are gathered (the
    # validation loader must not be shuffled: accelerate drops the repeated samples at its end)
    gather = accelerator.gather_for_metrics if accelerator.num_processes > 1 else None
    history, best, stale, n_examples, train_time = History(), -1.0, 0, 0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        bar = tqdm(train_loader, desc=f"{desc} epoch {epoch}/{epochs}", leave=False, disable=not show_progress())
        for batch in bar:
            logits = forward_batch(model, batch)  # (B, C)
            loss = nn.functional.cross_entropy(logits.float(), batch["labels"])
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.item() * batch["labels"].numel()
            seen += batch["labels"].numel()
        elapsed = time.perf_counter() - start
        train_time, n_examples = train_time + elapsed, n_examples + seen
        # the training loss over every process's shard (a no-op in a single process)
        loss_sum, seen = accelerator.reduce(torch.tensor([loss_sum, seen], dtype=torch.float64,
                                                         device=accelerator.device), "sum").tolist()
        val = evaluate(model, valid_loader, accelerator.device, gather=gather)
        history.train_loss.append(loss_sum / max(seen, 1))
        history.val_loss.append(val["loss"])
        history.val_accuracy.append(val["accuracy"])
        history.epoch_seconds.append(elapsed)
        # the gathered metrics are the same everywhere; the main process's decision is broadcast all the same, so
        # that no process can stop (or pick a best epoch) alone
        improved = bool(broadcast(torch.tensor([int(val["accuracy"] > best)], device=accelerator.device)).item())
        if improved:
            best, stale, history.best_epoch = val["accuracy"], 0, epoch
            if accelerator.is_main_process:
                save_trainable(accelerator.unwrap_model(model), checkpoint)
        else:
            stale += 1
        if accelerator.is_main_process:
            log(f"{desc} epoch {epoch}/{epochs}: train loss {history.train_loss[-1]:.4f}  "
                f"val loss {val['loss']:.4f}  val acc {val['accuracy']:.3f}{'  *best' if improved else ''}")
        if stale >= patience:
            if accelerator.is_main_process:
                log(f"{desc}: no improvement for {patience} epochs, stopping early")
            break
    accelerator.wait_for_everyone()  # the main process has written the checkpoint before anyone reads it
    model = accelerator.unwrap_model(model)
    load_weights(model, checkpoint)
    history.examples_per_second = n_examples / max(train_time, 1e-9)
    return history


@torch.no_grad()
def predict(model: nn.Module, texts: str | Sequence[str], pipeline: TextPipeline,
            labels: Sequence[str]) -> str | list[str]:
    """Label(s) for raw text(s). Long texts are truncated to ``pipeline.max_len`` tokens; empty text is an error."""
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    device = next(model.parameters()).device
    out = []
    was_training = model.training
    model.eval()
    for text in texts:
        ids = pipeline(text)
        if not ids:
            raise ValueError(f"cannot predict a label for an empty text ({text!r}); pass at least one word")
        logits = model(torch.tensor([ids], device=device))  # (1, C)
        out.append(labels[int(logits.argmax(-1))])
    model.train(was_training)
    return out[0] if single else out


def plot_history(histories: dict[str, History], title: str = "Training curves"):
    """Training loss and validation accuracy per epoch for one or several runs, side by side."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, h in histories.items():
        epochs = range(1, len(h.train_loss) + 1)
        ax_loss.plot(epochs, h.train_loss, marker="o", label=name)
        ax_acc.plot(epochs, h.val_accuracy, marker="o", label=name)
        ax_acc.scatter([h.best_epoch], [h.best_val_accuracy], s=90, facecolors="none", edgecolors="k")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="accuracy (circle: best epoch)")
    ax_loss.legend()
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
