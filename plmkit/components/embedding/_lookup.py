"""Lookup-table embeddings (torch side): token, segment, positions (learned, sinusoidal, rotary).

Each module follows the embedding contract of docs/design.md: ``forward(input_ids=None,
token_type_ids=None, position_ids=None, **_)`` returns (B, T, D) -- or ``None`` for ``rotary``,
which only exposes a ``rotary`` module -- and carries ``output_dim``, ``token_embedding`` and
``rotary``. ``sum`` adds several of them; any one can also be a model's whole embedding.
"""

from __future__ import annotations

import torch
from torch import nn


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


class RotaryTable(nn.Module):
    """RoPE (Su et al. 2021), the rotate-half layout of GPT-NeoX/LLaMA: (cos, sin) per position.

    ``forward(position_ids (B|1, T)) -> (cos, sin)``, each (B|1, T, d_head); dimension i and
    i + d/2 of every head form one rotating pair with frequency base^(-2i/d).
    """

    def __init__(self, head_dim: int, base: float) -> None:
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (d/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.head_dim = head_dim

    def forward(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = position_ids.float().unsqueeze(-1) * self.inv_freq  # (B|1, T, d/2)
        angles = torch.cat([angles, angles], dim=-1)  # (B|1, T, d)
        return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate q or k (B, n, T, d) by their positions' angles; cos/sin are (B|1, T, d)."""
    cos, sin = cos.unsqueeze(1).to(x.dtype), sin.unsqueeze(1).to(x.dtype)  # (B|1, 1, T, d)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # rotate_half
    return x * cos + rotated * sin


class RotaryPosition(nn.Module):
    """Adds nothing to the embedding sum; hands its ``rotary`` table to every attention block."""

    token_embedding = None

    def __init__(self, dim: int, head_dim: int, base: float) -> None:
        super().__init__()
        self.output_dim = dim
        self.rotary = RotaryTable(head_dim, base)

    def forward(self, *_, **__) -> None:
        return None

