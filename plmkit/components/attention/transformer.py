"""The ``transformer`` block: multi-head self-attention + MLP with residuals, pre- or post-LN.

BERT: ``norm: post, activation: gelu, eps: 1e-12``. GPT-2: ``norm: pre, activation: gelu_tanh,
eps: 1e-5, scaled_residual_init: true``. Whether a block looks ahead comes from
``model.direction`` (the builder's ``ctx.causal``). The torch code is in _transformer.py.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from plmkit.recipe.shapes import embedding_width
from plmkit.registry import Params


class TransformerParams(Params):
    """Transformer block: self-attention + MLP with residuals, pre- or post-LN (BERT, GPT-2)."""

    heads: int = Field(4, ge=1, description="attention heads; must divide model.hidden")
    ffn: Optional[int] = Field(None, ge=1, description="MLP inner width (default: 4 x model.hidden)")
    norm: Literal["pre", "post"] = Field(
        "post", description="LayerNorm placement: post (BERT) or pre (GPT-2, adds a final LayerNorm)"
    )
    activation: Literal["gelu", "gelu_tanh", "relu"] = Field(
        "gelu", description="MLP activation: gelu (exact erf, BERT), gelu_tanh (GPT-2's gelu_new) or relu"
    )
    eps: float = Field(1e-5, gt=0, description="LayerNorm epsilon (BERT 1e-12, GPT-2 1e-5)")
    dropout: float = Field(0.1, ge=0, le=1, description="dropout on the attention and MLP outputs (training only)")
    attn_dropout: float = Field(0.1, ge=0, le=1, description="dropout on the attention probabilities (training only)")
    bias: bool = Field(True, description="biases in the attention and MLP projections")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation of weights")
    scaled_residual_init: bool = Field(
        False, description="GPT-2: draw attn.c_proj and mlp.c_proj from N(0, init_std / sqrt(2 * model.layers))"
    )

    def output_width(self, recipe: Any) -> int:
        return recipe.model.hidden

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        hidden, problems = recipe.model.hidden, []
        if hidden % self.heads:
            divisors = [h for h in range(1, min(hidden, 64) + 1) if hidden % h == 0]
            problems.append((f"{key}.heads", f"{self.heads} heads do not divide model.hidden {hidden}; "
                             f"choose one of {divisors}"))
        width = embedding_width(recipe)
        if width is not None and width != hidden:
            problems.append((f"{key}", f"the embedding ({recipe.model.embedding.type}) outputs {width} values per "
                             f"token but transformer blocks take model.hidden {hidden}; make them equal"))
        return problems


def build(params: TransformerParams, ctx):
    from plmkit.errors import RecipeError

    from plmkit.modules import TransformerBlock, residual_init_std

    if ctx.input_dim and ctx.input_dim != ctx.hidden:
        raise RecipeError(f"model.attention: the embedding outputs {ctx.input_dim} values per token but "
                          f"transformer blocks take model.hidden {ctx.hidden}; make them equal")
    block = TransformerBlock(
        ctx.hidden, params.heads, params.ffn or 4 * ctx.hidden, params.norm, params.activation, params.eps,
        params.dropout, params.attn_dropout, params.bias, ctx.causal,
    )
    residual_std = residual_init_std(params.init_std, ctx.num_layers) if params.scaled_residual_init else None
    block.init_weights(params.init_std, residual_std)
    return block


def register(register):
    register("attention", "transformer", TransformerParams, build)
