"""The chapter-1 Transformer text classifier (the course writes this one by hand: it is the lesson).

``TransformerClassifier`` is the source notebook's ``Net`` with its defects fixed:

- ``batch_first=True``: the source fed ``(B, T, d)`` to layers expecting ``(T, B, d)``, so attention mixed
  *different reviews of a batch* instead of tokens of one review;
- padding is masked in attention (``src_key_padding_mask``) and left out of the mean pooling;
- the positional table has ``max_len`` rows (e.g. 512), not one per vocabulary word (400,002 x 100 floats,
  160 MB per model in the source).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib.config import positive_int
from course_lib.nn.pooling import masked_mean


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal position signal of "Attention Is All You Need" to ``(B, T, d_model)`` inputs.

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``: every dimension
    pair is a rotation at its own frequency, so a fixed offset between positions is a fixed linear map.
    """

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.1):
        super().__init__()
        positive_int("max_len", max_len)
        if not isinstance(d_model, int) or d_model <= 0 or d_model % 2:
            raise ValueError(f"d_model must be a positive even integer (sin/cos pairs), got {d_model!r}")
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
        # 1 / 10000^(2i/d), computed in log space
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)  # (1, max_len, d_model); recomputable

    @property
    def max_len(self) -> int:
        return self.pe.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, d_model)
        if x.size(1) > self.max_len:
            raise ValueError(f"sequence of {x.size(1)} tokens exceeds the positional table ({self.max_len}); "
                             "truncate inputs to max_len")
        return self.dropout(x + self.pe[:, : x.size(1)])


@dataclass
class TransformerConfig:
    """Hyper-parameters of :class:`TransformerClassifier` (the source notebook's defaults)."""

    num_labels: int = 2
    nhead: int = 2
    dim_feedforward: int = 128
    num_layers: int = 2
    dropout: float = 0.1  # on the residual stream: after the positions, each sub-layer and inside the feed-forward
    # Dropout on the attention weights draws one random number per weight, B x heads x T x T per layer: the largest
    # tensor of a training step, and it forces PyTorch's unfused attention. Like current LLMs (Llama, Mistral:
    # attention_dropout=0.0) we leave it off; the source notebook used 0.1 (benchmarks/bench_ch1_training.py keeps it).
    attention_dropout: float = 0.0
    classifier_dropout: float = 0.1
    max_len: int = 512
    freeze_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("num_labels", "nhead", "dim_feedforward", "num_layers", "max_len"):
            positive_int(f"TransformerConfig.{name}", getattr(self, name))
        for name in ("dropout", "attention_dropout", "classifier_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"TransformerConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")


class TransformerClassifier(nn.Module):
    """Frozen word vectors -> x sqrt(d) -> positions -> Transformer encoder -> masked mean -> linear head.

    Args:
        embeddings: ``(V, d)`` float tensor of word vectors (row ``pad_index`` is the padding vector).
        config: :class:`TransformerConfig`.
        pad_index: the id used for padding; positions holding it are masked out.
    """

    def __init__(self, embeddings: torch.Tensor | np.ndarray, config: TransformerConfig | None = None,
                 pad_index: int = 1):
        super().__init__()
        self.config = config = config or TransformerConfig()
        embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        self.pad_index = pad_index
        self.emb = nn.Embedding.from_pretrained(embeddings, freeze=config.freeze_embeddings, padding_idx=pad_index)
        self.d_model = d_model = embeddings.shape[1]
        self.pos_encoder = PositionalEncoding(d_model, max_len=config.max_len, dropout=config.dropout)
        layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=config.nhead,
                                           dim_feedforward=config.dim_feedforward, dropout=config.dropout,
                                           batch_first=True)
        layer.self_attn.dropout = config.attention_dropout  # a plain float MultiheadAttention passes to attention
        # enable_nested_tensor=False keeps one numeric path for train and eval (results identical either way)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=config.num_layers,
                                                         enable_nested_tensor=False)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(d_model, config.num_labels)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of the encoder outputs over real (non-padding) tokens: ``(B, T) -> (B, d_model)``."""
        if attention_mask is None:
            attention_mask = input_ids.ne(self.pad_index)
        attention_mask = attention_mask.bool()
        x = self.emb(input_ids) * math.sqrt(self.d_model)  # (B, T, d)
        x = self.pos_encoder(x)  # (B, T, d)
        x = self.transformer_encoder(x, src_key_padding_mask=~attention_mask)  # (B, T, d)
        return masked_mean(x, attention_mask)  # (B, d)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, num_labels)`` for ``input_ids`` ``(B, T)``."""
        return self.classifier(self.dropout(self.encode(input_ids, attention_mask)))

    def replace_head(self, num_labels: int) -> nn.Linear:
        """Put a fresh ``nn.Linear(d_model, num_labels)`` head on the model (e.g. 4 news classes -> 2 sentiments)."""
        positive_int("num_labels", num_labels)
        device = self.classifier.weight.device
        self.classifier = nn.Linear(self.d_model, num_labels).to(device)
        self.config.num_labels = num_labels
        return self.classifier
