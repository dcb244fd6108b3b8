"""Every recipe in recipes/ (and in the example plugins) validates and builds."""

from __future__ import annotations

import pytest

import plmkit

from conftest import RECIPES

ALL = sorted(RECIPES.glob("*.yaml"))


def test_there_are_the_three_families_and_variants():
    names = {p.stem for p in ALL}
    assert {"bert", "gpt", "elmo"} <= names
    assert len(names) >= 6  # at least three variants that extend the defaults


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_recipe_validates_and_builds(path):
    from plmkit.recipe.summary import estimate

    recipe = plmkit.load_recipe(path)
    model = plmkit.build_model(recipe)
    assert model.num_parameters() == estimate(recipe).parameters  # what `plmkit show` counts is what is built
    text = path.read_text()
    assert text.startswith("#"), "a recipe opens with a comment saying what it builds"
    assert "plmkit run" in text.split("\n\n")[0] or "plmkit run" in "".join(text.splitlines(True)[:8])


def test_the_gpt_recipe_has_gpt2s_parameter_count():
    """GPT-2's formula: wte + wpe, per block 12 H^2 + 13 H, the final LayerNorm; the softmax is tied."""
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml")
    H, L, V, P = 128, 4, 97, 256
    assert plmkit.build_model(recipe, vocab_size=V).num_parameters() == V * H + P * H + L * (12 * H * H + 13 * H) + 2 * H


def test_variants_extend_a_default():
    for path in ALL:
        if path.stem not in ("bert", "gpt", "elmo"):
            assert "extends:" in path.read_text(), f"{path.name} should extend one of the defaults"
