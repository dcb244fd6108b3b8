"""Recipes load with extends, overrides and interpolation; the result is fully resolved."""

from __future__ import annotations

import textwrap

import pytest

import plmkit
from plmkit.errors import RecipeError
from plmkit.recipe.validate import recipe_from_dict

from conftest import RECIPES


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_default_recipes_validate():
    for name in ("bert", "gpt", "elmo"):
        recipe = plmkit.load_recipe(RECIPES / f"{name}.yaml")
        assert recipe.name == name


def test_overrides_are_applied_and_typed():
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", ["train.steps=50", "model.layers=2", "train.lr=3e-4"])
    assert recipe.train.steps == 50 and recipe.model.layers == 2
    assert recipe.train.lr == pytest.approx(3e-4)


def test_interpolation_follows_overrides():
    # bert.yaml sets max_positions: ${train.seq_len}
    recipe = plmkit.load_recipe(RECIPES / "bert.yaml", ["train.seq_len=64"])
    assert recipe.model.max_positions == 64


def test_resolvers_compute(tmp_path):
    path = write(tmp_path, "r.yaml", f"""\
        extends: {RECIPES / 'gpt.yaml'}
        model:
          attention:
            ffn: ${{mul:4,${{model.hidden}}}}
        """)
    assert plmkit.load_recipe(path).model.attention.params.ffn == 512


def test_extends_overrides_a_parameter_and_keeps_the_rest(tmp_path):
    path = write(tmp_path, "child.yaml", f"""\
        extends: {RECIPES / 'gpt.yaml'}
        name: child
        model:
          attention:
            heads: 2
        """)
    recipe = plmkit.load_recipe(path)
    assert recipe.name == "child"
    assert recipe.model.attention.params.heads == 2
    assert recipe.model.attention.params.norm == "pre"  # inherited from gpt.yaml


def test_changing_a_component_type_starts_it_afresh(tmp_path):
    path = write(tmp_path, "child.yaml", f"""\
        extends: {RECIPES / 'bert.yaml'}
        model:
          head:
            mlm:
              type: causal_lm
        """)
    # masked_lm's mask_prob must not be carried over to causal_lm: the error is about the
    # direction (causal_lm needs a causal model), not about an unknown key
    with pytest.raises(RecipeError) as info:
        plmkit.load_recipe(path)
    text = str(info.value)
    assert "mask_prob" not in text and "causal" in text


def test_null_removes_an_inherited_head(tmp_path):
    path = write(tmp_path, "child.yaml", f"""\
        extends: {RECIPES / 'bert.yaml'}
        model:
          head:
            nsp: null
        """)
    recipe = plmkit.load_recipe(path)
    assert recipe.model.head["nsp"] is None
    model = plmkit.build_model(recipe)
    assert list(model.heads) == ["mlm"]


def test_to_dict_fills_every_default():
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml")
    data = recipe.to_dict()
    assert data["model"]["attention"]["type"] == "transformer"
    assert "init_std" in data["model"]["attention"]  # a default the file never wrote
    assert data["train"]["grad_accum"] == 1
    # the dict is itself a valid recipe that gives the same result
    again = recipe_from_dict(data)
    assert again.to_dict() == data


def test_recipe_from_dict_accepts_overrides():
    data = plmkit.load_recipe(RECIPES / "gpt.yaml").to_dict()
    recipe = recipe_from_dict(data, overrides=["train.steps=3"])
    assert recipe.train.steps == 3
