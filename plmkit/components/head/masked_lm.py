"""The ``masked_lm`` head: BERT's masked-language-model objective.

The data batcher reads ``mask_prob``, ``mask_token_prob`` and ``random_token_prob`` to corrupt
the inputs (15% of tokens chosen; of those 80% -> [MASK], 10% -> a random token, 10% kept);
the head computes logits at every position and the cross-entropy on ``labels`` (-100 = no loss).
The torch code is in _lm_heads.py.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from plmkit.recipe.shapes import tie_problems
from plmkit.params import HeadParams


class MaskedLMParams(HeadParams):
    """Masked LM (BERT): transform + LayerNorm, softmax tied to the token table, own output bias."""

    objective: ClassVar[str | None] = "masked_lm"
    language_model: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("bidirectional",)  # it predicts a token from both sides

    activation: Literal["gelu", "gelu_tanh", "relu"] = Field(
        "gelu", description="activation of the transform (BERT: gelu)"
    )
    eps: float = Field(1e-12, gt=0, description="epsilon of the transform's LayerNorm (BERT: 1e-12)")
    tie: bool = Field(True, description="use the token embedding table as the softmax weights")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")
    predict: Literal["all", "masked"] = Field(
        "all", description="all: logits at every position (as transformers); masked: while training, only at "
                           "the labelled positions (the same loss, much less work; logits are then None)"
    )

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        return tie_problems(recipe, key, "masked_lm", self.tie)


def build(params: MaskedLMParams, ctx):
    from plmkit.modules import MaskedLMHead

    _need_table(params.tie, ctx, "masked_lm")
    return MaskedLMHead(ctx.input_dim, ctx.token_embedding, ctx.vocab_size, params.activation, params.eps,
                        params.tie, params.init_std, params.predict)


def _need_table(tie: bool, ctx, name: str) -> None:
    if tie and ctx.token_embedding is None:
        from plmkit.errors import RecipeError

        raise RecipeError(f"{name}: tie: true needs an embedding with a token table (token or sum with a token "
                          "part); set tie: false to learn a separate softmax")


def register(register):
    register("head", "masked_lm", MaskedLMParams, build)
