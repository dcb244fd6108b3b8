"""Torch code of the ``bidirectional_lm`` head (models.md 3.5)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BidirectionalLMHead(nn.Module):
    """hidden_states[-1] = [forward; backward] (B, T, 2P) -> forward and backward logits (B, T, V)."""

    def __init__(self, input_dim: int, vocab_size: int, dropout: float) -> None:
        super().__init__()
        if input_dim % 2:
            raise ValueError(f"a biLM head reads [forward; backward] of even width, got {input_dim}")
        self.projection_dim = input_dim // 2  # P
        self.softmax = nn.Linear(self.projection_dim, vocab_size)  # W (V, P), b (V): shared by both LMs
        nn.init.normal_(self.softmax.weight, 0.0, 1.0 / math.sqrt(self.projection_dim))
        nn.init.zeros_(self.softmax.bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        top = self.dropout(hidden_states[-1])
        forward_h, backward_h = top.split(self.projection_dim, dim=-1)  # (B, T, P) each
        out = {"logits": self.softmax(forward_h), "backward_logits": self.softmax(backward_h)}
        labels = batch.get("labels")
        if labels is not None:
            next_labels, previous_labels = _targets(labels, batch.get("attention_mask"))
            out["forward_loss"] = _cross_entropy(out["logits"], next_labels)
            out["backward_loss"] = _cross_entropy(out["backward_logits"], previous_labels)
            out["loss"] = 0.5 * (out["forward_loss"] + out["backward_loss"])
        return out


def _targets(labels: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (B, T) of the forward LM (label t+1) and the backward LM (label t-1) at each t.

    Padding (attention_mask 0) is never a target and never predicts, whatever its label says.
    """
    if mask is not None:
        labels = labels.masked_fill(mask == 0, -100)
    ignore = torch.full_like(labels[:, :1], -100)
    next_labels = torch.cat([labels[:, 1:], ignore], dim=1)
    previous_labels = torch.cat([ignore, labels[:, :-1]], dim=1)
    if mask is not None:
        next_labels = next_labels.masked_fill(mask == 0, -100)
        previous_labels = previous_labels.masked_fill(mask == 0, -100)
    return next_labels, previous_labels


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE over the positions whose label is not -100 (computed in fp32)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
