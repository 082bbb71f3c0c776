"""Two small classic models of chapter 5: the embedding-bag text classifier and LeNet-5 for 32x32 images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.config import positive_int


class TextClassifier(nn.Module):
    """The LoRA chapter's embedding-bag MLP: mean of frozen word vectors -> fc1 -> ReLU -> fc2.

    ``nn.EmbeddingBag(mode="mean")`` averages the vectors of each text, given flat ``input_ids`` and ``offsets``
    (start of each text), or a padded ``(B, T)`` batch with ``padding_idx`` excluded from the mean.
    """

    def __init__(self, embeddings: torch.Tensor | np.ndarray, num_labels: int, hidden: int = 128,
                 pad_index: int = 1):
        super().__init__()
        positive_int("num_labels", num_labels)
        positive_int("hidden", hidden)
        embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be a (V, d) matrix of word vectors, got shape {tuple(embeddings.shape)}")
        self.pad_index = pad_index
        self.embedding = nn.EmbeddingBag.from_pretrained(embeddings, freeze=True, mode="mean",
                                                         padding_idx=pad_index)
        self.fc1 = nn.Linear(embeddings.shape[1], hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding(input_ids)  # (B, d): padding_idx is left out of the mean
        return self.fc2(self.relu(self.fc1(x)))  # (B, num_labels)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) for 1x32x32 images: conv 6 -> conv 16 -> fc 120 -> fc 84 -> fc ``num_labels``.

    The layer sizes are LeNet-5's; as in the source notebook, ReLU and max pooling stand in for the original's
    scaled tanh and trainable average pooling.
    """

    def __init__(self, num_labels: int = 10):
        super().__init__()
        positive_int("num_labels", num_labels)
        self.conv1 = nn.Conv2d(1, 6, 5)  # (B, 6, 28, 28)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)  # (B, 16, 10, 10)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1, 32, 32)
        x = self.pool(torch.relu(self.conv1(x)))  # (B, 6, 14, 14)
        x = self.pool(torch.relu(self.conv2(x)))  # (B, 16, 5, 5)
        x = torch.flatten(x, 1)  # (B, 400)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)
