"""Test asset: registers attention 'half_registered', then its hook raises."""

import plmkit


class HalfParams(plmkit.Params):
    """Registered before the hook fails; withdrawn with the plugin."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "half_registered", HalfParams, lambda params, ctx: None)
    raise RuntimeError("settings file plmkit_fault_register.toml not found")
