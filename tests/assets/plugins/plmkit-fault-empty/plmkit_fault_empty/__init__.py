"""Test asset: registers its block only when an optional dependency is installed (it is not)."""

import importlib.util

import plmkit


class FastParams(plmkit.Params):
    """A block that needs an optional kernel package."""


@plmkit.hookimpl
def register_components(register):
    if importlib.util.find_spec("plmkit_fast_kernels_not_installed") is not None:
        register("attention", "fast", FastParams, lambda params, ctx: None)
