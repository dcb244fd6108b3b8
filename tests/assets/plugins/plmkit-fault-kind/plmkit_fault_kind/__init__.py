"""Test asset: registers attention 'kind_ok', then a component under the unknown kind 'attn'."""

import plmkit


class KindParams(plmkit.Params):
    """A block under a misspelled kind."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "kind_ok", KindParams, lambda params, ctx: None)
    register("attn", "kind_block", KindParams, lambda params, ctx: None)
