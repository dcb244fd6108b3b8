"""The ``sum`` embedding (torch side): add the parts, then LayerNorm and dropout (BERT, GPT-2)."""

from __future__ import annotations

import torch
from torch import nn


class SumEmbedding(nn.Module):
    """``dropout(norm(part_1 + part_2 + ...))``; parts that return ``None`` (rotary) add nothing.

    Parts are added in the recipe's order; BERT lists word, token type, position, which is the
    order transformers adds them in (it matters only in the last bit of float32).
    """

    def __init__(self, parts: list[nn.Module], dim: int, layer_norm: bool, eps: float, dropout: float) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.norm = nn.LayerNorm(dim, eps=eps) if layer_norm else None
        self.dropout = nn.Dropout(dropout)
        self.output_dim = dim

    @property
    def token_embedding(self) -> nn.Embedding | None:
        """The token table heads tie to (the ``token`` part's), found, not registered twice."""
        return self._from_parts("token_embedding")

    @property
    def rotary(self) -> nn.Module | None:
        """The ``rotary`` part's table, which the model hands to every attention block."""
        return self._from_parts("rotary")

    def _from_parts(self, name: str) -> nn.Module | None:
        return next((getattr(p, name) for p in self.parts if getattr(p, name, None) is not None), None)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        x = None
        for part in self.parts:
            y = part(**inputs)  # (B, T, D) or None
            if y is not None:
                x = y if x is None else x + y
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(x)  # (B, T, D)
