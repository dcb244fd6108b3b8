"""``scalar_mix``: ELMo's learned scalar mix of the layers, the representation used downstream.

``ELMo = gamma * sum_j softmax(w)_j * A_j`` (Peters et al. 2018, eq. 1; allennlp ``ScalarMix``)
over A_0 = the embedding output and A_1..A_L = the encoder layers. For a ``bilm`` model the
embedding output x is duplicated to [x; x] so that it has the width of the [forward; backward]
layers. Returns ``{"representation": (B, T, D)}``; no loss. The torch code is in _scalar_mix.py.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import Field

from plmkit.recipe.shapes import embedding_width, encoder_width
from plmkit.params import HeadParams


class ScalarMixParams(HeadParams):
    """Learned softmax-weighted sum of all layers times a scale gamma (ELMo's downstream representation)."""

    representation: ClassVar[bool] = True  # `plmkit embed` uses its "representation" output

    do_layer_norm: bool = Field(False, description="normalise each layer by its mean and variance over all unmasked elements first")
    trainable: bool = Field(True, description="learn the weights and gamma (false: keep them fixed)")
    initial_weights: Optional[list[float]] = Field(
        None, description="pre-softmax weight of each layer, embedding first (default: all 0 = equal weights)"
    )
    gamma: float = Field(1.0, description="initial scale of the mixed representation")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        count, problems = recipe.model.layers + 1, []
        if self.initial_weights is not None and len(self.initial_weights) != count:
            problems.append((f"{key}.initial_weights", f"needs one weight per layer, {count} (the embedding + "
                             f"{recipe.model.layers} encoder layers), got {len(self.initial_weights)}"))
        embedding, encoder = embedding_width(recipe), encoder_width(recipe)
        if recipe.model.direction == "bilm" and None not in (embedding, encoder) and embedding != encoder:
            problems.append((key, f"the mix weighs the embedding ([x; x], {2 * embedding} wide) against the "
                             f"encoder layers ({2 * encoder} wide): make the embedding's output width equal "
                             f"the encoder's ({encoder})"))
        return problems


def build(params: ScalarMixParams, ctx):
    from plmkit.modules import ScalarMix

    weights = params.initial_weights or [0.0] * (ctx.num_layers + 1)
    return ScalarMix(
        weights=weights,
        gamma=params.gamma,
        trainable=params.trainable,
        do_layer_norm=params.do_layer_norm,
        duplicate_embedding=ctx.direction == "bilm",
    )


def register(register):
    register("head", "scalar_mix", ScalarMixParams, build)
