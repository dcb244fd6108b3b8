"""``device: {compile: true}``: opt-in torch.compile through the device component."""

from __future__ import annotations

import pytest
import torch

import plmkit
from plmkit.errors import RecipeError
from conftest import RECIPES

TINY = ["model.hidden=32", "model.vocab_size=50", "train.seq_len=16", "device.type=cpu"]


def test_compile_is_off_by_default_and_validated_as_a_boolean():
    plain = plmkit.load_recipe(RECIPES / "gpt.yaml", TINY)
    assert plain.device.params.compile is False
    placement = plain.device.component.build(plain.device.params, None)
    assert placement.compile is False and placement.describe() == "cpu, fp32"
    with pytest.raises(RecipeError) as info:
        plmkit.load_recipe(RECIPES / "gpt.yaml", [*TINY, "device.compile=sometimes"])
    assert [p.key for p in info.value.problems] == ["device.compile"]


def test_a_compiled_placement_compiles_the_model_in_place_keeping_its_weights_names():
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", [*TINY, "device.compile=true"])
    placement = recipe.device.component.build(recipe.device.params, None)
    assert placement.compile and placement.describe() == "cpu, fp32, compiled"
    model = plmkit.build_model(recipe)
    names = list(model.state_dict())
    prepared = placement.prepare(model)
    assert prepared is model and list(prepared.state_dict()) == names  # checkpoints are the plain model's
    assert model._compiled_call_impl is not None  # calls now go through torch.compile


@pytest.mark.slow
def test_a_compiled_model_trains_with_the_plain_models_losses(one_thread):
    """Runs the compiler (tens of seconds the first time on a CPU; cached afterwards)."""
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", [*TINY, "model.layers=1", "device.compile=true"])
    placement = recipe.device.component.build(recipe.device.params, None)
    torch.manual_seed(0)
    plain = plmkit.build_model(recipe)
    compiled = plmkit.build_model(recipe)
    compiled.load_state_dict(plain.state_dict())
    placement.prepare(compiled)
    ids = torch.randint(0, 50, (4, 16), generator=torch.Generator().manual_seed(0))
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-2) for m in (plain, compiled)]
    for _ in range(3):
        losses = []
        for model, opt in zip((plain, compiled), optimizers):
            opt.zero_grad()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) < 1e-5
