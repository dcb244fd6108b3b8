"""Plugins are found through real installed entry points; a plugin that fails to load is contained.

Every test package of tests/assets/plugins is installed at once (see plugin_site.py): the ones
that fail at load time are listed by ``plmkit plugins`` with their reason, everything they
registered is withdrawn, and they affect only recipes that ask for their components.
"""

from __future__ import annotations

import json
import textwrap

import pytest

import plugin_site
from conftest import RECIPES, run_cli
from plmkit.plugins import HOOKS
from plmkit.registry import KINDS


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return plugin_site.install(tmp_path_factory)


def test_plugins_lists_each_plugin_with_its_status_components_and_hooks(site):
    result = run_cli("plugins", env=plugin_site.env(site))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["plmkit"].startswith("plmkit  plmkit ")
    assert lines["plmkit"].endswith(" components  hooks: register_components")
    assert lines["broken"] == ("broken  plmkit-broken 0.0.1  failed: ModuleNotFoundError: "
                               "No module named 'plmkit_dependency_that_is_not_installed'")
    assert lines["clash"] == (
        "clash  plmkit-clash 0.0.2  failed: attention 'transformer' is already registered by plmkit, so "
        "plmkit-clash cannot register it; rename it in plmkit-clash, or leave one of the two out with PLMKIT_PLUGINS")
    assert lines["twin_a"] == "twin_a  plmkit-twin-a 0.0.1  loaded  1 component  hooks: register_components"
    assert lines["twin_b"] == (
        "twin_b  plmkit-twin-b 0.0.1  failed: attention 'twin' is already registered by plmkit-twin-a, so "
        "plmkit-twin-b cannot register it; rename it in plmkit-twin-b, or leave one of the two out with PLMKIT_PLUGINS")
    assert lines["fault_register"] == (
        "fault_register  plmkit-fault-register 0.0.1  failed: RuntimeError in register_components: settings file "
        f"plmkit_fault_register.toml not found ({plugin_site.where(site, 'plmkit_fault_register', 'raise RuntimeError')})")
    assert lines["fault_kind"] == (
        "fault_kind  plmkit-fault-kind 0.0.1  failed: registers 'kind_block' under unknown kind 'attn' "
        f"(did you mean 'attention'?); kinds are: {', '.join(KINDS)}")
    assert lines["fault_params"] == (
        "fault_params  plmkit-fault-params 0.0.1  failed: head 'plain_head': its Params must subclass "
        "plmkit.HeadParams (got class PlainHeadParams, a subclass of plmkit.Params)")
    assert lines["fault_notcallable"] == (
        "fault_notcallable  plmkit-fault-notcallable 0.0.1  failed: attention 'string_build': its build must be "
        "callable as build(params, ctx) (got str 'plmkit_fault_notcallable:build_block')")
    assert lines["fault_typo"] == (
        "fault_typo  plmkit-fault-typo 0.0.1  failed: implements unknown hook 'register_component' "
        f"(did you mean 'register_components'?); plmkit's hooks are: {', '.join(HOOKS)}")
    assert lines["fault_nohook"] == ("fault_nohook  plmkit-fault-nohook 0.0.1  loaded  registers no components: "
                                     "it implements no register_components hook  hooks: run_finished")
    assert lines["fault_empty"] == ("fault_empty  plmkit-fault-empty 0.0.1  loaded  registers no components: "
                                    "its register_components hook registered none  hooks: register_components")
    assert lines["fault_hook"] == ("fault_hook  plmkit-fault-hook 0.0.1  loaded  1 component  "
                                   "hooks: register_components, run_started, step_finished")


