"""plmkit-alibi: ALiBi attention and a label-smoothed causal LM, as a plmkit plugin.

Everything plmkit needs is the ``register_components`` hook below; the torch code is in
``blocks.py``, composed from ``plmkit.modules``, and imported only when a model is built.
"""

from typing import ClassVar, Literal

from pydantic import Field

import plmkit


class AlibiParams(plmkit.Params):
    """Pre-LN transformer block with ALiBi distance penalties instead of position embeddings."""

    heads: int = Field(4, ge=1, description="attention heads; must divide model.hidden")
    activation: Literal["gelu", "gelu_tanh", "relu"] = Field("gelu_tanh", description="MLP activation")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the attention and MLP outputs")
    eps: float = Field(1e-5, gt=0, description="LayerNorm epsilon")

    def check(self, recipe, key):
        if recipe.model.hidden % self.heads:
            return [(f"{key}.heads", f"{self.heads} heads do not divide model.hidden {recipe.model.hidden}")]
        return []


class SmoothedLMParams(plmkit.HeadParams):
    """Causal language model, its softmax tied to the token table, trained with label smoothing."""

    objective: ClassVar[str | None] = "causal_lm"  # trains on plmkit's causal batches
    language_model: ClassVar[bool] = True  # its logits are over the vocabulary
    directions: ClassVar[tuple[str, ...]] = ("causal",)  # it predicts the next token

    smoothing: float = Field(0.1, ge=0, lt=1, description="probability mass spread over all tokens")


def build_alibi(params, ctx):
    from .blocks import alibi_block

    return alibi_block(ctx.hidden, params.heads, params.activation, params.dropout, params.eps, ctx.causal)


def build_smoothed_lm(params, ctx):
    from .blocks import SmoothedLMHead

    return SmoothedLMHead(ctx.token_embedding, ctx.vocab_size, params.smoothing)


@plmkit.hookimpl
def register_components(register):
    register("attention", "alibi", AlibiParams, build_alibi)
    register("head", "smoothed_lm", SmoothedLMParams, build_smoothed_lm)
