"""What a component's builder is told about the model it is part of (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class BuildContext:
    """Passed to every ``build(params, ctx)``.

    hidden        model.hidden: the width of the transformer stream / the model's nominal width
    vocab_size    size of the token vocabulary (output softmax; input table where there is one)
    max_positions model.max_positions: the longest sequence the model accepts
    num_layers    model.layers
    direction     model.direction: "bidirectional", "causal" or "bilm"
    input_dim     width of what enters this component (encoder: embedding output; head: encoder
                  output, which is 2x the per-direction width for "bilm")
    layer         index of the block or layer being built (0-based), None outside the encoder
    causal        True when an attention block must not look ahead (causal and both bilm stacks)
    pad_id        id of the padding token
    token_embedding  the embedding's token table (an nn.Embedding) for heads that tie to it
    embedding     heads: the model's embedding module (keep a plain reference, never register it)
    recipe        the whole validated recipe, for anything else
    """

    hidden: int
    vocab_size: int
    max_positions: int
    num_layers: int
    direction: str
    input_dim: int = 0
    layer: int | None = None
    causal: bool = False
    pad_id: int = 0
    token_embedding: Any = None
    embedding: Any = None
    recipe: Any = None

    def but(self, **changes: Any) -> "BuildContext":
        return replace(self, **changes)
