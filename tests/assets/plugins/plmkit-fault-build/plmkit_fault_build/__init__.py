"""Test asset: attention 'build_raises', whose build raises."""

import plmkit


class BuildRaisesParams(plmkit.Params):
    """A block that cannot be built."""


def build_block(params, ctx):
    raise ValueError(f"no fused kernel for hidden size {ctx.input_dim}")


@plmkit.hookimpl
def register_components(register):
    register("attention", "build_raises", BuildRaisesParams, build_block)
