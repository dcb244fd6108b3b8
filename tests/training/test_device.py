"""Device components: placement, precision rules, and a missing device reported in one line."""

from __future__ import annotations

import pytest
import torch

from conftest import RECIPES
from plmkit import load_recipe
from plmkit.errors import EnvironmentProblem, RecipeError
from plmkit.plugins import get_registry


def build(name, **params):
    component = get_registry().get("device", name)
    return component.build(component.params(**params), None)


def test_cpu_fp32_and_bf16_placements():
    plain = build("cpu")
    assert plain.device == torch.device("cpu") and plain.dtype is None and not plain.scaler.is_enabled()
    assert plain.describe() == "cpu, fp32"
    mixed = build("cpu", precision="bf16")
    layer = torch.nn.Linear(4, 4)
    with mixed.autocast():
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # master weights stay fp32
    assert not mixed.scaler.is_enabled()  # bf16 needs no loss scaling


def test_auto_picks_what_the_machine_has():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert build("auto").device.type == expected


def test_fp16_on_cpu_is_a_recipe_error():
    with pytest.raises(RecipeError) as info:
        load_recipe(RECIPES / "gpt.yaml", ["device.type=cpu", "device.precision=fp16"])
    assert any(p.key == "device.precision" and "fp16 needs a cuda device" in p.message for p in info.value.problems)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line():
    with pytest.raises(EnvironmentProblem) as info:
        build("cuda", index=1)
    assert len(info.value.lines()) == 1 and "no usable CUDA GPU" in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_enables_the_grad_scaler():
    placement = build("cuda", precision="fp16")
    assert placement.device.type == "cuda" and placement.scaler.is_enabled()
    with pytest.raises(EnvironmentProblem, match="does not exist"):
        build("cuda", index=torch.cuda.device_count())


def test_a_bf16_cpu_run_trains(tmp_path):
    from plmkit.training.loop import train

    recipe = load_recipe(RECIPES / "gpt.yaml", ["model.hidden=32", "model.layers=1", "model.attention.heads=2",
                                                 "train.seq_len=16", "model.max_positions=16", "train.batch_size=4",
                                                 "train.steps=3", "data.documents=40", "tokenizer.vocab_size=280",
                                                 "eval.batches=1", "device.type=cpu", "device.precision=bf16"])
    result = train(recipe, out_dir=tmp_path / "bf16", progress=False)
    assert result.step == 3 and torch.isfinite(torch.tensor(result.metrics["loss"]))
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
