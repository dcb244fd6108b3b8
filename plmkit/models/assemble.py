"""The only wiring code: embedding -> encoder stack(s) -> heads, from a validated recipe.

A model is one embedding component, ``model.layers`` blocks of one encoder component
(``attention`` or ``recurrent``) and any number of named heads. ``model.direction`` decides how
the blocks are stacked:

* ``bidirectional`` one stack, every position sees every other (BERT)
* ``causal``        one stack, position t sees positions <= t (GPT)
* ``bilm``          two independent causal stacks, one reading left to right and one reading
                    each row reversed within its own length; their outputs are concatenated
                    [forward; backward] (ELMo)

Contracts (what each kind's built module must provide) are in docs/plugins.md.

Incremental decoding (causal models): ``new_cache()`` gives a ``ModelCache`` holding every
block's past (keys and values, or an LSTM's state); ``forward(..., cache=)`` and
``next_logits(input_ids, cache)`` then feed only the new positions, numbered after the cached
ones (learned and rotary positions alike). A model whose blocks do not all support a cache
(``plmkit.modules.supports_cache``) gets None and is decoded by recomputing the context.
One new position per sequence (generation's every token) runs on rows (B, D) through each
block's ``decoder()`` step, bound when the cache takes its first such step (``ModelCache.steps``),
and the head's ``decode``: the same numbers with a fraction of the per-token overhead; a block or
head without them takes the general path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..modules.attention import supports_cache
from .decoding import ModelCache
from .output import ModelOutput


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` (B, T, ...) within its first ``lengths[b]`` positions.

    Padding positions stay where they are; reversing twice gives ``x`` back.
    """
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (B, T)
    index = index.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class LanguageModel(nn.Module):
    """A plmkit model. Call it like a transformers model (keyword tensors, optional labels)."""

    def __init__(
        self,
        embedding: nn.Module,
        stacks: list[nn.ModuleList],
        heads: dict[str, nn.Module],
        direction: str,
        lm_head: str | None,
        final_norms: list[nn.Module | None] | None = None,
        encoder_kind: str = "attention",
        input_transform: str | None = None,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.direction = direction
        self.encoder_kind = encoder_kind  # "attention" or "recurrent"
        self.encoder = nn.ModuleList(stacks)  # [forward] or [forward, backward] for bilm
        norms = final_norms or [None] * len(stacks)
        self.final_norms = nn.ModuleList([n if n is not None else nn.Identity() for n in norms])
        self.heads = nn.ModuleDict(heads)
        self.lm_head = lm_head
        self.input_transform = input_transform  # the head whose transform_inputs runs before the encoder
        self.recipe: Any = None  # set by build_model: the validated recipe this model came from

    # -- the forward pass ---------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        char_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        cache: ModelCache | None = None,
        **extra: torch.Tensor,
    ) -> ModelOutput:
        batch = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            char_ids=char_ids,
            labels=labels,
            next_sentence_label=next_sentence_label,
            **extra,
        )
        batch = {k: v for k, v in batch.items() if v is not None}
        if cache is not None:  # incremental: only the new positions, after the cached ones
            return self._heads(self._encode_cached(batch, cache), batch, output_hidden_states)
        reference = char_ids if char_ids is not None else input_ids
        if attention_mask is None:
            attention_mask = torch.ones(reference.shape[:2], dtype=torch.long, device=reference.device)
            batch["attention_mask"] = attention_mask
        if self.input_transform is not None:  # e.g. ELECTRA: the generator's samples replace masked tokens
            batch = self.heads[self.input_transform].transform_inputs(batch)
        x = self.embedding(**{k: v for k, v in batch.items() if k in _EMBEDDING_INPUTS})  # (B, T, D)
        rope = self._rotary(x, batch.get("position_ids"))
        hidden_states = self._encode(x, batch["attention_mask"], rope)  # [(B, T, D_l)] from the embedding up
        return self._heads(hidden_states, batch, output_hidden_states)

    def _rotary(self, x: torch.Tensor, position_ids: torch.Tensor | None) -> Any:
        rotary = getattr(self.embedding, "rotary", None)
        if rotary is None:
            return None
        if position_ids is None:
            position_ids = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        return rotary(position_ids)

    def _encode(self, x: torch.Tensor, mask: torch.Tensor, rope: Any) -> list[torch.Tensor]:
        if self.encoder_kind == "attention" and bool(mask.all()):
            mask = None  # no padding: attention blocks may take SDPA's fused causal path
        if self.direction != "bilm":
            states = self._run_stack(0, x, mask, rope)
            return [x] + states
        lengths = mask.sum(dim=1) if mask is not None else torch.full(x.shape[:1], x.shape[1], device=x.device)
        forward = self._run_stack(0, x, mask, rope)
        backward = self._run_stack(1, reverse_padded(x, lengths), mask, rope)
        backward = [reverse_padded(h, lengths) for h in backward]
        return [x] + [torch.cat([f, b], dim=-1) for f, b in zip(forward, backward)]

    def _run_stack(self, index: int, x: torch.Tensor, mask: torch.Tensor | None, rope: Any) -> list[torch.Tensor]:
        states = []
        for block in self.encoder[index]:
            x = block(x, mask, rope=rope)
            states.append(x)
        states[-1] = self.final_norms[index](states[-1])
        return states

    # -- incremental decoding -------------------------------------------------------------------
    def new_cache(self) -> ModelCache | None:
        """An empty cache for ``forward(cache=)``/``next_logits``; None when this model cannot decode
        incrementally (not causal, or a block without ``supports_cache``)."""
        blocks = list(self.encoder[0])
        if self.direction != "causal" or self.input_transform is not None or not all(map(supports_cache, blocks)):
            return None
        return ModelCache([block.new_cache() for block in blocks])

    def next_logits(self, input_ids: torch.Tensor, cache: ModelCache, attention_mask: torch.Tensor | None = None,
                    **inputs: torch.Tensor) -> torch.Tensor:
        """The language-model head's logits (B, V) at the last of the new positions ``input_ids``
        (B, T), which follow the ``cache.length`` cached ones; the cache takes them in.

        Only the last position is projected to the vocabulary. ``attention_mask``, if given,
        covers the cached and the new positions (B, cache.length + T).
        """
        if input_ids.shape[1] == 1 and not inputs and not self.training and not torch.is_grad_enabled():
            steps = self._row_steps(cache)
            if steps:
                return self._next_logits_of_rows(input_ids, cache, attention_mask, steps)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, **inputs}
        hidden_states = self._encode_cached({k: v for k, v in batch.items() if v is not None}, cache)
        last = [h[:, -1:] for h in hidden_states]  # (B, 1, D): the head reads only the top one
        return self.heads[self.lm_head](last, {})["logits"][:, -1]  # (B, V)

    def _row_steps(self, cache: ModelCache) -> list[Any]:
        """Every block's one-position step (``decoder()``, weights bound), made at the cache's first
        step and kept with it; empty when a block or the head cannot decode on rows."""
        if cache.steps is None:
            steps = [getattr(block, "decoder", lambda: None)() for block in self.encoder[0]]
            rows = self.encoder_kind == "attention" and hasattr(self.heads[self.lm_head], "decode")
            cache.steps = steps if rows and all(steps) else []
        return cache.steps

    def _next_logits_of_rows(self, input_ids: torch.Tensor, cache: ModelCache, attention_mask: torch.Tensor | None,
                             steps: list[Any]) -> torch.Tensor:
        """``next_logits`` of one new position per sequence (B, 1): the blocks' bound steps run on
        rows (B, D) and only the head's ``decode`` projects to the vocabulary. The same numbers as
        ``_encode_cached``; at small sizes each op's and each call's overhead is what a token costs."""
        B, past = input_ids.shape[0], cache.length
        position_ids = torch.arange(past, past + 1, device=input_ids.device).unsqueeze(0)  # (1, 1)
        x = self.embedding(input_ids=input_ids, position_ids=position_ids)  # (B, 1, D)
        rope = self._rotary(x, position_ids)
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # (B, past + 1): no padding, no mask
        x = x.view(B, -1)  # (B, D)
        for step, block_cache in zip(steps, cache.layers):
            x = step(x, attention_mask, rope, block_cache)
        cache.length = past + 1
        return self.heads[self.lm_head].decode(self.final_norms[0](x))  # (B, V)

    def _encode_cached(self, batch: dict, cache: ModelCache) -> list[torch.Tensor]:
        reference = batch.get("input_ids", batch.get("char_ids"))
        B, T = reference.shape[:2]
        past = cache.length
        if "position_ids" not in batch:
            batch["position_ids"] = torch.arange(past, past + T, device=reference.device).unsqueeze(0)  # (1, T)
        x = self.embedding(**{k: v for k, v in batch.items() if k in _EMBEDDING_INPUTS})  # (B, T, D)
        rope = self._rotary(x, batch["position_ids"])
        mask = batch.get("attention_mask")  # (B, past + T) or None
        if mask is not None and bool(mask.all()):
            mask = None
        if self.encoder_kind != "attention":  # a recurrent layer reads the mask of its own steps
            mask = mask[:, -T:] if mask is not None else torch.ones(B, T, dtype=torch.long, device=x.device)
        states = [x]
        for block, block_cache in zip(self.encoder[0], cache.layers):
            x = block(x, mask, rope=rope, cache=block_cache)
            states.append(x)
        states[-1] = self.final_norms[0](states[-1])
        cache.length = past + T
        return states

    def _heads(self, hidden_states: list[torch.Tensor], batch: dict, output_hidden_states: bool) -> ModelOutput:
        out = ModelOutput(hidden_states=tuple(hidden_states) if output_hidden_states else None)
        for name, head in self.heads.items():
            result = head(hidden_states, batch)
            out.heads[name] = result
            if result.get("loss") is not None:
                out.losses[name] = result["loss"]
        if self.lm_head is not None:
            out.logits = out.heads[self.lm_head].get("logits")
        if out.losses:
            out.loss = sum(out.losses.values())
        return out

    # -- evaluation and conveniences ----------------------------------------------------------
    def metric_sums(self, out: ModelOutput, batch: dict) -> dict[str, tuple[float, float]]:
        """Every head's held-out (total, count) sums for one batch, keyed ``{head}_{name}``."""
        sums = {}
        for name, head in self.heads.items():
            measure = getattr(head, "metric_sums", None)  # optional in the head contract
            if measure is not None and name in out.heads:
                sums.update({f"{name}_{key}": value for key, value in measure(out.heads[name], batch).items()})
        return sums

    def reset_states(self) -> None:
        """Forget any state carried between calls (ELMo's LSTMs at inference)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_state"):
                module.reset_state()

    def num_parameters(self) -> int:
        """Trainable parameters, each shared (tied) tensor counted once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


_EMBEDDING_INPUTS = {"input_ids", "token_type_ids", "position_ids", "char_ids"}
