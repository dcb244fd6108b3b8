"""``lstm_projection``: one LSTM layer with a projected state, as in ELMo's biLM (bilm-tf / allennlp).

The assembler stacks ``model.layers`` of them per direction and feeds the backward stack each
row reversed within its length, so a layer always reads left to right. Cell clipping, projection
clipping, the residual connection between layers and the state carried between calls (ELMo at
inference) are parameters. The torch code is in _lstm.py.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from plmkit.registry import Params


class LstmProjectionParams(Params):
    """LSTM with projection (ELMo): cell of cell_dim, output and recurrent state projected to model width."""

    cell_dim: int = Field(4096, ge=1, description="memory cell size C (ELMo: 4096; small ELMo: 1024)")
    projection_dim: Optional[int] = Field(None, ge=1, description="projected state / output size; default model.hidden")
    cell_clip: Optional[float] = Field(3.0, gt=0, description="clip the memory cell to +-this after each step (null: off)")
    proj_clip: Optional[float] = Field(3.0, gt=0, description="clip the projected state to +-this (null: off)")
    residual: bool = Field(True, description="layers after the first add their input to their output (skip connections)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the layer input while training (bilm-tf keep_prob 0.9)")
    stateful: bool = Field(False, description="carry each row's final (h, c) into the next call (ELMo inference)")

    def output_width(self, recipe: Any) -> int:
        return self.projection_dim or recipe.model.hidden

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        direction = recipe.model.direction
        if direction not in ("causal", "bilm"):
            return [("model.direction", f"{key} is a recurrent layer, which reads left to right; "
                     f"model.direction must be 'causal' or 'bilm', got {direction!r}")]
        return []


def build(params: LstmProjectionParams, ctx):
    from plmkit.modules import LstmWithProjection

    return LstmWithProjection(
        input_dim=ctx.input_dim,
        cell_dim=params.cell_dim,
        projection_dim=params.projection_dim or ctx.hidden,
        cell_clip=params.cell_clip,
        proj_clip=params.proj_clip,
        residual=params.residual and (ctx.layer or 0) > 0,
        dropout=params.dropout,
        stateful=params.stateful,
    )


def register(register):
    register("recurrent", "lstm_projection", LstmProjectionParams, build)
