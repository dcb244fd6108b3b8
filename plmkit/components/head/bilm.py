"""``bidirectional_lm``: ELMo's biLM objective, a forward and a backward LM sharing one softmax.

The encoder's top output is [forward; backward] (B, T, 2P). The forward half at position t
predicts token t+1, the backward half predicts token t-1; the softmax (W, b) is shared by the two
directions (bilm-tf's θs) and the loss is the mean of the two cross-entropies. bilm-tf trains
with a sampled softmax; plmkit's vocabularies are small, so this is the full softmax that
bilm-tf uses for evaluation. The torch code is in _bilm.py.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from plmkit.params import HeadParams


class BidirectionalLMParams(HeadParams):
    """ELMo biLM loss: forward LM predicts the next word, backward LM the previous one, one shared softmax."""

    objective: ClassVar[str | None] = "bidirectional_lm"
    language_model: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("bilm",)  # separate forward and backward stacks

    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the top LSTM outputs before the softmax (training)")


def build(params: BidirectionalLMParams, ctx):
    from plmkit.modules import BidirectionalLMHead

    return BidirectionalLMHead(input_dim=ctx.input_dim, vocab_size=ctx.vocab_size, dropout=params.dropout)


def register(register):
    register("head", "bidirectional_lm", BidirectionalLMParams, build)
