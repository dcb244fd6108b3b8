"""The ``causal_lm`` head: GPT's next-token objective.

Logits at every position come from the top hidden state times the token table (tied, no bias);
the loss predicts ``labels[t + 1]`` from position t (labels are the inputs, -100 = no loss),
computed in float32. The torch code is in _lm_heads.py.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from plmkit.recipe.shapes import tie_problems
from plmkit.params import HeadParams


class CausalLMParams(HeadParams):
    """Causal LM (GPT): next-token softmax tied to the token table, no bias."""

    objective: ClassVar[str | None] = "causal_lm"
    language_model: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("causal",)  # a bidirectional encoder would see the token it predicts

    tie: bool = Field(True, description="use the token embedding table as the softmax weights")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the initialisation of an untied softmax")
    fused_loss: bool = Field(
        False, description="while training, fuse the softmax projection with the loss: no (B, T, V) logits kept "
                           "(the same loss and gradients, faster, far less memory; logits are then None)"
    )

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        return tie_problems(recipe, key, "causal_lm", self.tie)


def build(params: CausalLMParams, ctx):
    from plmkit.modules import CausalLMHead
    from .masked_lm import _need_table

    _need_table(params.tie, ctx, "causal_lm")
    if params.tie and ctx.input_dim != ctx.token_embedding.embedding_dim:
        from plmkit.errors import RecipeError

        raise RecipeError(f"causal_lm: the encoder outputs {ctx.input_dim} values per token but the token table "
                          f"has {ctx.token_embedding.embedding_dim}; set tie: false")
    return CausalLMHead(ctx.input_dim, ctx.token_embedding, ctx.vocab_size, params.tie, params.init_std,
                        params.fused_loss)


def register(register):
    register("head", "causal_lm", CausalLMParams, build)
