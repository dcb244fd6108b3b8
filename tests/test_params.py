"""The kind bases' class facts are code: a plugin whose facts are of the wrong type fails at load,
with a line saying what the fact must be, and every recipe that does not use it keeps working."""

from __future__ import annotations

from typing import ClassVar

import pytest

import plmkit
from plmkit.params import class_fact_problem
from plmkit.plugins import PluginInfo, get_plugins


class TupleObjectives(plmkit.BatchingParams):
    """A batching whose objectives are a tuple (sets are what plmkit compares)."""

    objectives: ClassVar = ("masked_lm",)


class SidewaysHead(plmkit.HeadParams):
    """A head with a direction that does not exist."""

    objective: ClassVar = "masked_lm"
    directions: ClassVar = ("sideways",)


@pytest.mark.parametrize("params,expected", [
    (TupleObjectives, "its class fact objectives must be a non-empty frozenset of objective names"),
    (SidewaysHead, "its class fact directions must be a non-empty tuple of bidirectional, causal, bilm, got ('sideways',)"),
])
def test_wrong_class_facts_are_named(params, expected):
    assert class_fact_problem(params).startswith(expected)


def test_every_registered_component_has_facts_of_the_right_type():
    from plmkit.plugins import get_registry

    assert [c.name for c in get_registry().all() if class_fact_problem(c.params)] == []


def test_a_plugin_with_wrong_facts_fails_alone(fresh_plugins):
    from conftest import RECIPES

    class Wrong:
        @plmkit.hookimpl
        def register_components(self, register):
            register("batching", "tuple_spans", TupleObjectives, lambda params, ctx: None)

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    info = PluginInfo("wrong", "plmkit-wrong", "1.0")
    plugins._add(Wrong(), info)
    assert info.status == "failed" and "batching 'tuple_spans': its class fact objectives must be" in info.reason
    assert plugins.registry.get("batching", "tuple_spans") is None
    assert plmkit.load_recipe(RECIPES / "bert-no-nsp.yaml").batching.type == "segments"  # defaults still chosen
