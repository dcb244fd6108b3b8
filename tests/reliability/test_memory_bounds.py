"""Bounds before allocation: a recipe's size is compared with the memory the machine has before
anything is allocated (``show``, ``run --dry-run`` and ``run``), and a size torch cannot even
describe is one line, not ``Storage size calculation overflowed``."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

import pytest

from plmkit import load_recipe
from plmkit.cli.main import main
from plmkit.recipe.summary import EXACT_LAYERS, available_memory, estimate

from tiny import RECIPES, one_line

GPT = str(RECIPES / "gpt.yaml")
BIG = ["model.hidden=4096", "model.attention.heads=4"]  # about 16 GB to train


@contextlib.contextmanager
def address_space(extra: int):
    """This process may map only ``extra`` more bytes (what a cgroup or ulimit -v does to a job)."""
    status = Path("/proc/self/status").read_text()
    mapped = int(next(line for line in status.splitlines() if line.startswith("VmSize:")).split()[1]) * 1024
    before = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


@pytest.mark.parametrize("verb", [["show"], ["run", "--dry-run"]])
def test_a_size_torch_cannot_describe_is_one_line(capsys, verb):
    code = main([*verb, GPT, "model.hidden=1000000000000"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and line.startswith("model: too large to build on any machine (")


def test_a_model_that_does_not_fit_is_refused_before_anything_is_allocated(tmp_path, capsys):
    import torch

    with address_space(2 * 2**30):
        assert available_memory(torch.device("cpu")) <= 2 * 2**30
        dry = main(["run", GPT, *BIG, "--dry-run"])
        dry_err = capsys.readouterr().err
        real = main(["run", GPT, *BIG, "--out", str(tmp_path / "run")])
        real_err = capsys.readouterr().err
    assert dry == 1 and real == 1
    line = one_line(real_err)
    assert one_line(dry_err) == line
    assert line.startswith("model: training needs about 16.4 GB (weights, gradients and AdamW state 12.3 GB")
    assert "but cpu has" in line and "PLMKIT_SKIP_MEMORY_CHECK=1" in line
    assert not (tmp_path / "run").exists()


def test_an_absurd_number_of_layers_is_counted_at_once():
    recipe = load_recipe(GPT, ["model.layers=1000000"])
    size = estimate(recipe)
    exact = estimate(load_recipe(GPT, [f"model.layers={EXACT_LAYERS}"]))
    per_layer = (exact.by_part["encoder"] - estimate(load_recipe(GPT, ["model.layers=1"])).by_part["encoder"]) // (
        EXACT_LAYERS - 1)
    assert size.extrapolated and size.by_part["encoder"] - exact.by_part["encoder"] == per_layer * (
        1000000 - EXACT_LAYERS)
