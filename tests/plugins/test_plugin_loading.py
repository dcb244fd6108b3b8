"""Plugins are found through real installed entry points; broken ones are isolated, clashes refused.

The test packages in tests/assets/plugins are installed for real (pip, into a folder put on
PYTHONPATH for the subprocesses), so discovery goes through importlib.metadata entry points
exactly as for a user's installed plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ASSETS, RECIPES, run_cli


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder with plmkit-broken and plmkit-clash pip-installed into it."""
    target = tmp_path_factory.mktemp("site")
    packages = [str(ASSETS / "plugins" / name) for name in ("plmkit-broken", "plmkit-clash")]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), *packages],
        check=True, capture_output=True,
    )
    return target


def with_site(site, allow=None):
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))}
    if allow is not None:
        env["PLMKIT_PLUGINS"] = allow
    return env


def test_plugins_lists_loaded_and_failed_with_reasons(site):
    result = run_cli("plugins", env=with_site(site))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "loaded" in lines["plmkit"]
    assert "failed: ModuleNotFoundError: No module named 'plmkit_dependency_that_is_not_installed'" in lines["broken"]
    assert "plmkit-broken 0.0.1" in lines["broken"]
    assert "failed: attention 'transformer' is registered by both plmkit and plmkit-clash" in lines["clash"]


def test_a_collision_is_an_error_naming_both_packages(site):
    result = run_cli("validate", str(RECIPES / "gpt.yaml"), env=with_site(site))
    assert result.returncode == 1
    assert "attention 'transformer' is registered by both plmkit and plmkit-clash" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_plugin_does_not_break_other_recipes(site):
    result = run_cli("validate", str(RECIPES / "gpt.yaml"), env=with_site(site, allow="broken"))
    assert result.returncode == 0, result.stderr


def test_a_recipe_using_the_broken_plugin_names_it_and_why(site, tmp_path):
    recipe = tmp_path / "uses-broken.yaml"
    recipe.write_text(f"extends: {RECIPES / 'gpt.yaml'}\nmodel:\n  attention:\n    type: broken_block\n")
    result = run_cli("validate", str(recipe), env=with_site(site, allow="broken"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "unknown attention 'broken_block'" in line
    assert "plugin broken (plmkit-broken) failed to load: ModuleNotFoundError" in line


def test_the_allow_list_restricts_plugins(site):
    result = run_cli("plugins", env=with_site(site, allow=""))
    loaded = [line.split()[0] for line in result.stdout.splitlines() if "  loaded" in line]
    assert loaded == ["plmkit"]  # built-ins always load; nothing else
    assert "clash  plmkit-clash 0.0.2  excluded: not in PLMKIT_PLUGINS" in result.stdout
    result = run_cli("plugins", env=with_site(site, allow="plmkit-broken,nosuch"))  # a distribution name works too
    tried = [line.split()[0] for line in result.stdout.splitlines() if "excluded" not in line]
    assert tried == ["plmkit", "broken"]
    assert "PLMKIT_PLUGINS names 'nosuch', which no installed plugin has" in result.stderr


def test_builtins_come_through_the_same_hook(fresh_plugins):
    from plmkit.plugins import get_plugins

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    (info,) = [i for i in plugins.infos if i.status != "excluded"]
    assert info.name == "plmkit" and info.status == "loaded"
    # every built-in was registered through register_components, recorded with its provider
    assert all(c.provider == "plmkit" for c in plugins.registry.all())
    assert len(info.components) == len(plugins.registry.all()) >= 17


def test_a_plugin_registered_in_process_is_validated_like_a_builtin(fresh_plugins, tmp_path):
    """The register callback checks what it is given and records the provider."""
    from pydantic import Field

    import plmkit
    from plmkit.plugins import get_plugins

    class WideParams(plmkit.Params):
        """A test block."""

        width: int = Field(2, ge=1, description="a width")

    class InProcess:
        @plmkit.hookimpl
        def register_components(self, register):
            register("attention", "wide", WideParams, lambda params, ctx: None)

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    plugins = get_plugins()
    from plmkit.plugins import PluginInfo

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


def test_an_excluded_plugin_is_named_when_its_component_is_asked_for(site, tmp_path):
    recipe = tmp_path / "uses-alibi.yaml"
    recipe.write_text(f"extends: {RECIPES / 'gpt.yaml'}\nmodel:\n  attention:\n    type: block_of_clash\n")
    result = run_cli("validate", str(recipe), env=with_site(site, allow=""))
    assert result.returncode == 2
    assert "plugin clash (plmkit-clash) is installed but not loaded (not in PLMKIT_PLUGINS)" in result.stderr
