"""The transformer block: self-attention + MLP with residuals, pre- or post-LN.

Names follow nanoGPT / GPT-2: ``ln_1``, ``attn.c_attn`` (q, k, v fused, H -> 3H), ``attn.c_proj``,
``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``. Weights are ``nn.Linear`` (out, in); interop/hf.py maps
BERT's separate query/key/value and GPT-2's Conv1D (in, out) onto them.

    post-LN (BERT):   x = ln_1(x + attn(x));      x = ln_2(x + mlp(x))
    pre-LN (GPT-2):   x = x + attn(ln_1(x));      x = x + mlp(ln_2(x))      (+ ln_f after the stack)

The block receives its parts: pass ``attention=`` (any module with the ``SelfAttention`` call
signature, e.g. a subclass with a score bias) or ``mlp=`` to change one without copying the rest.

Incremental decoding: ``forward(..., cache=)`` hands the cache to the attention, which keeps the
past keys and values (``attention.KVCache``); the block supports it when its attention does
(``supports_cache``), otherwise a causal model recomputes the context for every new token.
``decoder()`` gives the block's one-position step on rows (B, H) with every weight bound, built
from its parts' ``decoder()``; generation calls it for each token (``LanguageModel.next_logits``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .attention import SelfAttention, supports_cache
from .decode_weights import decoder_is_stale
from .init import init_linear
from .mlp import MLP

__all__ = ["TransformerBlock"]


class TransformerBlock(nn.Module):
    """One block; ``forward(x (B, T, H), attention_mask (B, T) 1=token | None, rope=None, cache=None) -> (B, T, H)``."""

    def __init__(
        self, hidden: int, heads: int, ffn: int | None = None, norm: str = "pre", activation: str = "gelu_tanh",
        eps: float = 1e-5, dropout: float = 0.0, attn_dropout: float = 0.0, bias: bool = True,
        causal: bool = False, attention: nn.Module | None = None, mlp: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        self.norm, self.activation, self.eps, self.output_dim = norm, activation, eps, hidden
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = attention if attention is not None else SelfAttention(hidden, heads, dropout, attn_dropout, bias, causal)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = mlp if mlp is not None else MLP(hidden, ffn or 4 * hidden, activation, dropout, bias)

    @property
    def supports_cache(self) -> bool:
        """True when the attention keeps a cache for incremental decoding."""
        return supports_cache(self.attn)

    def new_cache(self):
        """The attention's empty cache (see ``supports_cache``)."""
        return self.attn.new_cache()

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None, rope=None,
                cache=None) -> torch.Tensor:
        if self.norm == "pre":
            x = x + self._attend(self.ln_1(x), attention_mask, rope, cache)
            return x + self._feed_forward(self.ln_2(x), cache)
        x = self.ln_1(x + self._attend(x, attention_mask, rope, cache))
        return self.ln_2(x + self._feed_forward(x, cache))

    def decoder(self) -> Callable[..., torch.Tensor] | None:
        """``step(x (B, H), attention_mask (B, S) | None, rope, cache) -> (B, H)``: ``forward`` for one
        new position of every sequence, as rows, in eval without gradient, with every weight bound
        (valid while they do not change: one generation). Its parts' ``decoder`` do the work; a
        plugin's attention or MLP without one, or a subclass with a forward of its own, gives None
        (the model then calls ``forward``)."""
        parts_decode = hasattr(self.attn, "decoder") and hasattr(self.mlp, "decoder")
        if decoder_is_stale(self, TransformerBlock) or not parts_decode:
            return None
        attend, feed_forward = self.attn.decoder(), self.mlp.decoder()
        if attend is None or feed_forward is None:
            return None
        ln_1, ln_2 = _layer_norm(self.ln_1), _layer_norm(self.ln_2)
        if self.norm == "pre":
            def step(x, attention_mask, rope, cache):
                x = x + attend(ln_1(x), attention_mask, rope, cache)
                return x + feed_forward(ln_2(x))
        else:
            def step(x, attention_mask, rope, cache):
                x = ln_1(x + attend(x, attention_mask, rope, cache))
                return ln_2(x + feed_forward(x))
        return step

    def _feed_forward(self, x: torch.Tensor, cache) -> torch.Tensor:
        decoding = cache is not None and not self.training and not torch.is_grad_enabled()
        return self.mlp.decode(x) if decoding and hasattr(self.mlp, "decode") else self.mlp(x)

    def _attend(self, x: torch.Tensor, attention_mask: torch.Tensor | None, rope, cache) -> torch.Tensor:
        # an attention module without a cache keeps its three-argument call
        return self.attn(x, attention_mask, rope) if cache is None else self.attn(x, attention_mask, rope, cache=cache)

    def make_final_norm(self) -> nn.Module | None:
        """Pre-LN stacks end with one more LayerNorm (GPT-2's ln_f); post-LN stacks need none."""
        if self.norm != "pre":
            return None
        return nn.LayerNorm(self.output_dim, eps=self.eps)

    def init_weights(self, std: float, residual_std: float | None = None) -> None:
        """Linear weights N(0, std), biases 0, LayerNorms 1/0 (BERT, GPT-2).

        ``residual_std``: GPT-2 re-draws the two projections that write into the residual
        stream (attn.c_proj, mlp.c_proj) from N(0, residual_std) (see ``init.residual_init_std``).
        """
        init_linear(self, std)
        if residual_std is not None:
            for linear in (self.attn.c_proj, self.mlp.c_proj):
                nn.init.normal_(linear.weight, mean=0.0, std=residual_std)


def _layer_norm(norm: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """An nn.LayerNorm as a plain function with its weights bound (a decoding step makes dozens of
    calls, and a module call costs more than the norm); any other norm module as it is."""
    if type(norm) is not nn.LayerNorm:
        return norm
    shape, weight, bias, eps = norm.normalized_shape, _detached(norm.weight), _detached(norm.bias), norm.eps
    return lambda x: torch.layer_norm(x, shape, weight, bias, eps)


def _detached(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()
