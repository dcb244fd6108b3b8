"""The ``sum`` embedding: several embeddings added, then LayerNorm (optional) and dropout.

BERT: ``parts: [token (padding), segment, learned_position]``, LayerNorm eps 1e-12, dropout 0.1.
GPT-2: ``parts: [token, learned_position]``, no LayerNorm. A ``rotary`` part adds nothing to
the sum and hands its table to the attention blocks. The torch code is in _sum.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plmkit.params import EmbeddingParams
from plmkit.registry import spec_of


class SumParams(EmbeddingParams):
    """Adds embedding parts (token, segment, positions), then LayerNorm and dropout."""

    parts: list[spec_of("embedding")] = Field(  # type: ignore[valid-type]
        min_length=1, description="the embeddings to add, e.g. [{type: token}, {type: learned_position}]"
    )
    layer_norm: bool = Field(True, description="LayerNorm after the sum (BERT: true, GPT-2: false)")
    eps: float = Field(1e-12, gt=0, description="LayerNorm epsilon (BERT: 1e-12)")
    dropout: float = Field(0.1, ge=0, le=1, description="dropout on the result during training")

    def output_width(self, recipe: Any) -> int:
        return recipe.model.hidden

    def token_table(self) -> bool:
        return any(part.params.token_table() for part in self.parts)

    def chars_per_token(self) -> int | None:
        return next((n for n in (part.params.chars_per_token() for part in self.parts) if n is not None), None)

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        # (the validator runs each part's own check too, at {key}.parts.{i})
        problems = []
        types = [part.type for part in self.parts]
        if "sum" in types:
            problems.append((f"{key}.parts", "a sum cannot contain another sum; list its parts directly"))
        if types.count("rotary") > 1 or types.count("token") > 1:
            problems.append((f"{key}.parts", f"at most one token and one rotary part, got {types}"))
        return problems


def build(params: SumParams, ctx):
    from plmkit.modules import SumEmbedding

    parts = [part.component.build(part.params, ctx) for part in params.parts]
    return SumEmbedding(parts, ctx.hidden, params.layer_norm, params.eps, params.dropout)


def register(register):
    register("embedding", "sum", SumParams, build)
