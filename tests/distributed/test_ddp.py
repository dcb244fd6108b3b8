"""Training on 2 processes (torchrun, gloo, CPU): a small GPT, BERT and ELMo.

Each family trains 4 steps on 2 processes, once: started as a user starts it, through torchrun
(GPT) or through ``plmkit run device.processes=2`` (BERT, ELMo). The tests compare that run with
one process trained in this process on the same global batch:

* the loss of every step matches within 1e-5 (relative): the ranks' losses are weighted by their
  share of each head's targets, so the only difference is the order of floating-point sums;
* exactly one run folder and one metrics.jsonl were written (rank 0 alone writes);
* the 2-process run's checkpoint at step 2, resumed on one process, ends with the weights of the
  uninterrupted 2-process run within 1e-5 (absolute);
* an exception on rank 1 stops both processes with rank 1's one-line message and its exit code.

Dropout is off: with dropout each process draws its own masks, and the runs agree only in
distribution. Every run here takes a few seconds; the launches (two interpreters importing
torch on shared cores) take most of the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ASSETS, RECIPES
from distributed_runs import FAMILIES, LOSS_RTOL, WEIGHT_ATOL, kill_after_step_2, launch, losses, overrides, \
    torchrun, weights
from plmkit import load_recipe
from plmkit.training.loop import train

pytestmark = pytest.mark.usefixtures("one_thread")

@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """family -> the folder of its 2-process run (the cwd of the GPT run holds nothing else)."""
    runs = {}
    cwd = tmp_path_factory.mktemp("gpt-cwd")
    result = torchrun("run", str(RECIPES / "gpt.yaml"), *overrides("gpt"), cwd=cwd)
    assert result.returncode == 0, result.stderr
    runs["gpt"] = Path(cwd, result.stdout.strip())
    runs["gpt stderr"] = result.stderr
    for family in ("bert", "elmo"):
        out = tmp_path_factory.mktemp(family) / "run"
        result = launch(["-m", "plmkit", "run", str(RECIPES / f"{family}.yaml"), *overrides(family),
                         "device.processes=2", "--out", str(out)])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(out)
        runs[family] = out
        runs[f"{family} stderr"] = result.stderr
    return runs


@pytest.mark.parametrize("family", list(FAMILIES))
def test_two_processes_train_as_one_on_the_same_global_batch(two, family, tmp_path):
    one = train(load_recipe(RECIPES / f"{family}.yaml", overrides(family, "cpu")), out_dir=tmp_path / "one",
                progress=False)
    assert losses(two[family]) == pytest.approx(losses(one.run_dir), rel=LOSS_RTOL)
    assert len(losses(two[family])) == 4


def test_rank_0_alone_writes_one_run_folder_and_says_how_the_batch_is_shared(two):
    gpt = two["gpt"]
    assert [p.name for p in gpt.parent.iterdir()] == [gpt.name]  # runs/ holds one run
    assert gpt.parent.parent.name.startswith("gpt-cwd") and [p.name for p in gpt.parent.parent.iterdir()] == ["runs"]
    assert sorted(p.name for p in gpt.iterdir()) == ["checkpoints", "metrics.jsonl", "model", "recipe.yaml",
                                                     "summary.json", "tokenizer", "versions.json"]
    steps = [json.loads(line)["step"] for line in (gpt / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 4]  # four steps and one evaluation, written once
    assert two["gpt stderr"].count("global batch 4 = 2 processes x 2 sequences x 1 micro-batches\n") == 1
    assert two["bert stderr"].count("global batch 8 = 2 processes x 2 sequences x 2 micro-batches\n") == 1
    assert two["gpt stderr"].count("training gpt:") == 1  # progress from rank 0 only
    summary = json.loads((gpt / "summary.json").read_text())
    assert summary["device"] == "cpu, fp32, 2 processes (ddp, gloo)"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_2_process_checkpoint_resumes_on_one_process_to_the_same_weights(two, family, tmp_path):
    killed = kill_after_step_2(two[family], tmp_path / "killed")
    recipe = load_recipe(RECIPES / f"{family}.yaml", overrides(family, "cpu"))  # device.type may change
    result = train(recipe, resume=killed, progress=False)
    assert result.step == 4
    expected, got = weights(two[family]), weights(killed)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=WEIGHT_ATOL, rtol=0)


@pytest.fixture(scope="module")
def fault_site(tmp_path_factory):
    """The test plugin plmkit-fault-rank, pip-installed for subprocesses (PYTHONPATH)."""
    target = tmp_path_factory.mktemp("fault-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target),
                    str(ASSETS / "plugins" / "plmkit-fault-rank")], check=True, capture_output=True)
    return target


def test_an_exception_on_rank_1_stops_both_processes_with_rank_1s_message(fault_site, tmp_path):
    out = tmp_path / "run"
    result = launch(["-m", "plmkit", "run", str(RECIPES / "gpt.yaml"), *overrides("gpt"), "device.processes=2",
                     "model.attention={type: fails_on_rank, rank: 1, step: 2}", "--out", str(out)],
                    env={"PYTHONPATH": str(fault_site), "PLMKIT_DEBUG": ""}, timeout=90)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ChildFailedError" not in result.stderr, result.stderr
    where = f"{fault_site / 'plmkit_fault_rank' / '__init__.py'}:30"
    assert result.stderr.strip().splitlines()[-1] == (
        f"{where}: model.attention: plugin plmkit-fault-rank (attention 'fails_on_rank') raised RuntimeError in "
        "FailsOnRank.forward(): injected failure on process 1 at step 2 (plmkit --debug shows the traceback) "
        "(process 1 of 2)")
    assert "process 0 of 2" not in result.stderr  # rank 0 stopped without a message of its own
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_batch_the_processes_cannot_share_is_a_recipe_error_before_anything_starts(tmp_path):
    result = launch(["-m", "plmkit", "run", str(RECIPES / "gpt.yaml"), *overrides("gpt"), "device.processes=2",
                     "train.batch_size=3", "--out", str(tmp_path / "run")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "device.processes: 2 processes cannot share micro-batches of 3 sequences (train.batch_size / "
        "train.grad_accum); make it a multiple of 2")
    assert not (tmp_path / "run").exists()
