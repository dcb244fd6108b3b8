"""The training loop: learning, bit-for-bit reproducibility, exact resume, safe run folders."""

from __future__ import annotations

import json
import math
import signal

import pytest
import torch
from safetensors.torch import load_file

from conftest import RECIPES
from plmkit import hookimpl, load_recipe
from plmkit.errors import RunError
from plmkit.plugins import get_plugins
from plmkit.training.loop import train

TINY = ["model.hidden=32", "model.layers=1", "model.attention.heads=2", "model.max_positions=32",
        "train.seq_len=32", "train.batch_size=4", "train.steps=20", "train.warmup_steps=2",
        "train.checkpoint_every=10", "train.lr=0.003", "data.documents=80", "tokenizer.vocab_size=300", "eval.batches=2",
        "device.type=cpu"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(*changes: str):
    return load_recipe(RECIPES / "gpt.yaml", TINY + list(changes))


def weights(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


class _Recorder:
    """A plugin that writes down every training hook call."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def run_started(self, run_dir, recipe):
        self.calls.append(("run_started", recipe.name))

    @hookimpl
    def step_finished(self, step, metrics):
        self.calls.append(("step_finished", step, sorted(metrics)))

    @hookimpl
    def evaluation_finished(self, step, metrics):
        self.calls.append(("evaluation_finished", step))

    @hookimpl
    def run_finished(self, run_dir, metrics):
        self.calls.append(("run_finished", run_dir.name, "loss" in metrics))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted 20-step run that the other tests compare against (hooks recorded)."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    recorder = _Recorder()
    get_plugins().manager.register(recorder, name="recorder")
    try:
        result = train(tiny(), out_dir=out, progress=False)
    finally:
        get_plugins().manager.unregister(recorder)
    result.hook_calls = recorder.calls
    return result


def test_a_tiny_recipe_learns_and_writes_its_run_folder(reference):
    steps = [r for r in metrics(reference.run_dir) if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 21))
    first, last = sum(r["loss"] for r in steps[:3]) / 3, sum(r["loss"] for r in steps[-3:]) / 3
    assert last < first - 0.5, (first, last)
    final = reference.metrics
    assert final["loss"] < first and final["perplexity"] == pytest.approx(math.exp(final["loss_lm"]))
    summary = json.loads((reference.run_dir / "summary.json").read_text())
    assert summary["step"] == 20 and summary["eval"] == final
    assert summary["floor_bits_per_word"] < final["bits_per_word"]  # no model beats the generator's entropy
    assert summary["unigram_baseline"]["bits_per_word"] > summary["floor_bits_per_word"]  # nor does a unigram model
    for name in ("recipe.yaml", "versions.json", "tokenizer/tokenizer.json", "model/model.safetensors",
                 "model/recipe.yaml", "model/tokenizer/tokenizer.json", "checkpoints/step-20/trainer_state.json"):
        assert (reference.run_dir / name).is_file(), name
    calls = reference.hook_calls
    assert calls[0] == ("run_started", "gpt") and calls[-1] == ("run_finished", "reference", True)
    assert calls[1] == ("step_finished", 1, ["grad_norm", "loss", "loss_lm", "lr", "step", "tokens", "tokens_per_s"])
    assert [c[1] for c in calls if c[0] == "evaluation_finished"] == [20]
    versions = json.loads((reference.run_dir / "versions.json").read_text())
    assert versions["torch"] == torch.__version__
    assert {"key": "model.attention", "kind": "attention", "type": "transformer", "package": "plmkit",
            "version": versions["plmkit"]} in versions["components"]


def test_two_cpu_runs_are_bit_for_bit_identical(reference, tmp_path):
    again = train(tiny(), out_dir=tmp_path / "again", progress=False)
    assert_same_weights(reference.run_dir, again.run_dir)
    losses = [r.get("loss") for r in metrics(reference.run_dir)]
    assert losses == [r.get("loss") for r in metrics(again.run_dir)]


class _InterruptAt:
    """A plugin that presses Ctrl-C once the loop finishes step ``step``."""

    def __init__(self, step):
        self.step = step

    @hookimpl
    def step_finished(self, step):
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


def test_resume_after_an_interruption_equals_the_uninterrupted_run(reference, tmp_path):
    manager = get_plugins().manager
    plugin = _InterruptAt(12)
    manager.register(plugin, name="interrupt-at-12")
    try:
        with pytest.raises(KeyboardInterrupt):
            train(tiny(), out_dir=tmp_path / "run", progress=False)
    finally:
        manager.unregister(plugin)
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-10", "step-12"]  # 12: saved on Ctrl-C
    assert not (run / "model").exists() and not (run / "summary.json").exists()
    # what a run killed while writing its next checkpoint leaves: never taken as a checkpoint
    (checkpoints / ".tmp-step-14-4242").mkdir()
    (checkpoints / ".tmp-step-14-4242" / "model.safetensors").write_bytes(b"half")
    (checkpoints / "step-16").mkdir()
    (checkpoints / "step-16" / "model.safetensors").write_bytes(b"half")
    result = train(tiny(), out_dir=run, progress=False)  # --out on an unfinished run of this recipe resumes it
    assert result.step == 20
    assert_same_weights(reference.run_dir, run)
    assert [r["step"] for r in metrics(run) if "loss" in r] == list(range(1, 21))  # no step twice


def test_resume_with_a_changed_recipe_shows_the_difference_and_refuses(reference, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(reference.run_dir, run)
    before = weights(run)
    with pytest.raises(RunError) as info:
        train(tiny("train.steps=25", "train.lr=0.002"), resume=run, progress=False)
    lines = info.value.lines()
    assert "--accept-changes" in lines[0]
    assert "  train.lr: 0.003 -> 0.002" in lines and "  train.steps: 20 -> 25" in lines
    assert all(torch.equal(before[k], v) for k, v in weights(run).items())  # nothing touched
    result = train(tiny("train.steps=25"), resume=run, accept_changes=True, progress=False)
    assert result.step == 25
    assert [r["step"] for r in metrics(run) if "loss" in r][-5:] == [21, 22, 23, 24, 25]


def test_a_finished_run_and_a_foreign_folder_are_never_overwritten(reference, tmp_path):
    with pytest.raises(RunError, match="already finished all 20 steps"):
        train(tiny(), out_dir=reference.run_dir, progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(RunError, match="not empty"):
        train(tiny(), out_dir=mine, progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_run_folder_holds_safetensors_and_text_only_no_pickle(reference):
    allowed = {".safetensors", ".json", ".jsonl", ".yaml", ""}
    for path in reference.run_dir.rglob("*"):
        if path.is_dir():
            continue
        assert path.suffix in allowed, path
        head = path.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", path  # neither pickle nor torch.save's zip
        if path.suffix == ".safetensors":
            load_file(str(path))


OTHERS = {
    "bert": ["model.hidden=32", "model.layers=1", "model.attention.heads=2", "train.seq_len=24",
             "train.grad_accum=2"],
    "elmo": ["model.hidden=16", "model.layers=2", "model.recurrent.cell_dim=32",
             "model.embedding.filters=[[1,8],[2,8]]", "train.seq_len=10"],
}


@pytest.mark.parametrize("name", list(OTHERS))
def test_resume_is_exact_for_bert_with_accumulation_and_elmo(name, tmp_path):
    common = ["train.batch_size=4", "train.steps=6", "train.checkpoint_every=3", "data.documents=40",
              "tokenizer.vocab_size=280", "eval.batches=1", "device.type=cpu"]
    recipe = load_recipe(RECIPES / f"{name}.yaml", common + OTHERS[name])
    whole = train(recipe, out_dir=tmp_path / "whole", progress=False)
    manager = get_plugins().manager
    plugin = _InterruptAt(4)
    manager.register(plugin, name="interrupt-at-4")
    try:
        with pytest.raises(KeyboardInterrupt):
            train(recipe, out_dir=tmp_path / "parts", progress=False)
    finally:
        manager.unregister(plugin)
    train(recipe, resume=tmp_path / "parts", progress=False)
    assert_same_weights(whole.run_dir, tmp_path / "parts")
