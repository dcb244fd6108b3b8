"""Test asset: attention 'twin', which plmkit-twin-b registers too; this one loads first and stays."""

from pydantic import Field

import plmkit


class TwinAParams(plmkit.Params):
    """Twin A: a residual linear block."""

    width_a: int = Field(1, ge=1, description="only twin A has this parameter")


def build_block(params, ctx):
    """A residual linear layer: the smallest block a model can be built and trained with."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.proj = nn.Linear(hidden, hidden)

        def forward(self, x, attention_mask, rope=None):
            return x + self.proj(x)

    return Block(ctx.input_dim)


@plmkit.hookimpl
def register_components(register):
    register("attention", "twin", TwinAParams, build_block)
