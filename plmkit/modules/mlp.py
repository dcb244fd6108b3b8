"""The position-wise feed-forward network and the activations plmkit knows by name."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .decode_weights import decode_linear, decoder_is_stale, row_linear

__all__ = ["ACTIVATIONS", "activation", "MLP"]

#: activation name (as recipes write it) -> function
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": lambda x: F.gelu(x),  # exact erf GELU (BERT, transformers "gelu")
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's gelu_new
    "relu": F.relu,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called ``name`` (a KeyError lists the known names)."""
    if name not in ACTIVATIONS:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class MLP(nn.Module):
    """``x (..., H) -> dropout(c_proj(act(c_fc(x)))) (..., H)`` with an inner width ``ffn``."""

    def __init__(self, hidden: int, ffn: int, activation_name: str = "gelu", dropout: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.c_fc = nn.Linear(hidden, ffn, bias=bias)
        self.act = activation(activation_name)
        self.c_proj = nn.Linear(ffn, hidden, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` for a decoding step (eval, no gradient): the same numbers, with the weights in
        the layout BLAS multiplies a few rows by fastest (``decode_weights.decode_linear``)."""
        return decode_linear(self.act(decode_linear(x, self.c_fc)), self.c_proj)

    def decoder(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """``decode`` of rows (N, H) with the weights bound (valid while they do not change); None
        for a subclass with a forward of its own."""
        if decoder_is_stale(self, MLP):
            return None
        fc, proj, act = row_linear(self.c_fc), row_linear(self.c_proj), self.act
        return lambda x: proj(act(fc(x)))
