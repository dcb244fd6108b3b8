"""Test asset: registers attention 'clash_block', then attention 'transformer', which plmkit's
built-ins already provide: the plugin fails and clash_block is withdrawn with it."""

import plmkit


class ClashParams(plmkit.Params):
    """A block that collides with the built-in transformer."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "clash_block", ClashParams, lambda params, ctx: None)
    register("attention", "transformer", ClashParams, lambda params, ctx: None)
