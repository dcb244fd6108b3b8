"""ELMo's character CNN token encoder (bilm-tf), in its TF conventions.

Parameter names follow the TF checkpoint (char_embed, CNN/W_cnn_i, CNN_high_k/{W_carry,
W_transform}, CNN_proj/W_proj) so that plmkit.interop.elmo can copy weights one to one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Highway", "CharCNN"]


class Highway(nn.Module):
    """One highway layer in bilm-tf's convention (models.md 3.3):

    g = sigmoid(x W_carry + b_carry);  y = g * relu(x W_transform + b_transform) + (1 - g) * x

    The gate computed from W_carry multiplies the non-linear branch; b_carry starts at -2 so
    g ~ 0.12 and the layer starts close to the identity.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.carry = nn.Linear(dim, dim)  # W_carry, b_carry
        self.transform = nn.Linear(dim, dim)  # W_transform, b_transform
        std = math.sqrt(1.0 / dim)
        for linear in (self.carry, self.transform):
            nn.init.normal_(linear.weight, 0.0, std)
        nn.init.constant_(self.carry.bias, -2.0)
        nn.init.zeros_(self.transform.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, D) -> (N, D)
        g = torch.sigmoid(self.carry(x))
        return g * torch.relu(self.transform(x)) + (1.0 - g) * x


class CharCNN(nn.Module):
    """char_ids (B, T, max_chars) -> token vectors (B, T, P)."""

    token_embedding = None  # no token table for heads to tie to
    rotary = None

    def __init__(
        self,
        char_dim: int,
        filters: list[tuple[int, int]],
        highway: int,
        activation: str,
        max_chars: int,
        n_characters: int,
        projection_dim: int,
    ) -> None:
        super().__init__()
        self.max_chars = max_chars
        self.activation = torch.relu if activation == "relu" else torch.tanh
        # Row 0 is the padded token: zero and never updated (allennlp prepends it to the TF table).
        self.char_embed = nn.Embedding(n_characters, char_dim, padding_idx=0)
        self.convolutions = nn.ModuleList(nn.Conv1d(char_dim, count, width) for width, count in filters)
        n_filters = sum(count for _, count in filters)
        self.highways = nn.ModuleList(Highway(n_filters) for _ in range(highway))
        # bilm-tf projects only when the filter total differs from the projection size.
        self.projection = nn.Linear(n_filters, projection_dim) if n_filters != projection_dim else None
        self.output_dim = projection_dim
        self._init(activation, char_dim)

    def _init(self, activation: str, char_dim: int) -> None:
        with torch.no_grad():
            nn.init.uniform_(self.char_embed.weight, -1.0, 1.0)
            self.char_embed.weight[0].zero_()
        for conv in self.convolutions:
            if activation == "relu":
                nn.init.uniform_(conv.weight, -0.05, 0.05)
            else:
                nn.init.normal_(conv.weight, 0.0, math.sqrt(1.0 / (conv.kernel_size[0] * char_dim)))
            nn.init.zeros_(conv.bias)
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, 0.0, math.sqrt(1.0 / self.projection.in_features))
            nn.init.zeros_(self.projection.bias)

    def forward(self, char_ids: torch.Tensor | None = None, **_: torch.Tensor) -> torch.Tensor:
        if char_ids is None:
            raise ValueError("the char_cnn embedding reads char_ids (B, T, max_chars); the batch has none")
        B, T, L = char_ids.shape
        # Encode each distinct word once (text repeats words; padded tokens are one row of 0s).
        words, index = torch.unique(char_ids.reshape(B * T, L), dim=0, return_inverse=True)
        return self.encode(words)[index].view(B, T, -1)

    def encode(self, words: torch.Tensor) -> torch.Tensor:
        """Character ids (N, max_chars) of N words -> token vectors (N, P)."""
        chars = self.char_embed(words).transpose(1, 2)  # (N, char_dim, max_chars)
        # Valid convolution, max over the character positions, then the activation (monotone,
        # so max-then-activate equals activate-then-max and is cheaper).
        pooled = [self.activation(conv(chars).amax(dim=-1)) for conv in self.convolutions]
        x = torch.cat(pooled, dim=-1)  # (N, n_filters)
        for highway in self.highways:
            x = highway(x)
        if self.projection is not None:
            x = self.projection(x)  # (N, P)
        return x
