"""Multi-head self-attention on ``F.scaled_dot_product_attention``, with padding and causal masks.

``SelfAttention`` is the attention of BERT and GPT-2 (nanoGPT's names: ``c_attn`` fuses q, k, v;
``c_proj`` projects back). Subclasses change what attention looks at without copying it:

* ``score_bias(T, device, dtype)`` returns an additive per-head bias (n_head, T, T) for the
  scores (ALiBi's distance penalties), or None;
* ``rope`` (cos, sin) passed to ``forward`` rotates queries and keys (``plmkit.modules.rotary``).

Masks: ``attention_mask`` (B, T) is 1 for tokens and 0 for padding, or None when no row is
padded; then, without a score bias, a causal block takes SDPA's fused ``is_causal`` path.

Incremental decoding (``cache=``): a ``KVCache`` keeps the keys and values of every position the
block has seen, so a causal model continuing a text computes only the new positions. The new
queries are the *last* T of the S keys; SDPA's ``is_causal`` aligns its triangle top-left (query
i sees keys <= i), which is only right when T == S, so with a cache the causal triangle is an
explicit mask offset by S - T (and no mask at all for a single new query, which sees every key).
A block that keeps such a cache says so with ``supports_cache = True`` (see ``supports_cache``).
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .rotary import apply_rotary

__all__ = ["attention_bias", "SelfAttention", "KVCache", "supports_cache", "decode_linear"]


def attention_bias(attention_mask: torch.Tensor | None, causal: bool, T: int, dtype: torch.dtype,
                   device: torch.device | None = None, queries: int | None = None) -> torch.Tensor:
    """Additive mask (B|1, 1, Q|1, T): 0 where query i may see key j, the dtype's minimum elsewhere.

    Padded keys (attention_mask 0) are hidden from every query; with ``causal`` so is the future.
    ``queries`` (default T): the queries are the last Q of the T positions (a cached decoding
    step), so query i sits at position T - Q + i. A finite minimum (as transformers uses) rather
    than -inf keeps a row whose keys are all hidden (a left-pad query under a causal mask) a
    uniform softmax instead of NaN.
    """
    device = attention_mask.device if attention_mask is not None else device
    Q = T if queries is None else queries
    if attention_mask is not None:
        allowed = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T) keys
    else:
        allowed = torch.ones(1, 1, 1, T, dtype=torch.bool, device=device)
    if causal:
        future = torch.ones(T, T, dtype=torch.bool, device=device).tril()[T - Q:]  # (Q, T)
        allowed = allowed & future  # (B|1, 1, Q, T)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class KVCache:
    """The keys and values one attention block has seen, in one buffer (B, n, 2, capacity, d):
    ``[:, :, 0]`` keys, ``[:, :, 1]`` values; ``length`` positions are filled.

    Storage grows by doubling, so appending one position does not copy the whole past; keys and
    values share a buffer so that a decoding step writes both with one copy.
    """

    def __init__(self) -> None:
        self.kv: torch.Tensor | None = None  # (B, n, 2, capacity, d)
        self.length = 0

    def update(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values ``kv`` (B, n, 2, T, d); return all keys and
        values seen so far, (B, n, S, d) each (views of the buffer)."""
        end = self.length + kv.shape[3]
        if self.kv is None or end > self.kv.shape[3]:
            self._grow(kv, end)
        self.kv[:, :, :, self.length:end] = kv
        self.length = end
        past = self.kv[:, :, :, :end]  # (B, n, 2, S, d)
        return past[:, :, 0], past[:, :, 1]

    def _grow(self, kv: torch.Tensor, needed: int) -> None:
        B, n, _, _, d = kv.shape
        capacity = max(needed, 2 * (self.kv.shape[3] if self.kv is not None else 0), 64)
        grown = kv.new_empty(B, n, 2, capacity, d)
        if self.kv is not None:
            grown[:, :, :, :self.length] = self.kv[:, :, :, :self.length]
        self.kv = grown


