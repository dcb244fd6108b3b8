"""A plugin's code that raises while plmkit runs it is one line naming it; other recipes don't notice.

Every test package of tests/assets/plugins is installed at once (plugin_site.py). The ones that
fail at run time raise in a Params check(), a build(), a module's forward pass and a training
hook (step_finished); each failure is one line on stderr (file:line of the plugin's code, the
recipe key, the plugin package and its component, the exception), exit code 1, no traceback;
``--debug`` adds the traceback. With all of them installed, recipes/gpt.yaml validates and runs.
"""

from __future__ import annotations

import json
import shutil

import pytest

import plugin_site
from conftest import RECIPES, reseal, run_cli

GPT = str(RECIPES / "gpt.yaml")
TINY = ["train.steps=3", "train.batch_size=2", "data.documents=30", "eval.batches=1", "model.layers=1",
        "device.type=cpu"]
HINT = " (plmkit --debug shows the traceback)"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return plugin_site.install(tmp_path_factory)


def last_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def gpt_run(site, tmp_path_factory):
    """recipes/gpt.yaml, tiny, trained with every faulty plugin installed."""
    out = tmp_path_factory.mktemp("runs") / "gpt"
    result = run_cli("run", GPT, *TINY, "--out", str(out), env=plugin_site.env(site))
    assert result.returncode == 0, result.stderr
    return out


def test_with_every_faulty_plugin_installed_an_unrelated_recipe_validates_and_runs(site, gpt_run):
    result = run_cli("validate", GPT, env=plugin_site.env(site))
    assert result.returncode == 0, result.stderr
    assert json.loads((gpt_run / "summary.json").read_text())["step"] == 3
    # plmkit-fault-nohook's run_finished(run_dir) ran: a hook that takes a subset of the arguments
    assert (gpt_run / "seen-by-plmkit-fault-nohook").read_text() == "run_finished\n"


def test_a_check_that_raises_is_one_line_naming_the_plugin(site):
    result = run_cli("validate", GPT, "model.attention.type=check_raises", env=plugin_site.env(site))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"{plugin_site.where(site, 'plmkit_fault_check', 'recipe.model.width')}: model.attention: "
                    "plugin plmkit-fault-check (attention 'check_raises') raised AttributeError in "
                    "CheckRaisesParams.check(): 'ModelSection' object has no attribute 'width'" + HINT)


def test_debug_shows_the_traceback_behind_the_line(site):
    result = run_cli("--debug", "validate", GPT, "model.attention.type=check_raises", env=plugin_site.env(site))
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "if recipe.model.width % 2:" in result.stderr
    assert "AttributeError: 'ModelSection' object has no attribute 'width'" in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("object has no attribute 'width'")  # the line, no hint


def test_a_build_that_raises_is_one_line_naming_the_plugin(site):
    result = run_cli("run", "--dry-run", GPT, "model.attention.type=build_raises", env=plugin_site.env(site))
    assert result.returncode == 1
    assert last_line(result) == (
        f"{plugin_site.where(site, 'plmkit_fault_build', 'raise ValueError')}: model.attention: "
        "plugin plmkit-fault-build (attention 'build_raises') raised ValueError in build_block(): "
        "no fused kernel for hidden size 128" + HINT)


def test_a_forward_pass_that_raises_is_one_line_naming_the_plugin(site, tmp_path):
    out = tmp_path / "forward"
    result = run_cli("run", GPT, *TINY, "model.attention.type=forward_raises", "--out", str(out),
                     env=plugin_site.env(site))
    assert result.returncode == 1
    assert last_line(result) == (
        f"{plugin_site.where(site, 'plmkit_fault_forward', 'raise RuntimeError')}: model.attention: "
        "plugin plmkit-fault-forward (attention 'forward_raises') raised RuntimeError in ForwardRaises.forward(): "
        "expected a padding mask, got None" + HINT)


def test_a_training_hook_that_raises_is_one_line_naming_the_plugin(site, tmp_path):
    out = tmp_path / "watched"
    result = run_cli("run", GPT, *TINY, "model.attention.type=watched", "--out", str(out), env=plugin_site.env(site))
    assert result.returncode == 1
    assert last_line(result) == (
        f"{plugin_site.where(site, 'plmkit_fault_hook', 'metrics[')}: model.attention: "
        "plugin plmkit-fault-hook (attention 'watched') raised KeyError in its step_finished hook: "
        "'watched_norm'" + HINT)
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_a_run_whose_plugin_is_excluded_says_so_and_how_to_include_it(site, gpt_run, tmp_path):
    """load_run: a component from an installed plugin left out by PLMKIT_PLUGINS is not 'not installed'."""
    copy = tmp_path / "model"
    shutil.copytree(gpt_run / "model", copy)
    versions = json.loads((copy / "versions.json").read_text())
    versions["components"].append({"key": "model.attention", "kind": "attention", "type": "twin",
                                   "package": "plmkit-twin-a", "version": "0.0.1"})
    (copy / "versions.json").write_text(json.dumps(versions))
    reseal(copy)  # as if the run had been trained with the plugin
    result = run_cli("eval", str(copy), env=plugin_site.env(site, allow="alibi"))
    assert result.returncode == 1
    assert last_line(result) == (
        "model.attention: this run's attention 'twin' comes from the plugin package plmkit-twin-a==0.0.1, which is "
        "installed (plmkit-twin-a 0.0.1) but excluded by PLMKIT_PLUGINS; include it: PLMKIT_PLUGINS=alibi,twin_a")


# -- in-process: what blame finds in a traceback ------------------------------------------------
def test_blame_names_only_the_component_whose_code_raised(fresh_plugins):
    import plmkit
    from plmkit.errors import PluginError
    from plmkit.plugins import PluginInfo, blame, get_plugins

    class BlockParams(plmkit.Params):
        """A block."""

    class ProbeParams(plmkit.HeadParams):
        """A probe whose check has a bug."""

        def check(self, recipe, key):
            return [(key, str(1 / 0))]

    class TwoComponents:
        @plmkit.hookimpl
        def register_components(self, register):
            register("attention", "two_block", BlockParams, lambda params, ctx: None)
            register("head", "two_probe", ProbeParams, lambda params, ctx: None)

    fresh_plugins.setenv("PLMKIT_PLUGINS", "")
    get_plugins()._add(TwoComponents(), PluginInfo("two", "plmkit-two", "1.0"))
    where = f"{ProbeParams.check.__code__.co_filename}:{ProbeParams.check.__code__.co_firstlineno + 1}"
    with pytest.raises(PluginError) as info:
        plmkit.load_recipe(GPT, ["model.attention.type=two_block", "model.head.probe.type=two_probe"])
    assert info.value.lines() == [f"{where}: model.head.probe: plugin plmkit-two (head 'two_probe') raised "
                                  "ZeroDivisionError in ProbeParams.check(): division by zero"]
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    try:  # no recipe anywhere: the component is still found from the code that raised
        ProbeParams().check(None, "key")
    except ZeroDivisionError as exc:
        (line,) = blame(exc).lines()  # (the entry into "plugin code" is this test function here)
        assert line.startswith(f"{where}: plugin plmkit-two (head 'two_probe') raised ZeroDivisionError in ")


def test_blame_leaves_plmkits_own_exceptions_alone(fresh_plugins):
    import plmkit
    from plmkit.plugins import blame, get_plugins

    get_plugins()
    try:
        plmkit.TokenizerParams().expected_vocab_size()  # raises inside plmkit/params.py
    except NotImplementedError as exc:
        assert blame(exc) is None
