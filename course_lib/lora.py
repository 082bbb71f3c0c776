"""Chapter 5: LoRA (low-rank adaptation) from scratch, with peft's names and guarantees.

A frozen linear layer computes ``W0 x + b``. LoRA (Hu et al., 2021) learns the *change* of the weight as a product
of two thin matrices, ``delta_W = B A`` with ``A: (r, in)`` and ``B: (out, r)``, so the layer becomes::

    h = W0 x + b + scaling * B (A x),      scaling = lora_alpha / r

Only ``A`` and ``B`` are trained: ``r (in + out)`` numbers instead of ``in x out``. The names follow peft
(``huggingface/peft``, ``src/peft/tuners/lora/layer.py``), so what learners see here they meet again there:

- ``base_layer``: the frozen pretrained ``nn.Linear``;
- ``lora_A`` (``nn.Linear(in, r, bias=False)``, weight ``(r, in)``, Kaiming-uniform init like any ``nn.Linear``)
  and ``lora_B`` (``nn.Linear(r, out, bias=False)``, weight ``(out, r)``, **zero** init: ``B A = 0``, so the
  wrapped model starts exactly equal to the base);
- ``lora_alpha`` and ``scaling = lora_alpha / r``; optional ``lora_dropout`` on the input of the LoRA branch;
- ``get_delta_weight()``, ``merge()`` (fold ``scaling * B A`` into ``base_layer.weight`` for zero-overhead
  inference) and ``unmerge()`` (subtract it again). As in peft, merging a merged layer or unmerging an unmerged one
  warns and does nothing;
- :func:`merge_and_unload` merges and puts the plain ``nn.Linear`` layers back.

peft keeps one ``lora_A``/``lora_B`` per named adapter in a ``ModuleDict`` (``lora_A["default"]``); we keep one.
``tests/test_lora.py`` proves this implementation equal to peft's on the same weights.

Like the adapters of chapter 4, :class:`LinearWithLoRA` registers an empty forward pre-hook so that
``nn.TransformerEncoderLayer``'s fused eval fast path, which reads ``linear1.weight`` directly, is not taken: it
would silently skip the LoRA branch. (peft's wrapper exposes ``weight`` as the *base* weight, so a peft-wrapped
``nn.TransformerEncoderLayer`` in eval mode under ``torch.no_grad()`` uses the base weights only; see the test.)
``nn.MultiheadAttention.out_proj`` is never called by its parent at all, so :func:`apply_lora` refuses it
(see :mod:`course_lib.wrapping`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from course_lib.wrapping import LinearWrapper, load_wrapped, save_wrapped, wrap_linear_layers, wrapper_state_dict
from course_lib.config import Profile
from course_lib.data import Sizes


def _check_rank_alpha(r, lora_alpha) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"LoRA rank r must be a positive integer, got {r!r} (typical values: 1 to 64)")
    if isinstance(lora_alpha, bool) or not isinstance(lora_alpha, (int, float)) or not lora_alpha > 0:
        raise ValueError(f"lora_alpha must be a positive number, got {lora_alpha!r}; scaling = lora_alpha / r "
                         "multiplies the update, so lora_alpha <= 0 would switch it off or flip it")


class LoRALayer(nn.Module):
    """The low-rank update alone: ``x -> scaling * lora_B(lora_A(dropout(x)))``.

    Args:
        in_features / out_features: the sizes of the layer it will be added to.
        r: rank of the update (``r >= 1``); lora_alpha: scale (``> 0``), ``scaling = lora_alpha / r``.
        lora_dropout: dropout probability on the LoRA branch's input (0 disables it).

    Shapes: ``(..., in_features) -> (..., out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, r: int = 8, lora_alpha: float = 8.0,
                 lora_dropout: float = 0.0):
        super().__init__()
        _check_rank_alpha(r, lora_alpha)
        if not 0.0 <= lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {lora_dropout!r}")
        self.r, self.lora_alpha = r, lora_alpha
        self.scaling = lora_alpha / r
        self.lora_dropout = nn.Dropout(lora_dropout) if lora_dropout > 0 else nn.Identity()
        self.lora_A = nn.Linear(in_features, r, bias=False)  # weight (r, in): random, as peft (Kaiming uniform)
        self.lora_B = nn.Linear(r, out_features, bias=False)  # weight (out, r): zero, so B A = 0 at the start
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def get_delta_weight(self) -> torch.Tensor:
        """``scaling * B @ A``: the ``(out, in)`` change LoRA makes to the weight; its rank is at most ``r``."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        # two thin matmuls, (..., in) -> (..., r) -> (..., out); the (out, in) product is never formed
        return self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling


class LinearWithLoRA(LinearWrapper, LoRALayer):
    """A frozen ``nn.Linear`` plus a :class:`LoRALayer`: ``base_layer(x) + scaling * B(A(x))``.

    Args:
        base_layer: the pretrained ``nn.Linear`` (its parameters are frozen here).
        r, lora_alpha, lora_dropout: see :class:`LoRALayer`.

    ``merge()`` adds ``get_delta_weight()`` to ``base_layer.weight`` (then ``forward`` is just the base layer);
    ``unmerge()`` subtracts it. Merged and unmerged outputs agree to float rounding.
    """

    def __init__(self, base_layer: nn.Linear, r: int = 8, lora_alpha: float = 8.0, lora_dropout: float = 0.0):
        self.check_linear(base_layer)
        super().__init__(base_layer.in_features, base_layer.out_features, r, lora_alpha, lora_dropout)
        self.hold_base_layer(base_layer, self.lora_A, self.lora_B)  # frozen; A and B on its device and dtype
        self.merged = False

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight: ``W <- W + scaling * B A``. Inference then costs one matmul."""
        if self.merged:  # peft's warning and behaviour: a second merge would add the update twice
            warnings.warn("All adapters are already merged, nothing to do.")
            return
        self.base_layer.weight += self.get_delta_weight().to(self.base_layer.weight.dtype)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo :meth:`merge`: ``W <- W - scaling * B A`` (e.g. to keep training A and B)."""
        if not self.merged:  # peft's warning and behaviour
            warnings.warn("Already unmerged. Nothing to do.")
            return
        self.base_layer.weight -= self.get_delta_weight().to(self.base_layer.weight.dtype)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        out = self.base_layer(x)  # (..., out)
        if self.merged:  # the update is already inside base_layer.weight
            return out
        return out + super().forward(x)

    def extra_repr(self) -> str:
        return f"r={self.r}, lora_alpha={self.lora_alpha}, scaling={self.scaling:g}, merged={self.merged}"


def apply_lora(model: nn.Module, target_modules: str | Iterable[str], r: int = 8, lora_alpha: float = 8.0,
               lora_dropout: float = 0.0, modules_to_save: str | Iterable[str] = ()) -> list[str]:
    """Wrap the ``nn.Linear`` layers named in ``target_modules`` with :class:`LinearWithLoRA`; freeze the rest.

    Names match like peft's ``LoraConfig(target_modules=...)``: ``"fc1"`` matches a module named ``fc1`` or
    ending in ``.fc1``. ``modules_to_save`` (e.g. a new head) stays trainable, like peft's option of that name.
    Afterwards only ``lora_A``, ``lora_B`` and ``modules_to_save`` require grad.

    Returns the wrapped layers' names. Raises, leaving the model untouched, ``ValueError`` if nothing matches, if
    ``r`` or ``lora_alpha`` is not positive or if a match is a layer its parent reads instead of calling
    (``nn.MultiheadAttention.out_proj``), and ``TypeError`` if a match is not an ``nn.Linear``.
    """
    _check_rank_alpha(r, lora_alpha)
    return wrap_linear_layers(
        model, target_modules,
        lambda layer: LinearWithLoRA(layer, r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout),
        LinearWithLoRA, modules_to_save)


def lora_layers(model: nn.Module) -> dict[str, LinearWithLoRA]:
    """The model's :class:`LinearWithLoRA` layers by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LinearWithLoRA)}


