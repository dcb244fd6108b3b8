"""Initialisation rules shared by the built-in blocks (and available to plugins)."""

from __future__ import annotations

import math

from torch import nn

__all__ = ["init_linear", "residual_init_std"]


def init_linear(module: nn.Module, std: float) -> None:
    """Every ``nn.Linear`` inside ``module``: weight N(0, std), bias 0 (BERT, GPT-2); LayerNorms keep 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def residual_init_std(std: float, layers: int) -> float:
    """GPT-2's scaled init of the projections that write into the residual stream: std / sqrt(2 * layers)."""
    return std / math.sqrt(2 * layers)
