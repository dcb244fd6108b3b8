"""Test asset: attention 'forward_raises', which builds but fails in its forward pass."""

import plmkit


class ForwardRaisesParams(plmkit.Params):
    """A block whose forward pass fails."""


def build_block(params, ctx):
    from torch import nn

    class ForwardRaises(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.proj = nn.Linear(hidden, hidden)

        def forward(self, x, attention_mask, rope=None):
            raise RuntimeError(f"expected a padding mask, got {attention_mask}")

    return ForwardRaises(ctx.input_dim)


@plmkit.hookimpl
def register_components(register):
    register("attention", "forward_raises", ForwardRaisesParams, build_block)