def merge_lora(model: nn.Module) -> nn.Module:
    """:meth:`LinearWithLoRA.merge` every LoRA layer of ``model`` (a merged layer warns and stays as it is)."""
    for layer in lora_layers(model).values():
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """:meth:`LinearWithLoRA.unmerge` every LoRA layer of ``model`` (an unmerged layer warns and stays as it is)."""
    for layer in lora_layers(model).values():
        layer.unmerge()
    return model


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Merge every LoRA layer and put its ``base_layer`` (now holding ``W0 + scaling * B A``) back in its place.

    The result is the original architecture with updated weights: plain ``nn.Linear`` layers, no wrapper, no hook,
    no extra cost (peft's method of the same name). A, B and the ability to unmerge are gone; the merged layers
    stay frozen, as in peft.
    """
    for name, layer in lora_layers(model).items():
        if not layer.merged:
            layer.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.base_layer)
    return model


def lora_state_dict(model: nn.Module, modules_to_save: str | Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Only ``lora_A``/``lora_B`` weights and the parameters of ``modules_to_save`` (e.g. the head)."""
    return wrapper_state_dict(model, LinearWithLoRA, modules_to_save)


def save_lora(model: nn.Module, path: str | os.PathLike, modules_to_save: str | Iterable[str] = ()) -> Path:
    """Save A, B, ``r`` and ``lora_alpha`` of each LoRA layer and the ``modules_to_save`` weights (safetensors).

    This is all that fine-tuning changed: the pretrained base is shared and is not stored again.
    Merged layers are saved as if unmerged (A and B are the same either way).
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRA layers to save: call apply_lora(model, ...) first")
    settings = {n: {"r": m.r, "lora_alpha": m.lora_alpha} for n, m in layers.items()}
    return save_wrapped(model, path, "lora", settings, LinearWithLoRA, modules_to_save)


def load_lora(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Rebuild the LoRA layers saved by :func:`save_lora` on ``model`` (the pretrained base) and load them.

    The base must already have the saved head's shape (replace the head first; if it has not, the error says so and
    the model is left as it was). Afterwards the model gives the same outputs as the one that was saved.
    """

    def rebuild(layer: nn.Linear, settings: dict) -> LinearWithLoRA:
        return LinearWithLoRA(layer, r=settings["r"], lora_alpha=settings["lora_alpha"])

    return load_wrapped(model, path, "lora", "save_lora", rebuild, LinearWithLoRA)


# --- chapter 5's experiments -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoRAExperimentConfig:
    """Chapter 5 settings: the embedding-bag classifier (news -> sentiment) and the CNN (task A -> task B).

    Text data sizes come from :func:`course_lib.transfer.config_for` (the same splits as chapters 1 and 4).
    """

    hidden: int = 128
    r: int = 2  # the source notebook's rank
    lora_alpha: float = 4.0
    batch_size: int = 32
    pretrain_epochs: int = 4
    epochs: int = 30  # a bag-of-words model on 500 reviews: seconds per epoch, and it needs the steps
    pretrain_lr: float = 3e-3  # news pretraining of the embedding-bag model
    # one learning rate per compared run, each picked from transfer.LR_GRID on validation (scripts/claims.py --tune)
    learning_rates: dict = field(default_factory=lambda: {"lora_baseline_scratch": 3e-3, "lora": 1e-2})
    image_sizes: Sizes = Sizes()
    image_batch_size: int = 32
    image_pretrain_epochs: int = 8
    image_epochs: int = 12
    image_pretrain_lr: float = 3e-3  # pretraining the CNN
    image_lora_lr: float = 1e-2  # A, B and the new head (picked on the validation split)
    image_r: int = 2
    image_lora_alpha: float = 4.0
    patience: int = 6


def config_for(profile: Profile) -> LoRAExperimentConfig:
    """``fast``: seconds per run on a CPU. ``full``: more epochs; with ``SOURCE=hub`` MNIST -> EMNIST letters."""
    return profile.pick(
        fast=LoRAExperimentConfig(),
        full=LoRAExperimentConfig(pretrain_epochs=20, epochs=50, image_sizes=Sizes(train=None), image_epochs=20,
                                  image_pretrain_epochs=10, image_batch_size=128, patience=6))


def text_classifier_checkpoint(run, cfg: "LoRAExperimentConfig", data) -> Path:
    """Cached news-pretrained :class:`~course_lib.models.TextClassifier`, per profile, source, seed and settings."""
    from course_lib.config import cache_dir
    from course_lib.transfer import settings_digest

    digest = settings_digest(run, cfg, {split: len(rows) for split, rows in data.news.items()})
    name = f"textclassifier-news-{run.profile.name}-{run.source}-seed{run.seed}-{digest}.safetensors"
    return cache_dir("checkpoints", "news_pretrained") / name


def load_news_text_classifier(run, data, cfg: LoRAExperimentConfig):
    """The embedding-bag ``TextClassifier`` pretrained on the 4-class news task (trained first if not cached).

    Returns ``(model, history)``; ``history`` is ``None`` when the checkpoint came from the cache.
    """
    from course_lib.models import TextClassifier
    from course_lib.training import load_weights, train_classifier

    model = TextClassifier(data.embeddings, num_labels=len(data.news_labels), hidden=cfg.hidden,
                           pad_index=data.vocab.pad_index)
    path = text_classifier_checkpoint(run, cfg, data)
    if path.exists():
        return load_weights(model, path), None
    torch.manual_seed(run.seed)
    model = TextClassifier(data.embeddings, num_labels=len(data.news_labels), hidden=cfg.hidden,
                           pad_index=data.vocab.pad_index)
    history = train_classifier(model, data.loader("news", "train", cfg.batch_size, run.seed),
                               data.loader("news", "validation", 256), epochs=cfg.pretrain_epochs, lr=cfg.pretrain_lr,
                               patience=cfg.patience, checkpoint=path, head_name="fc2", desc="news pretraining")
    return model, history


BAG_STRATEGIES = ("lora_baseline_scratch", "lora")


def build_bag_strategy(name: str, run, data, cfg: LoRAExperimentConfig):
    """Chapter 5's text runs on the embedding-bag ``TextClassifier``.

    ``lora_baseline_scratch``: a fresh classifier, ``fc1`` and ``fc2`` train. ``lora``: the news-pretrained model,
    frozen, with a new 2-class ``fc2`` and rank-``cfg.r`` LoRA on ``fc1``; only A, B and ``fc2`` train.
    """
    import copy

    from course_lib.models import TextClassifier

    if name not in BAG_STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of: {', '.join(BAG_STRATEGIES)}")
    num_labels = len(data.sentiment_labels)
    torch.manual_seed(run.seed)
    if name == "lora_baseline_scratch":
        return TextClassifier(data.embeddings, num_labels=num_labels, hidden=cfg.hidden, pad_index=data.vocab.pad_index)
    news_model, _ = load_news_text_classifier(run, data, cfg)
    model = copy.deepcopy(news_model)
    torch.manual_seed(run.seed)
    model.fc2 = nn.Linear(cfg.hidden, num_labels)
    apply_lora(model, "fc1", r=cfg.r, lora_alpha=cfg.lora_alpha, modules_to_save="fc2")
    return model


def train_bag_strategy(run, data, cfg: LoRAExperimentConfig, name: str, model, *, lr: float | None = None,
                       log=lambda line: None):
    """Train one of :data:`BAG_STRATEGIES` on sentiment (best epoch on validation); returns ``(history, test acc)``."""
    from course_lib.training import evaluate, train_classifier
    from course_lib.transfer import checkpoint_path

    lr = lr if lr is not None else cfg.learning_rates[name]
    history = train_classifier(model, data.loader("sentiment", "train", cfg.batch_size, run.seed),
                               data.loader("sentiment", "validation", 256), epochs=cfg.epochs, lr=lr,
                               patience=cfg.patience, checkpoint=checkpoint_path(run, name), head_name="fc2",
                               desc=name, log=log)
    return history, evaluate(model, data.loader("sentiment", "test", 256))["accuracy"]


def plot_column_space(matrix, ax=None, title: str = "", limit: float = 3.0):
    """Draw the columns of a ``(3, k)`` matrix as arrows in 3-D and, if they span a plane, that plane.

    The plane is the set of points ``p`` with ``n . p = 0``, where ``n`` spans the null space of ``matrix^T``
    (the one direction orthogonal to every column). Returns the axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.linalg import null_space

    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != 3:
        raise ValueError(f"expected a matrix with 3 rows (vectors in 3-D), got shape {m.shape}")
    if ax is None:
        ax = plt.figure(figsize=(4, 4)).add_subplot(projection="3d")
    for i in range(m.shape[1]):
        ax.quiver(0, 0, 0, *m[:, i], color=f"C{i}", arrow_length_ratio=0.1, label=f"column {i + 1}")
    normal = null_space(m.T)
    if normal.shape[1] == 1:  # rank 2: the columns span a plane through the origin
        n = normal[:, 0]
        grid = np.linspace(-limit, limit, 10)
        k = int(np.argmax(np.abs(n)))  # solve the plane equation for the coordinate with the largest normal entry
        u, v = np.meshgrid(grid, grid)
        coords = [None, None, None]
        free = [j for j in range(3) if j != k]
        coords[free[0]], coords[free[1]] = u, v
        coords[k] = -(n[free[0]] * u + n[free[1]] * v) / n[k]
        ax.plot_surface(*coords, alpha=0.3, color="green")
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), zlim=(-limit, limit), xlabel="x", ylabel="y", zlabel="z",
           title=title or f"rank {np.linalg.matrix_rank(m)}")
    ax.legend(loc="upper left", fontsize=7)
    return ax