def decode_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``linear(x)`` for a decoding step (a few rows, no gradient), twice as fast on the CPU.

    BLAS multiplies one row by a transposed (out, in) weight -- nn.Linear's layout -- at about
    half the speed of a contiguous (in, out) one, and decoding is a stream of such products. The
    (in, out) copy is kept beside the weight and made again whenever the weight changes (its
    version counter moves on every in-place update: an optimiser step, a load) or moves (.to()).
    """
    weight = linear.weight
    key = (weight._version, weight.data_ptr(), weight.device)
    kept = linear.__dict__.get("_decode_weight")
    if kept is None or kept[0] != key:
        kept = (key, weight.detach().t().contiguous())  # (in, out)
        linear.__dict__["_decode_weight"] = kept
    y = x @ kept[1]
    return y if linear.bias is None else y + linear.bias


def supports_cache(module: nn.Module) -> bool:
    """Whether ``module`` can decode incrementally: it says ``supports_cache`` (a class attribute or
    property), its ``forward`` takes ``cache=`` and it makes one with ``new_cache()``.

    A plugin block that does not is still used for generation, recomputing the whole context.
    """
    if not getattr(module, "supports_cache", False) or not callable(getattr(module, "new_cache", None)):
        return False
    return "cache" in inspect.signature(module.forward).parameters


class SelfAttention(nn.Module):
    """``forward(x (B, T, H), attention_mask (B, T|S) | None, rope=None, cache=None) -> (B, T, H)``.

    With a ``KVCache`` the T new positions attend to the S = past + T positions seen so far and
    ``attention_mask``, if given, covers all S keys.
    """

    supports_cache: ClassVar[bool] = True

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

    def new_cache(self) -> KVCache:
        """An empty cache for incremental decoding (one per block and sequence batch)."""
        return KVCache()

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None, rope=None,
                cache: KVCache | None = None) -> torch.Tensor:
        B, T, H = x.shape
        if cache is None:
            q, k, v = self.c_attn(x).split(H, dim=-1)  # 3 x (B, T, H)
            q, k, v = (t.view(B, T, self.n_head, H // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, n, T, d)
            if rope is not None:
                q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        else:
            q, k, v = self._cached_qkv(x, rope, cache)  # k, v (B, n, S, d): the past and the new positions
        S = k.shape[2]
        bias = self.score_bias(S, x.device, q.dtype)  # (n, S, S) or None
        if bias is not None and S != T:
            bias = bias[:, S - T:]  # (n, T, S): the rows of the new queries
        mask = None
        if attention_mask is not None or bias is not None or (self.causal and 1 < T < S):
            mask = attention_bias(attention_mask, self.causal, S, q.dtype, x.device, T)  # (B|1, 1, T|1, S)
            mask = mask if bias is None else mask + bias.unsqueeze(0)  # (B|1, n, T, S)
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=self.causal and mask is None and T == S,  # one new query (T < S) sees every key
        )  # (B, n, T, d), scores scaled by 1/sqrt(d)
        y = y.transpose(1, 2).reshape(B, T, H)  # merge heads
        y = decode_linear(y, self.c_proj) if cache is not None and not torch.is_grad_enabled() else self.c_proj(y)
        return self.resid_dropout(y) if self.training else y

    def _cached_qkv(self, x: torch.Tensor, rope, cache: KVCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q (B, n, T, d) of the new positions; k, v (B, n, S, d) of all, the new ones added to the cache.
        Few ops: decoding computes one position per call, so per-op overhead is what it costs."""
        B, T, H = x.shape
        qkv = decode_linear(x, self.c_attn) if not torch.is_grad_enabled() else self.c_attn(x)  # (B, T, 3H)
        qkv = qkv.view(B, T, 3, self.n_head, H // self.n_head).permute(0, 3, 2, 1, 4)  # (B, n, 3, T, d)
        q, kv = qkv[:, :, 0], qkv[:, :, 1:]  # (B, n, T, d), (B, n, 2, T, d)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(kv[:, :, 0], *rope)
            kv = torch.stack([k, kv[:, :, 1]], dim=2)
        return (q, *cache.update(kv))
