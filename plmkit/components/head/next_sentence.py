"""The ``next_sentence`` head: BERT's pooler and next-sentence prediction.

Batches are ``[CLS] A [SEP] B [SEP]`` pairs with ``token_type_ids``; ``next_sentence_label`` is
0 when B really follows A and 1 when B is a random sentence. The torch code is in _lm_heads.py.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from plmkit.params import HeadParams


class NextSentenceParams(HeadParams):
    """Next-sentence prediction (BERT): tanh pooler on position 0, then 2 classes (0 = real next)."""

    objective: ClassVar[str | None] = "next_sentence"
    directions: ClassVar[tuple[str, ...]] = ("bidirectional",)  # it reads the whole pair from position 0

    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")


def build(params: NextSentenceParams, ctx):
    from plmkit.modules import NextSentenceHead

    return NextSentenceHead(ctx.input_dim, params.init_std)


def register(register):
    register("head", "next_sentence", NextSentenceParams, build)
