"""Test asset: attention 'check_raises', whose check() reads a recipe field that does not exist."""

import plmkit


class CheckRaisesParams(plmkit.Params):
    """A block whose cross-check has a bug."""

    def check(self, recipe, key):
        if recipe.model.width % 2:  # the bug under test: there is no model.width
            return [(key, "odd width")]
        return []


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
    register("attention", "check_raises", CheckRaisesParams, build_block)
