"""plmkit-electra: ELECTRA (Clark et al. 2020) as a plmkit plugin.

* ``batching: replaced_token`` -- full sequences packed across documents (RoBERTa's FULL-SENTENCES:
  ``[CLS] sentences ... [SEP] sentences of the next document ... [SEP]`` up to ``train.seq_len``),
  ``mask_prob`` of the tokens replaced by [MASK] for the generator;
* ``head: electra`` -- a small transformer generator, sharing the model's embedding, predicts the
  masked tokens (masked-LM loss); its samples replace them, and the model itself (the
  discriminator) learns to tell, at every position, whether the token was replaced. The loss is
  ``generator MLM loss + discriminator_weight * replaced-token-detection loss``.

The head rewrites the batch before the encoder runs (``transforms_inputs``): that is how the
discriminator sees the generator's samples. Without labels (``plmkit embed``, downstream use)
nothing is rewritten and the model reads the text as it is. The torch code is in ``model.py``
and ``batches.py``, composed from ``plmkit.modules`` and ``plmkit.data``.
"""

from typing import Any, ClassVar, Optional

from pydantic import Field

import plmkit

OBJECTIVE = "replaced_token_detection"


class ReplacedTokenParams(plmkit.BatchingParams):
    """Sequences packed across documents up to train.seq_len, a fraction of tokens masked for ELECTRA's generator."""

    objectives: ClassVar[frozenset[str]] = frozenset({OBJECTIVE})

    mask_prob: float = Field(0.15, gt=0, lt=1, description="fraction of tokens the generator must predict (ELECTRA: 0.15)")

    def required_tokens(self) -> frozenset[str]:
        return frozenset({"pad", "cls", "sep", "mask"})


class ElectraParams(plmkit.HeadParams):
    """ELECTRA: a small generator fills masked tokens; the model learns which tokens were replaced."""

    objective: ClassVar[Optional[str]] = OBJECTIVE
    directions: ClassVar[tuple[str, ...]] = ("bidirectional",)
    transforms_inputs: ClassVar[bool] = True

    generator_hidden: Optional[int] = Field(None, ge=8, description="generator width (default: model.hidden / 4, at least 16)")
    generator_layers: Optional[int] = Field(None, ge=1, description="generator blocks (default: half of model.layers, at least 1)")
    generator_heads: int = Field(2, ge=1, description="attention heads of the generator; must divide generator_hidden")
    discriminator_weight: float = Field(50.0, gt=0, description="weight of the replaced-token loss (ELECTRA: 50)")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")

    def generator_width(self, recipe: Any) -> int:
        return self.generator_hidden or max(16, recipe.model.hidden // 4)

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        width = self.generator_width(recipe)
        if width % self.generator_heads:
            return [(f"{key}.generator_heads", f"{self.generator_heads} heads do not divide the generator's width "
                     f"{width}; set generator_hidden or generator_heads")]
        if not recipe.model.embedding.params.token_table():
            return [(key, "the generator ties its softmax to the token table: the embedding needs a token part")]
        return []


def build_batching(params: ReplacedTokenParams, ctx):
    from .batches import PackedBatching

    return PackedBatching(ctx.recipe.train.seq_len, params.mask_prob)


def build_head(params: ElectraParams, ctx):
    from .model import ElectraHead

    recipe = ctx.recipe
    return ElectraHead(
        hidden=ctx.input_dim, embedding=ctx.embedding, vocab_size=ctx.vocab_size,
        generator_hidden=params.generator_width(recipe),
        generator_layers=params.generator_layers or max(1, recipe.model.layers // 2),
        generator_heads=params.generator_heads, discriminator_weight=params.discriminator_weight,
        std=params.init_std,
    )


@plmkit.hookimpl
def register_components(register):
    register("batching", "replaced_token", ReplacedTokenParams, build_batching)
    register("head", "electra", ElectraParams, build_head)
