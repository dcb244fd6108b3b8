"""``plmkit run RECIPE train.steps=20`` works for every recipe shipped, at the recipe's own model size."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, RECIPES, run_cli

SHIPPED = sorted(RECIPES.glob("*.yaml")) + sorted((REPO / "plugins").glob("*/*/recipes/*.yaml"))
# the model as the recipe has it; only the data and the batch are made small
SMALL = ["train.steps=20", "train.batch_size=4", "data.documents=120", "eval.batches=1", "device.type=cpu"]


@pytest.mark.parametrize("recipe", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_twenty_steps_of_every_recipe(recipe, tmp_path):
    out = tmp_path / "run"
    result = run_cli("run", str(recipe), *SMALL, "--out", str(out), env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 20
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert summary["eval"]["loss"] < first["loss"], "20 steps should lower the loss below the first step's"
