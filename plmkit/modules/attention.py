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

Generation's one-position step (``decoder()``): a closure with the weights bound in the (in, out)
layout (``decode_weights``) that takes rows (B, H), writes the new keys and values straight into
the cache's next row and attends with SDPA and no mask (one query sees every key). At small
sizes each op's and each Python call's overhead is what a token costs, so it runs a dozen ops and
no module calls; ``forward(cache=)`` is the general path (any T, with gradient) and gives the
same numbers.
"""

from __future__ import annotations

import inspect
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .decode_weights import affine, decode_linear, decoder_is_stale, kept_weight
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
    """The keys and values one attention block has seen; ``length`` positions are filled.

    Two layouts, chosen by the batch size (B) of the first write:

    * one sequence: rows (1, capacity, 2H), row t = position t's keys (first H) and values (last
      H) as the key-value projection lays them out. A decoding step's row is written by the
      projection itself (``out=``: no copy); each head's keys are strided views (2H apart), which
      at batch 1 attention reads as fast as contiguous ones.
    * several sequences: per head (B, 2, n, capacity, d), each head's positions contiguous. The
      caller writes new rows into a staging buffer, moved into place when the keys are next read
      (one copy a step): at batch 8 and 200+ positions attention reads contiguous heads ~1.6x
      faster than strided rows, which are scattered over a buffer far larger than the CPU's cache.

    Storage grows by doubling, so appending does not copy the past on every position.
    """

    def __init__(self) -> None:
        self.kv: torch.Tensor | None = None  # (1, capacity, 2H) or (B, 2, n, capacity, d)
        self.length = 0
        self._staged: tuple[int, torch.Tensor] | None = None  # (first position, rows (B, T, 2H)) to move in

    def next_rows(self, T: int, like: torch.Tensor) -> torch.Tensor:
        """The rows (B, T, 2H) of the next T positions, to be written by the caller before the next
        ``keys_values``; ``like``, the block's input (B, ..., H), gives the batch size, width, dtype
        and device. They count as filled from now on."""
        B, H = like.shape[0], like.shape[-1]
        start, self.length = self.length, self.length + T
        if B > 1:
            self._staged = (start, like.new_empty(B, T, 2 * H))
            return self._staged[1]
        if self.kv is None or self.length > self.kv.shape[1]:
            self.kv = _grown(self.kv, like.new_empty(1, 0, 2 * H), 1, self.length, start)
        return self.kv[:, start:self.length]

    def next_row(self, like: torch.Tensor) -> torch.Tensor:
        """The row (B, 2H) of the next position (``next_rows`` for one; at batch 1 in one op)."""
        if like.shape[0] > 1 or self.kv is None or self.length == self.kv.shape[1]:
            return self.next_rows(1, like)[:, 0]
        self.length += 1
        return self.kv[:, self.length - 1]

    def keys_values(self, n_head: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every filled position's keys and values, (B, n, S, d) each: strided views of the buffer."""
        if self._staged is not None:
            self._move_in(n_head)
        offset, S = self.kv.storage_offset(), self.length
        if self.kv.dim() == 3:  # rows (1, capacity, 2H)
            _, capacity, width = self.kv.shape
            d = width // 2 // n_head
            size, stride = (1, n_head, S, d), (capacity * width, d, width, 1)
            return self.kv.as_strided(size, stride, offset), self.kv.as_strided(size, stride, offset + width // 2)
        B, _, n, capacity, d = self.kv.shape  # per head
        size, stride = (B, n, S, d), (2 * n * capacity * d, capacity * d, d, 1)
        return self.kv.as_strided(size, stride, offset), self.kv.as_strided(size, stride, offset + n * capacity * d)

    def _move_in(self, n_head: int) -> None:
        start, rows = self._staged
        self._staged = None
        B, T, width = rows.shape
        if self.kv is None or start + T > self.kv.shape[3]:
            empty = rows.new_empty(B, 2, n_head, 0, width // 2 // n_head)
            self.kv = _grown(self.kv, empty, 3, start + T, start)
        heads = rows.view(B, T, 2, n_head, -1).permute(0, 2, 3, 1, 4)  # (B, 2, n, T, d)
        self.kv[:, :, :, start:start + T] = heads


def _grown(kv: torch.Tensor | None, empty: torch.Tensor, dim: int, needed: int, filled: int) -> torch.Tensor:
    """A buffer shaped like ``empty`` with room for at least ``needed`` positions along ``dim``
    (double the old room, at least 64), the first ``filled`` copied from ``kv``."""
    capacity = max(needed, 2 * (kv.shape[dim] if kv is not None else 0), 64)
    shape = list(empty.shape)
    shape[dim] = capacity
    grown = empty.new_empty(shape)
    if kv is not None and filled:
        grown.narrow(dim, 0, filled).copy_(kv.narrow(dim, 0, filled))
    return grown


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
        """q (B, n, T, d) of the new positions; k, v (B, n, S, d) of all, the new ones added to the cache."""
        B, T, H = x.shape
        n, d = self.n_head, H // self.n_head
        qkv = decode_linear(x, self.c_attn) if not torch.is_grad_enabled() else self.c_attn(x)  # (B, T, 3H)
        q = qkv[..., :H].view(B, T, n, d).transpose(1, 2)  # (B, n, T, d)
        rows = cache.next_rows(T, x)  # (B, T, 2H)
        if rope is None:
            rows.copy_(qkv[..., H:])
        else:
            q = apply_rotary(q, *rope)
            k = apply_rotary(qkv[..., H:2 * H].view(B, T, n, d).transpose(1, 2), *rope)  # (B, n, T, d)
            rows[..., :H] = k.transpose(1, 2).reshape(B, T, H)
            rows[..., H:] = qkv[..., 2 * H:]
        return (q, *cache.keys_values(n))

    def decoder(self) -> Callable[..., torch.Tensor] | None:
        """``step(x (B, H), attention_mask (B, S) | None, rope, cache) -> (B, H)``: ``forward`` for one
        new position of every sequence, as rows, in eval without gradient, with this module's
        weights bound (valid while they do not change: one generation).

        The same numbers in few ops, since at small sizes each op's overhead is what a token costs:
        the key-value projection is written straight into the cache's next row, and the one new
        query sees every cached key, so there is no causal mask (only padding and a score bias).
        """
        if decoder_is_stale(self, SelfAttention):
            return None  # a subclass with a forward of its own (a score bias alone is followed below)
        w_q, b_q, w_kv, b_kv, w_o, b_o = self._decode_weights()
        n, score_bias = self.n_head, self.score_bias

        def step(x: torch.Tensor, attention_mask: torch.Tensor | None, rope, cache: KVCache) -> torch.Tensor:
            B, H = x.shape
            q = affine(x, w_q, b_q).view(B, n, 1, H // n)
            row = affine(x, w_kv, b_kv, out=cache.next_row(x))  # (B, 2H): this position's keys and values
            if rope is not None:
                q = apply_rotary(q, *rope)
                k = row[:, :H].view(B, n, 1, H // n)
                k.copy_(apply_rotary(k, *rope))
            k, v = cache.keys_values(n)  # (B, n, S, d)
            S = k.shape[2]
            mask = None if attention_mask is None else attention_bias(attention_mask, False, S, q.dtype, x.device, 1)
            bias = score_bias(S, x.device, q.dtype)  # (n, S, S) or None
            if bias is not None:
                bias = bias[:, S - 1:].unsqueeze(0)  # (1, n, 1, S): the new query's row
                mask = bias if mask is None else mask + bias  # (B|1, n, 1, S)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, n, 1, d)
            return affine(y.reshape(B, H), w_o, b_o)

        return step

    def _decode_weights(self) -> tuple:
        """(w_q, b_q, w_kv, b_kv, w_o, b_o): the projections in the (in, out) layout, c_attn split into
        the queries' (H, H) and the keys' and values' (H, 2H) (``decode_weights.kept_weight``)."""
        attn = kept_weight(self.c_attn, "_decode_qkv", (self.c_attn.weight, self.c_attn.bias), _split_qkv)
        out = kept_weight(self.c_proj, "_decode_weight", (self.c_proj.weight,), lambda w: w.t().contiguous())
        return (*attn, out, None if self.c_proj.bias is None else self.c_proj.bias.detach())


def _split_qkv(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple:
    """c_attn's (3H, H) weight as (in, out) copies for the queries (H, H) and for keys and values
    (H, 2H), and its bias split alike."""
    H = weight.shape[1]
    biases = (None, None) if bias is None else (bias[:H], bias[H:])
    return weight[:H].t().contiguous(), biases[0], weight[H:].t().contiguous(), biases[1]