def test_plugins_json_shows_what_a_failed_plugin_had_registered_and_withdrew(site):
    result = run_cli("plugins", "--json", env=plugin_site.env(site))
    infos = {info["name"]: info for info in json.loads(result.stdout)}
    assert infos["clash"]["status"] == "failed" and infos["clash"]["components"] == []
    assert infos["clash"]["withdrawn"] == ["attention/clash_block"]
    assert infos["twin_b"]["withdrawn"] == ["attention/twin_b_only"]
    assert infos["fault_register"]["withdrawn"] == ["attention/half_registered"]
    assert infos["fault_kind"]["withdrawn"] == ["attention/kind_ok"]
    assert infos["twin_a"]["components"] == ["attention/twin"]
    assert infos["fault_hook"]["hooks"] == ["register_components", "run_started", "step_finished"]
    assert infos["fault_hook"]["location"] == str((site / "plmkit_fault_hook").resolve())


def test_a_collision_keeps_the_first_component_and_recipes_using_it_validate(site):
    # twin_a loaded first: 'twin' is its block, with its parameters (twin_b's has no width_a)
    result = run_cli("validate", str(RECIPES / "gpt.yaml"), "model.attention.type=twin", "model.attention.width_a=3",
                     env=plugin_site.env(site))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name, plugin", [("twin_b_only", "twin_b"), ("clash_block", "clash"),
                                          ("half_registered", "fault_register"), ("kind_ok", "fault_kind")])
def test_everything_a_failed_plugin_registered_is_withdrawn(site, name, plugin):
    result = run_cli("validate", str(RECIPES / "gpt.yaml"), f"model.attention.type={name}", env=plugin_site.env(site))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"command line: model.attention.type: unknown attention '{name}'; registered: ")
    package = "plmkit-" + plugin.replace("_", "-")
    assert f"; plugin {plugin} ({package}) provides it but failed to load: " in line


