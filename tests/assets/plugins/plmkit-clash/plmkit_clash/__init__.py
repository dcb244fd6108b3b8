"""Test asset: registers attention 'transformer', which plmkit's built-ins already provide."""

import plmkit


class ClashParams(plmkit.Params):
    """A block that collides with the built-in transformer."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "transformer", ClashParams, lambda params, ctx: None)
