"""Test asset: attention 'twin_b_only', then 'twin', which plmkit-twin-a registered first."""

import plmkit


class TwinBParams(plmkit.Params):
    """Twin B."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "twin_b_only", TwinBParams, lambda params, ctx: None)
    register("attention", "twin", TwinBParams, lambda params, ctx: None)
