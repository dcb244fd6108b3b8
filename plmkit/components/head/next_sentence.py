"""The ``next_sentence`` head: BERT's pooler and next-sentence prediction.

Batches are ``[CLS] A [SEP] B [SEP]`` pairs with ``token_type_ids``; ``next_sentence_label`` is
0 when B really follows A and 1 when B is a random sentence. The torch code is in _lm_heads.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from plmkit.params import HeadParams


class NextSentenceParams(HeadParams):
    """Next-sentence prediction (BERT): tanh pooler on position 0, then 2 classes (0 = real next)."""

    objective: ClassVar[str | None] = "next_sentence"

    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        if recipe.model.direction != "bidirectional":
            return [(key, f"next-sentence prediction reads the whole pair from position 0, which needs "
                     f"model.direction: bidirectional (got {recipe.model.direction})")]
        if recipe.train.seq_len < 5:
            return [("train.seq_len", f"{recipe.train.seq_len} is too short for [CLS] A [SEP] B [SEP]; use at least 5")]
        return []


def build(params: NextSentenceParams, ctx):
    from plmkit.modules import NextSentenceHead

    return NextSentenceHead(ctx.input_dim, params.init_std)


def register(register):
    register("head", "next_sentence", NextSentenceParams, build)
