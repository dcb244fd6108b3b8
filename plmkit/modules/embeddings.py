"""Embeddings: lookup tables (token, segment, learned positions), sinusoidal and rotary positions,
and their sum (BERT, GPT-2).

Each module follows the embedding contract (docs/plugins.md): ``forward(input_ids=None,
token_type_ids=None, position_ids=None, char_ids=None, **_)`` returns (B, T, D) -- or ``None``
for ``RotaryPosition``, which only exposes a ``rotary`` table -- and carries ``output_dim``,
``token_embedding`` (the nn.Embedding heads tie to, or None) and ``rotary`` (or None).
``SumEmbedding`` adds several of them; any one can also be a model's whole embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from .rotary import RotaryTable

__all__ = [
    "TokenEmbedding",
    "SegmentEmbedding",
    "LearnedPosition",
    "SinusoidalPosition",
    "RotaryPosition",
    "SumEmbedding",
    "sinusoid",
]


def reference(input_ids: torch.Tensor | None, char_ids: torch.Tensor | None) -> torch.Tensor:
    """The tensor whose first two dimensions are (B, T): word ids, else character ids."""
    return input_ids if input_ids is not None else char_ids


def default_positions(ids: torch.Tensor, position_ids: torch.Tensor | None) -> torch.Tensor:
    """``position_ids`` if given, else 0..T-1 as (1, T); ``ids`` is (B, T, ...)."""
    if position_ids is not None:
        return position_ids
    return torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)


class _Table(nn.Module):
    """One learned table ``table`` (rows, D), initialised N(0, init_std)."""

    token_embedding = None
    rotary = None

    def __init__(self, rows: int, dim: int, init_std: float, padding_idx: int | None = None) -> None:
        super().__init__()
        self.table = nn.Embedding(rows, dim, padding_idx=padding_idx)
        self.output_dim = dim
        nn.init.normal_(self.table.weight, mean=0.0, std=init_std)
        if padding_idx is not None:  # the pad row starts at zero and gets no gradient from the lookup
            with torch.no_grad():
                self.table.weight[padding_idx].zero_()


class TokenEmbedding(_Table):
    """wte: one row per vocabulary entry; heads tie their softmax to it."""

    def __init__(self, vocab_size: int, dim: int, init_std: float, padding_idx: int | None) -> None:
        super().__init__(vocab_size, dim, init_std, padding_idx)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.table

    def forward(self, input_ids: torch.Tensor, **_) -> torch.Tensor:
        return self.table(input_ids)  # (B, T, D)


class SegmentEmbedding(_Table):
    """BERT's token-type table: sentence A = 0, sentence B = 1; missing ids mean all A."""

    def forward(self, input_ids=None, token_type_ids=None, char_ids=None, **_) -> torch.Tensor:
        if token_type_ids is None:
            ids = reference(input_ids, char_ids)
            token_type_ids = torch.zeros(ids.shape[:2], dtype=torch.long, device=ids.device)
        return self.table(token_type_ids)  # (B, T, D)


class LearnedPosition(_Table):
    """wpe: one learned row per position 0..max_positions-1."""

    def forward(self, input_ids=None, position_ids=None, char_ids=None, **_) -> torch.Tensor:
        ids = reference(input_ids, char_ids)
        positions = default_positions(ids, position_ids)  # (B|1, T)
        return self.table(positions).expand(ids.shape[0], -1, -1)  # (B, T, D)


def sinusoid(positions: torch.Tensor, dim: int, base: float) -> torch.Tensor:
    """Vaswani et al.: PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(same); (..., D)."""
    inv_freq = base ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)  # (ceil(D/2),)
    angles = positions.float().unsqueeze(-1) * inv_freq  # (..., ceil(D/2))
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # interleave: sin, cos, sin, ...
    return pe[..., :dim]


class SinusoidalPosition(nn.Module):
    """Fixed sinusoidal positions, computed from the position ids (no parameters, no length limit)."""

    token_embedding = None
    rotary = None

    def __init__(self, dim: int, base: float) -> None:
        super().__init__()
        self.output_dim, self.base = dim, base

    def forward(self, input_ids=None, position_ids=None, char_ids=None, **_) -> torch.Tensor:
        ids = reference(input_ids, char_ids)
        positions = default_positions(ids, position_ids)  # (B|1, T)
        pe = sinusoid(positions, self.output_dim, self.base)  # (B|1, T, D)
        return pe.expand(ids.shape[0], -1, -1)


class RotaryPosition(nn.Module):
    """Adds nothing to the embedding sum; hands its ``rotary`` table to every attention block."""

    token_embedding = None

    def __init__(self, dim: int, head_dim: int, base: float) -> None:
        super().__init__()
        self.output_dim = dim
        self.rotary = RotaryTable(head_dim, base)

    def forward(self, *_, **__) -> None:
        return None


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
        return self.dropout(x) if self.training else x  # (B, T, D); in eval, not even dropout's no-op
