"""Command-line overrides: replacing a component works like extends, errors point where each key
was written, KEY=VALUE is accepted anywhere after the recipe, and no override crashes."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import given, strategies as st

from plmkit import load_recipe
from plmkit.cli.main import main
from plmkit.errors import RecipeError
from plmkit.recipe.loader import load_file

from tiny import RECIPES, fuzz_settings, one_line

GPT = RECIPES / "gpt.yaml"


def problems(path, *overrides):
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides))
    return info.value.lines()


def test_a_mapping_override_replaces_a_component_as_extends_and_type_do(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {GPT}\nmodel:\n  attention:\n    type: alibi\ndata:\n  type: text\n  paths: [x.txt]\n")
    by_extends = load_recipe(child).to_dict()
    by_type = load_recipe(GPT, ["model.attention.type=alibi", "data.type=text", "data.paths=[x.txt]"]).to_dict()
    by_mapping = load_recipe(GPT, ["model.attention={type: alibi}", "data={type: text, paths: [x.txt]}"]).to_dict()
    for recipe in (by_type, by_mapping):
        assert recipe["model"]["attention"] == by_extends["model"]["attention"]
        assert recipe["data"] == by_extends["data"]
    assert by_mapping["data"] == {"type": "text", "paths": ["x.txt"], "split": "blank_line"}


def test_a_mapping_of_the_same_type_merges_and_keeps_the_rest():
    recipe = load_recipe(GPT, ["model.attention={heads: 8}"])
    assert recipe.model.attention.params.heads == 8 and recipe.model.attention.params.norm == "pre"


def test_each_error_points_where_its_key_was_written(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {GPT}\nmodel:\n  attention:\n    norm: sideways\n")
    lines = problems(child, "model.attention={heads: 2, bogus: 1}")  # the file's key stays the file's
    assert lines[0] == f"{child}:4: model.attention.norm: expected one of 'pre' or 'post', got 'sideways'"
    assert lines[1].startswith("command line: model.attention.bogus: unknown key") and len(lines) == 2
    # a replaced component keeps nothing of the old one, so nothing is blamed on either place
    assert problems(GPT, "model.attention={type: alibi, bogus: 1}") == [
        "command line: model.attention.bogus: unknown key; allowed: heads, activation, dropout, eps"]


def test_overrides_are_accepted_after_options(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(GPT), "--out", "x", "train.steps=7", "--dry-run", "model.layers=1"]) == 0
    assert "would train 7 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["run", str(GPT), "--dry-run", "--out", "x", "train.steps=7", "--bogus"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in one_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing


# -- fuzzing -----------------------------------------------------------------------------------------
KEYS = sorted({key for key in load_file(GPT).lines if key} | {"model.attention.type", "data.type", "model.head.lm.type",
                                                             "model", "train", "name", "extends", "model.x.y.z"})
TEXT_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["{type: alibi}", "{type: text, paths: [x]}", "{type: nope}", "null", "[1, 2", "{a: {b: ",
                     "&a [*a]", "!!set {a}", "1e999", ".nan", "true", "-1", "0", "10000000000000000000000", "'",
                     "${model.hidden}", "${oc.env:HOME}", "${mul:1e308,1e308}", "{type: transformer, heads: 0}",
                     "[" * 60 + "]" * 60, "{a: " * 40 + "1" + "}" * 40, "x" * 300000]),
    st.builds(lambda v: yaml.safe_dump(v, default_flow_style=True).strip(),
              st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)),
)
OVERRIDES = st.lists(st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS) | st.text(max_size=20), TEXT_VALUES),
    st.text(max_size=20),
), max_size=4)


@fuzz_settings(200)
@given(overrides=OVERRIDES)
def test_any_overrides_give_a_recipe_or_one_line_problems(overrides):
    started = time.monotonic()
    try:
        load_recipe(GPT, overrides)
    except RecipeError as error:
        lines = error.lines()
        assert lines and all(line.strip() and "\n" not in line for line in lines), lines
    assert time.monotonic() - started < 20