def test_a_recipe_using_a_plugin_that_failed_to_import_names_it_and_why(site, tmp_path):
    recipe = tmp_path / "uses-broken.yaml"
    recipe.write_text(f"extends: {RECIPES / 'gpt.yaml'}\nmodel:\n  attention:\n    type: broken_block\n")
    result = run_cli("validate", str(recipe), env=plugin_site.env(site, allow="broken"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "unknown attention 'broken_block'" in line
    assert "plugin broken (plmkit-broken) failed to load: ModuleNotFoundError" in line


def test_the_allow_list_restricts_plugins(site):
    result = run_cli("plugins", env=plugin_site.env(site, allow=""))
    loaded = [line.split()[0] for line in result.stdout.splitlines() if "  loaded" in line]
    assert loaded == ["plmkit"]  # built-ins always load; nothing else
    assert "clash  plmkit-clash 0.0.2  excluded: not in PLMKIT_PLUGINS" in result.stdout
    result = run_cli("plugins", env=plugin_site.env(site, allow="plmkit-broken,nosuch"))  # a distribution name works too
    tried = [line.split()[0] for line in result.stdout.splitlines() if "excluded" not in line]
    assert tried == ["plmkit", "broken"]
    assert "PLMKIT_PLUGINS names 'nosuch', which no installed plugin has" in result.stderr


def test_an_excluded_plugin_is_named_when_its_component_is_asked_for(site, tmp_path):
    recipe = tmp_path / "uses-twin.yaml"
    recipe.write_text(f"extends: {RECIPES / 'gpt.yaml'}\nmodel:\n  attention:\n    type: twin\n")
    result = run_cli("validate", str(recipe), env=plugin_site.env(site, allow=""))
    assert result.returncode == 2
    assert "plugin twin_a (plmkit-twin-a) is installed but not loaded (not in PLMKIT_PLUGINS)" in result.stderr
    assert "not installed" not in result.stderr.replace("is installed but not loaded", "")


def test_debug_shows_why_each_plugin_failed_to_load(site):
    result = run_cli("plugins", env={**plugin_site.env(site, allow="broken"), "PLMKIT_DEBUG": "1"})
    assert result.returncode == 0
    assert "-- plugin broken failed to load:\nTraceback (most recent call last):" in result.stderr
    assert "import plmkit_dependency_that_is_not_installed" in result.stderr


# -- in-process: the register callback and pluggy's calling rules --------------------------------
def test_builtins_come_through_the_same_hook(fresh_plugins):
    from plmkit.plugins import get_plugins

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    (info,) = [i for i in plugins.infos if i.status != "excluded"]
    assert info.name == "plmkit" and info.status == "loaded" and info.hooks == ["register_components"]
    # every built-in was registered through register_components, recorded with its provider
    assert all(c.provider == "plmkit" for c in plugins.registry.all())
    assert len(info.components) == len(plugins.registry.all()) >= 17


def test_a_plugin_registered_in_process_is_validated_like_a_builtin(fresh_plugins, tmp_path):
    """The register callback checks what it is given and records the provider."""
    from pydantic import Field

    import plmkit
    from plmkit.plugins import PluginInfo, get_plugins

    class WideParams(plmkit.Params):
        """A test block."""

        width: int = Field(2, ge=1, description="a width")

    class InProcess:
        @plmkit.hookimpl
        def register_components(self, register):
            register("attention", "wide", WideParams, lambda params, ctx: None)

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    plugins._add(InProcess(), PluginInfo("inprocess", "plmkit-inprocess", "1.0"))
    component = plugins.registry.get("attention", "wide")
    assert component.provider == "plmkit-inprocess" and component.description == "A test block."
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent(f"""\
        extends: {RECIPES / 'gpt.yaml'}
        model:
          attention:
            type: wide
            width: 0
        """))
    with pytest.raises(plmkit.errors.RecipeError) as info:
        plmkit.load_recipe(path)
    assert f"{path}:5: model.attention.width: expected an integer >= 1, got 0" in info.value.lines()


def test_each_plugin_gets_its_own_register_callback_through_pluggy(fresh_plugins):
    """Two plugins registered in one manager: each hook is called once, with its own provenance."""
    import plmkit
    from plmkit.plugins import PluginInfo, get_plugins

    class OneParams(plmkit.Params):
        """One."""

    calls = []

    class First:
        @plmkit.hookimpl
        def register_components(self, register):
            calls.append("first")
            register("attention", "first_block", OneParams, lambda params, ctx: None)

    class Second:
        @plmkit.hookimpl
        def register_components(self):  # a subset of the hook's arguments: pluggy allows it
            calls.append("second")

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    plugins._add(First(), PluginInfo("first", "plmkit-first", "1.0"))
    plugins._add(Second(), PluginInfo("second", "plmkit-second", "1.0"))
    assert calls == ["first", "second"]
    assert plugins.registry.get("attention", "first_block").provider == "plmkit-first"
    second = plugins.infos[-1]
    assert second.status == "loaded" and second.hooks == ["register_components"]
    assert second.note == "registers no components: its register_components hook registered none"


def test_a_plugin_that_swallows_a_refusal_still_fails_and_registers_nothing(fresh_plugins):
    import plmkit
    from plmkit.plugins import PluginInfo, get_plugins

    class GoodParams(plmkit.Params):
        """Good."""

    class Sneaky:
        @plmkit.hookimpl
        def register_components(self, register):
            register("attention", "sneaky_ok", GoodParams, lambda params, ctx: None)
            try:
                register("attention", "sneaky_ok", GoodParams, lambda params, ctx: None)
            except Exception:
                pass

        @plmkit.hookimpl
        def step_finished(self, step):
            raise AssertionError("a failed plugin's hooks must not run")

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    sneaky = Sneaky()
    plugins._add(sneaky, PluginInfo("sneaky", "plmkit-sneaky", "1.0"))
    info = plugins.infos[-1]
    assert (info.status, info.reason) == ("failed", "attention 'sneaky_ok' is registered twice by plmkit-sneaky")
    assert info.withdrawn == ["attention/sneaky_ok"] and plugins.registry.get("attention", "sneaky_ok") is None
    assert not plugins.manager.is_registered(sneaky)
    plugins.manager.hook.step_finished(step=1, metrics={})  # no AssertionError: unregistered
