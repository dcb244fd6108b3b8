"""FSDP2 (``device.type=fsdp``) on 2 gloo processes on the CPU: the DDP tests' promises, for a GPT
(tied softmax, encoder blocks sharded one by one) and an ELMo (a head without a loss).

Also the other direction of a checkpoint: a run of one process, continued on 2 FSDP processes,
ends with the weights of the uninterrupted one-process run (the optimizer state is moved onto
the shards). Tolerances as in test_ddp.py. Marked slow: three more launches (about a minute on
2 shared cores).
"""

from __future__ import annotations

import pytest
import torch

from conftest import RECIPES
from distributed_runs import LOSS_RTOL, WEIGHT_ATOL, kill_after_step_2, launch, losses, overrides, weights
from plmkit import load_recipe
from plmkit.training.loop import train

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def fsdp_run(family: str, out, *extra: str):
    result = launch(["-m", "plmkit", "run", str(RECIPES / f"{family}.yaml"), *overrides(family, "fsdp"),
                     "device.processes=2", "--out", str(out), *extra])
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("family", ["gpt", "elmo"])
def test_fsdp_trains_as_one_process_and_resumes_on_one(family, tmp_path):
    result = fsdp_run(family, tmp_path / "fsdp")
    assert "2 processes (fsdp, gloo)" in result.stderr
    one = train(load_recipe(RECIPES / f"{family}.yaml", overrides(family, "cpu")), out_dir=tmp_path / "one",
                progress=False)
    assert losses(tmp_path / "fsdp") == pytest.approx(losses(one.run_dir), rel=LOSS_RTOL)
    killed = kill_after_step_2(tmp_path / "fsdp", tmp_path / "killed")
    train(load_recipe(RECIPES / f"{family}.yaml", overrides(family, "cpu")), resume=killed, progress=False)
    expected, got = weights(tmp_path / "fsdp"), weights(killed)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=WEIGHT_ATOL, rtol=0)


def test_a_one_process_checkpoint_continues_on_2_fsdp_processes(tmp_path):
    one = train(load_recipe(RECIPES / "gpt.yaml", overrides("gpt", "cpu")), out_dir=tmp_path / "one", progress=False)
    killed = kill_after_step_2(one.run_dir, tmp_path / "killed")
    result = launch(["-m", "plmkit", "run", "--resume", str(killed), "device.type=fsdp", "device.processes=2"])
    assert result.returncode == 0, result.stderr
    expected, got = weights(one.run_dir), weights(killed)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=WEIGHT_ATOL, rtol=0)
