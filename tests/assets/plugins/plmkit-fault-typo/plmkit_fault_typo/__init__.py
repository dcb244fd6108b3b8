"""Test asset: implements register_component (missing the final s)."""

import plmkit


class TypoParams(plmkit.Params):
    """Never registered: the hook is misspelled."""


@plmkit.hookimpl
def register_component(register):
    register("attention", "typo_block", TypoParams, lambda params, ctx: None)
