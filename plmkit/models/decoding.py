"""Incremental decoding of causal models: the model's cache, next-token logits of a growing text,
and batched greedy decoding.

``LanguageModel.new_cache()`` gives a ``ModelCache`` (one entry per block: the attention's past
keys and values, an LSTM's state); ``LanguageModel.next_logits(new_ids, cache)`` feeds only the
new positions and projects only the last one to the vocabulary. A cache belongs to one model
state: its one-position steps are bound to the weights at its first step (the weights' (in, out)
copies are made again for a new cache once the weights change). ``NextLogits`` wraps that for
``plmkit.generation``: it is given the whole id list each step and feeds what is new, and it
falls back to recomputing the context where the cache cannot be used (a plugin block without
``supports_cache``, or a text longer than the position table, whose window slides so that every
position changes). Either way the logits are those of the model run on the whole context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ModelCache", "NextLogits", "greedy"]


@dataclass
class ModelCache:
    """Every block's cache for one batch of sequences, and how many positions they have seen."""

    layers: list[Any]
    length: int = 0
    steps: list[Any] | None = None  # every block's one-position step, bound at the first (see next_logits)


class NextLogits:
    """``next_logits(ids) -> (1, V)``: the model's logits after the id list ``ids`` (which grows by
    appending), at most ``max_positions`` of them read; uses the model's cache when it can."""

    def __init__(self, model: Any, max_positions: int | None = None) -> None:
        self.model, self.max_positions = model, max_positions
        new_cache = getattr(model, "new_cache", None)
        self.cacheable = callable(new_cache) and new_cache() is not None
        self.device = next(model.parameters()).device
        self.cache, self.fed = None, 0
        if callable(getattr(model, "reset_states", None)):
            model.reset_states()  # no state from earlier calls (stateful LSTMs)

    def __call__(self, ids: list[int]) -> torch.Tensor:
        start = max(0, len(ids) - self.max_positions) if self.max_positions else 0
        if not self.cacheable:
            return self._recompute(ids[start:])
        if start > 0:  # the window slid: every position moved, nothing cached can be reused
            self.cache = None
            context = torch.tensor([ids[start:]], dtype=torch.long, device=self.device)  # (1, max_positions)
            return self.model.next_logits(context, self.model.new_cache())
        if self.cache is None or len(ids) < self.fed:
            self.cache, self.fed = self.model.new_cache(), 0
        new = torch.tensor([ids[self.fed:]], dtype=torch.long, device=self.device)  # (1, T_new)
        self.fed = len(ids)
        return self.model.next_logits(new, self.cache)

    def _recompute(self, context: list[int]) -> torch.Tensor:
        input_ids = torch.tensor([context], dtype=torch.long, device=self.device)  # (1, T)
        self.model.reset_states()  # the whole context is fed again
        return self.model(input_ids=input_ids).logits[:, -1, :]  # (1, V)


@torch.inference_mode()
def greedy(model: Any, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy continuation (B, max_new_tokens) of equally long prompts ``input_ids`` (B, T).

    Uses the model's cache (one forward over the prompt, then one position per token); a model
    without one recomputes the context each step. No stop tokens, no padding: every row gets
    ``max_new_tokens`` ids, as transformers' ``generate(do_sample=False, eos_token_id=None)``.
    """
    was_training = model.training
    model.eval()
    try:
        cache = model.new_cache() if callable(getattr(model, "new_cache", None)) else None
        out = torch.empty(input_ids.shape[0], max_new_tokens, dtype=torch.long, device=input_ids.device)
        ids, context = input_ids, input_ids
        for t in range(max_new_tokens):
            if cache is not None:
                logits = model.next_logits(ids, cache)  # (B, V)
            else:
                model.reset_states()
                logits = model(input_ids=context).logits[:, -1]
            ids = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            out[:, t:t + 1] = ids
            context = torch.cat([context, ids], dim=1) if cache is None else context
        return out
    finally:
        model.train(was_training)
