"""The chapter-1 training loop, evaluation and prediction for the from-scratch classifiers.

Written by hand on purpose: chapter 1 teaches this loop (chapter 6 then hands the same job to ``transformers``).

The loop is plain PyTorch on :class:`accelerate.Accelerator`, which picks the device (CPU, CUDA, MPS) and mixed
precision (``bf16`` on a GPU in the full profile, as far as :func:`course_lib.precision.choose_precision` finds the
GPU supports it) without changing the code. Each epoch it measures validation accuracy, keeps the best weights in a
safetensors file, and stops early when validation stops improving. Under ``accelerate launch`` the processes
measure validation together (``gather_for_metrics``), so they agree on the best epoch and on when to stop, and only
the main process writes the checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib import precision
from course_lib.data.text import TextPipeline
from course_lib.env import show_progress


@dataclass
class History:
    """What a training loop measured: training loss per epoch (and per step where the loop keeps it), validation
    loss/accuracy per epoch, time per epoch, which epoch was best. Both loops of the course return one."""

    train_loss: list[float] = field(default_factory=list)  # mean training loss of each epoch
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0
    max_epochs: int = 0  # the epoch cap the loop ran under
    step_loss: list[float] = field(default_factory=list)  # every optimizer step (train_native keeps it)

    @property
    def best_val_accuracy(self) -> float:
        return self.val_accuracy[self.best_epoch - 1] if self.val_accuracy else float("nan")

    @property
    def capped(self) -> bool:
        """The best epoch was the last one allowed: validation might still have been improving."""
        return self.max_epochs > 0 and self.best_epoch >= self.max_epochs

    @property
    def seconds(self) -> float:
        """Training time in total (validation passes included where the loop times them with the epoch)."""
        return sum(self.epoch_seconds)


def forward_batch(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits for one batch: text batches call ``model(input_ids, attention_mask)``, image batches (with
    ``pixel_values``, e.g. from :mod:`course_lib.data.images`) call ``model(pixel_values)``, batches of precomputed
    ``features`` (a head on a frozen encoder) call ``model(features)``."""
    if "pixel_values" in batch:
        return model(batch["pixel_values"])
    if "features" in batch:
        return model(batch["features"])
    return model(batch["input_ids"], batch["attention_mask"])


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: str | torch.device | None = None, *,
             gather: Callable | None = None, predictions: bool = False) -> dict:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader`` (in eval mode: no dropout).

    ``gather``: for a loader that ``accelerate`` split over processes, ``accelerator.gather_for_metrics``; each
    batch's logits and labels are then collected from every process (without the samples repeated to even out the
    last batch), so every process measures the whole validation set and gets the same numbers.
    ``predictions``: also return ``"correct"``, a list saying for each example (in loader order) whether it was
    classified correctly: what the paired comparisons of :mod:`course_lib.experiments.protocol` need.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct, count, per_example = 0.0, 0, 0, []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        logits, labels = forward_batch(model, batch), batch["labels"]  # (B, C), (B,)
        if gather is not None:
            logits, labels = gather((logits, labels))
        loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
        hits = logits.argmax(-1) == labels  # (B,)
        correct += hits.sum().item()
        count += labels.numel()
        if predictions:
            per_example += hits.tolist()
    model.train(was_training)
    out = {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}
    if predictions:
        out["correct"] = per_example
    return out


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that every module whose parameters are all frozen runs in eval mode.

    A frozen encoder under a linear probe, or the frozen base layers under adapters, should compute what they
    computed when they were trained, not a dropout-perturbed version of it: freezing is about the weights
    (``requires_grad``), eval mode about the computation (dropout). Modules without parameters of their own (a
    dropout inside a trained layer) follow their parent.
    """
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()
    return model


@torch.no_grad()
def head_inputs(model: nn.Module, loader: DataLoader,
                head_name: str = "classifier") -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, labels)``: what ``model.<head_name>`` receives for every example of ``loader``, in eval mode.

    A linear probe trains only the head on top of a frozen body, so the body's output never changes: compute it
    once (no dropout) and train the head on the stored features, instead of running the whole body every epoch.
    """
    head = model.get_submodule(head_name)
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().cpu()))
    was_training = model.training
    model.eval()
    labels = []
    try:
        for batch in loader:
            forward_batch(model, {k: v.to(device) for k, v in batch.items()})
            labels.append(batch["labels"].cpu())
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured), torch.cat(labels)


def feature_loader(features: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool,
                   seed: int = 0) -> DataLoader:
    """Batches ``{"features": (B, d), "labels": (B,)}`` of precomputed features (see :func:`head_inputs`)."""
    from torch.utils.data import TensorDataset

    def collate(rows):
        x, y = zip(*rows)
        return {"features": torch.stack(x), "labels": torch.stack(y)}

    return DataLoader(TensorDataset(features, labels), batch_size=batch_size, shuffle=shuffle, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed))


def save_weights(model: nn.Module, path: str | os.PathLike, names: Iterable[str] | None = None) -> Path:
    """Save ``model``'s state dict as safetensors: every tensor, or only the state-dict keys in ``names``."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = None if names is None else set(names)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if keep is None or k in keep}
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
                     learning_rate: float, checkpoint: str | os.PathLike, weight_decay: float = 0.01, patience: int = 3,
                     max_grad_norm: float = 1.0, mixed_precision: str = "no", log: Callable[[str], None] = print,
                     desc: str = "train") -> History:
    """Train with AdamW and a linear-decay schedule; keep the best validation-accuracy weights.

    Args:
        model: any module called as ``model(input_ids, attention_mask) -> logits``; frozen parameters
            (``requires_grad=False``) are left out of the optimizer.
        epochs / learning_rate / weight_decay: optimisation budget.
        checkpoint: safetensors file where the best weights are saved; they are loaded back at the end.
        patience: stop after this many epochs without a better validation accuracy.
        mixed_precision: ``"no"``, ``"bf16"`` or ``"fp16"``: a request that
            :func:`course_lib.precision.choose_precision` grants only where the GPU supports it.

    Under ``accelerate launch`` every process trains on its shard of the batches, validation metrics are gathered
    from all processes, and the best-epoch and early-stopping decisions are the main process's, broadcast, so no
    process stops alone. Only the main process saves the checkpoint (and logs); every process loads it at the end.

    Returns:
        :class:`History` (per-epoch curves and times, best epoch, the epoch cap).
    """
    from accelerate.utils import broadcast
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters: unfreeze something (see course_lib.nn.params.freeze)")
    params = [p for _, p in named]
    accelerator = precision.make_accelerator(mixed_precision)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, max(1, epochs * len(train_loader)))
    model, optimizer, train_loader, valid_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, valid_loader, scheduler)
    # several processes measure the validation set together: each batch's logits and labels are gathered (the
    # validation loader must not be shuffled: accelerate drops the repeated samples at its end)
    gather = accelerator.gather_for_metrics if accelerator.num_processes > 1 else None
    history, best, stale = History(max_epochs=epochs), -1.0, 0
    for epoch in range(1, epochs + 1):
        train_mode(model)  # frozen modules stay in eval mode (no dropout)
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
                save_weights(accelerator.unwrap_model(model), checkpoint)
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
