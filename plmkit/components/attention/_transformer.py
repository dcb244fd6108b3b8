"""The transformer block (torch side): causal or bidirectional self-attention + MLP, pre- or post-LN.

Names follow nanoGPT / GPT-2: ``ln_1``, ``attn.c_attn`` (q, k, v fused, H -> 3H), ``attn.c_proj``,
``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``. Weights are ``nn.Linear`` (out, in); interop/hf.py maps
BERT's separate query/key/value and GPT-2's Conv1D (in, out) onto them.

    post-LN (BERT):   x = ln_1(x + attn(x));      x = ln_2(x + mlp(x))
    pre-LN (GPT-2):   x = x + attn(ln_1(x));      x = x + mlp(ln_2(x))      (+ ln_f after the stack)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..embedding._lookup import apply_rotary

ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),  # exact erf GELU (BERT, HF "gelu")
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's gelu_new
    "relu": F.relu,
}


def attention_bias(attention_mask: torch.Tensor, causal: bool, T: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask (B, 1, T|1, T): 0 where query i may see key j, the dtype's minimum elsewhere.

    Padded keys (attention_mask 0) are hidden from every query; with ``causal`` so is the future.
    A finite minimum (as transformers uses) rather than -inf keeps a row whose keys are all
    hidden (a left-pad query under a causal mask) a uniform softmax instead of NaN.
    """
    allowed = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T) keys
    if causal:
        future = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()  # (T, T)
        allowed = allowed & future  # (B, 1, T, T)
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class SelfAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, hidden: int, heads: int, dropout: float, attn_dropout: float, bias: bool, causal: bool) -> None:
        super().__init__()
        self.n_head, self.causal, self.attn_dropout = heads, causal, attn_dropout
        self.c_attn = nn.Linear(hidden, 3 * hidden, bias=bias)  # q, k, v in that order
        self.c_proj = nn.Linear(hidden, hidden, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None, rope=None) -> torch.Tensor:
        B, T, H = x.shape
        q, k, v = self.c_attn(x).split(H, dim=-1)  # 3 x (B, T, H)
        q, k, v = (t.view(B, T, self.n_head, H // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, n, T, d)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        mask = None if attention_mask is None else attention_bias(attention_mask, self.causal, T, q.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=self.causal and mask is None,
        )  # (B, n, T, d), scores scaled by 1/sqrt(d)
        y = y.transpose(1, 2).reshape(B, T, H)  # merge heads
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: H -> ffn -> H."""

    def __init__(self, hidden: int, ffn: int, activation: str, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_fc = nn.Linear(hidden, ffn, bias=bias)
        self.act = ACTIVATIONS[activation]
        self.c_proj = nn.Linear(ffn, hidden, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class TransformerBlock(nn.Module):
    """One block; ``forward(x (B, T, H), attention_mask (B, T) 1=token, rope=None) -> (B, T, H)``."""

    def __init__(
        self, hidden: int, heads: int, ffn: int, norm: str, activation: str, eps: float,
        dropout: float, attn_dropout: float, bias: bool, causal: bool,
    ) -> None:
        super().__init__()
        self.norm, self.activation, self.eps, self.output_dim = norm, activation, eps, hidden
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = SelfAttention(hidden, heads, dropout, attn_dropout, bias, causal)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = MLP(hidden, ffn, activation, dropout, bias)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None, rope=None) -> torch.Tensor:
        if self.norm == "pre":
            x = x + self.attn(self.ln_1(x), attention_mask, rope)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, attention_mask, rope))
        return self.ln_2(x + self.mlp(x))

    def make_final_norm(self) -> nn.Module | None:
        """Pre-LN stacks end with one more LayerNorm (GPT-2's ln_f); post-LN stacks need none."""
        if self.norm != "pre":
            return None
        return nn.LayerNorm(self.output_dim, eps=self.eps)

    def init_weights(self, std: float, residual_std: float | None) -> None:
        """Linear weights N(0, std), biases 0, LayerNorms 1/0 (BERT, GPT-2).

        ``residual_std``: GPT-2 re-draws the two projections that write into the residual
        stream (attn.c_proj, mlp.c_proj) from N(0, 0.02 / sqrt(2 * layers)).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if residual_std is not None:
            for linear in (self.attn.c_proj, self.mlp.c_proj):
                nn.init.normal_(linear.weight, mean=0.0, std=residual_std)


def residual_init_std(std: float, layers: int) -> float:
    """GPT-2's scaled init of residual projections: std / sqrt(2 * layers)."""
    return std / math.sqrt(2 * layers)
