"""Test asset: names its build function by an import path instead of passing the function."""

import plmkit


class StringBuildParams(plmkit.Params):
    """A block whose build is a string."""


@plmkit.hookimpl
def register_components(register):
    register("attention", "string_build", StringBuildParams, "plmkit_fault_notcallable:build_block")
