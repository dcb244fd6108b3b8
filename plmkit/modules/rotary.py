"""Rotary position embeddings (RoPE, Su et al. 2021) in the rotate-half layout of GPT-NeoX and LLaMA.

``RotaryTable(head_dim, base)(position_ids (B|1, T)) -> (cos, sin)``, each (B|1, T, d_head): dimension
i and i + d/2 of every head form one rotating pair with frequency base^(-2i/d). Attention applies
``apply_rotary(q_or_k (B, n, T, d), cos, sin)`` to its queries and keys.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RotaryTable", "apply_rotary"]


class RotaryTable(nn.Module):
    """(cos, sin) of every position's rotation angles, per head dimension."""

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
