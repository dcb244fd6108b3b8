"""ELMo's scalar mix of the layers (models.md 3.6; allennlp ``ScalarMix``): the downstream representation."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ScalarMix"]


class ScalarMix(nn.Module):
    """hidden_states [(B, T, D_j)] -> {"representation": gamma * sum_j softmax(w)_j * A_j} (B, T, D)."""

    def __init__(self, weights: list[float], gamma: float, trainable: bool, do_layer_norm: bool,
                 duplicate_embedding: bool) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.tensor(weights, dtype=torch.float32), requires_grad=trainable)
        self.gamma = nn.Parameter(torch.tensor([gamma], dtype=torch.float32), requires_grad=trainable)
        self.do_layer_norm = do_layer_norm
        self.duplicate_embedding = duplicate_embedding  # bilm: A_0 = [x; x]

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        if len(hidden_states) != len(self.weights):
            raise ValueError(f"scalar_mix was built for {len(self.weights)} layers, got {len(hidden_states)}")
        x = hidden_states[0]
        mask = batch.get("attention_mask")
        mask = torch.ones(x.shape[:2], device=x.device) if mask is None else mask
        mask = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        if self.duplicate_embedding:
            x = torch.cat([x, x], dim=-1) * mask  # (B, T, 2P) like the [forward; backward] layers
        layers = [x, *hidden_states[1:]]
        if self.do_layer_norm:
            layers = [_masked_whole_norm(a, mask) for a in layers]
        w = torch.softmax(self.weights, dim=0)  # (L+1,)
        mixed = sum(w[j] * a for j, a in enumerate(layers))
        return {"representation": self.gamma * mixed}


def _masked_whole_norm(a: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(A - mean) / sqrt(var + 1e-13) with ONE mean and variance over every unmasked element (allennlp)."""
    count = mask.sum() * a.shape[-1]
    mean = (a * mask).sum() / count
    variance = (((a * mask - mean) * mask) ** 2).sum() / count
    return (a - mean) / torch.sqrt(variance + 1e-13)
