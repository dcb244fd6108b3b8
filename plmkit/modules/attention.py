"""Multi-head self-attention on ``F.scaled_dot_product_attention``, with padding and causal masks.

``SelfAttention`` is the attention of BERT and GPT-2 (nanoGPT's names: ``c_attn`` fuses q, k, v;
``c_proj`` projects back). Subclasses change what attention looks at without copying it:

* ``score_bias(T, device, dtype)`` returns an additive per-head bias (n_head, T, T) for the
  scores (ALiBi's distance penalties), or None;
* ``rope`` (cos, sin) passed to ``forward`` rotates queries and keys (``plmkit.modules.rotary``).

Masks: ``attention_mask`` (B, T) is 1 for tokens and 0 for padding, or None when no row is
padded; then, without a score bias, a causal block takes SDPA's fused ``is_causal`` path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rotary import apply_rotary

__all__ = ["attention_bias", "SelfAttention"]


def attention_bias(attention_mask: torch.Tensor | None, causal: bool, T: int, dtype: torch.dtype,
                   device: torch.device | None = None) -> torch.Tensor:
    """Additive mask (B|1, 1, T|1, T): 0 where query i may see key j, the dtype's minimum elsewhere.

    Padded keys (attention_mask 0) are hidden from every query; with ``causal`` so is the future.
    A finite minimum (as transformers uses) rather than -inf keeps a row whose keys are all
    hidden (a left-pad query under a causal mask) a uniform softmax instead of NaN.
    """
    device = attention_mask.device if attention_mask is not None else device
    if attention_mask is not None:
        allowed = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T) keys
    else:
        allowed = torch.ones(1, 1, 1, T, dtype=torch.bool, device=device)
    if causal:
        future = torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)
        allowed = allowed & future  # (B|1, 1, T, T)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class SelfAttention(nn.Module):
    """``forward(x (B, T, H), attention_mask (B, T) | None, rope=None) -> (B, T, H)``."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.0, attn_dropout: float = 0.0,
                 bias: bool = True, causal: bool = False) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"{heads} heads do not divide the width {hidden}")
        self.n_head, self.causal, self.attn_dropout = heads, causal, attn_dropout
        self.c_attn = nn.Linear(hidden, 3 * hidden, bias=bias)  # q, k, v in that order
        self.c_proj = nn.Linear(hidden, hidden, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def score_bias(self, T: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
        """An additive bias (n_head, T, T) for the attention scores; None: no bias (plain attention)."""
        return None

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None, rope=None) -> torch.Tensor:
        B, T, H = x.shape
        q, k, v = self.c_attn(x).split(H, dim=-1)  # 3 x (B, T, H)
        q, k, v = (t.view(B, T, self.n_head, H // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, n, T, d)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        bias = self.score_bias(T, x.device, q.dtype)  # (n, T, T) or None
        mask = None
        if attention_mask is not None or bias is not None:
            mask = attention_bias(attention_mask, self.causal, T, q.dtype, x.device)  # (B|1, 1, T|1, T)
            mask = mask if bias is None else mask + bias.unsqueeze(0)  # (B|1, n, T, T)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=self.causal and mask is None,
        )  # (B, n, T, d), scores scaled by 1/sqrt(d)
        y = y.transpose(1, 2).reshape(B, T, H)  # merge heads
        return self.resid_dropout(self.c_proj(y))
