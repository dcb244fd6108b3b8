"""Test asset: a head whose Params subclasses plmkit.Params instead of plmkit.HeadParams."""

import plmkit


class PlainHeadParams(plmkit.Params):
    """A head that forgot to declare its facts."""


@plmkit.hookimpl
def register_components(register):
    register("head", "plain_head", PlainHeadParams, lambda params, ctx: None)
