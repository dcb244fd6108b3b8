"""``bidirectional_lm``: ELMo's biLM objective, a forward and a backward LM sharing one softmax.

The encoder's top output is [forward; backward] (B, T, 2P). The forward half at position t
predicts token t+1, the backward half predicts token t-1; the softmax (W, b) is shared by the two
directions (bilm-tf's θs) and the loss is the mean of the two cross-entropies. bilm-tf trains
with a sampled softmax; plmkit's vocabularies are small, so this is the full softmax that
bilm-tf uses for evaluation. The torch code is in _bilm.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from plmkit.params import HeadParams


class BidirectionalLMParams(HeadParams):
    """ELMo biLM loss: forward LM predicts the next word, backward LM the previous one, one shared softmax."""

    objective: ClassVar[str | None] = "bidirectional_lm"
    language_model: ClassVar[bool] = True

    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the top LSTM outputs before the softmax (training)")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        direction = recipe.model.direction
        if direction != "bilm":
            return [("model.direction", f"{key} (bidirectional_lm) needs separate forward and backward stacks: "
                     f"model.direction must be 'bilm', got {direction!r}; for a causal model use causal_lm")]
        if not recipe.tokenizer.params.one_id_per_word:
            return [("tokenizer.type", f"{key} (bidirectional_lm) predicts whole words and needs one id per "
                     f"word: use tokenizer type 'word' (got {recipe.tokenizer.type!r})")]
        return []


def build(params: BidirectionalLMParams, ctx):
    from plmkit.modules import BidirectionalLMHead

    return BidirectionalLMHead(input_dim=ctx.input_dim, vocab_size=ctx.vocab_size, dropout=params.dropout)


def register(register):
    register("head", "bidirectional_lm", BidirectionalLMParams, build)
