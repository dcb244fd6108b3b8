"""logging: {tensorboard: true}: the run's metric records as TensorBoard events, read back with
tensorboard's own reader; plmkit eval adds its numbers; metrics.jsonl is written either way."""

from __future__ import annotations

import json

import pytest

from conftest import RECIPES, run_cli
from small_runs import GPT, SMALL, trained

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    return trained(tmp_path_factory, "gpt.yaml", *GPT, "logging.tensorboard=true", "eval.every=2")


def events(run):
    accumulator = EventAccumulator(str(run / "tensorboard"))
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag):
    return [(e.step, pytest.approx(e.value, rel=1e-6)) for e in accumulator.Scalars(tag)]


def test_every_metric_record_is_a_tensorboard_scalar(logged_run):
    records = [json.loads(line) for line in (logged_run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    evaluations = [r for r in records if "eval_loss" in r]
    accumulator = events(logged_run)
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "eval/loss", "eval/perplexity"} <= \
        set(accumulator.Tags()["scalars"])
    assert scalars(accumulator, "train/loss") == [(r["step"], r["loss"]) for r in steps] and len(steps) == 4
    assert scalars(accumulator, "eval/loss") == [(r["step"], r["eval_loss"]) for r in evaluations]
    assert [step for step, _ in scalars(accumulator, "eval/loss")] == [2, 4]


def test_plmkit_eval_logs_its_numbers_there_too(logged_run):
    result = run_cli("eval", str(logged_run), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert scalars(events(logged_run), "plmkit_eval/loss") == [(4, metrics["loss"])]


def test_without_the_setting_there_are_no_event_files(tmp_path_factory):
    run = trained(tmp_path_factory, "gpt.yaml", *GPT, "train.steps=1")
    assert not (run / "tensorboard").exists() and (run / "metrics.jsonl").is_file()


def test_a_resumed_run_replaces_the_events_after_its_checkpoint(tmp_path_factory):
    import shutil

    from plmkit import load_recipe
    from plmkit.training.loop import train

    run = trained(tmp_path_factory, "gpt.yaml", *GPT, "logging.tensorboard=true", "train.checkpoint_every=2")
    for done in (run / "checkpoints" / "step-4", run / "model", run / "summary.json"):  # killed after step 4's
        shutil.rmtree(done) if done.is_dir() else done.unlink()                         # events, before its checkpoint
    recipe = load_recipe(RECIPES / "gpt.yaml", [*SMALL, *GPT, "logging.tensorboard=true", "train.checkpoint_every=2",
                                                 "train.lr=1e-2"])  # other steps 3 and 4 than the first time
    train(recipe, resume=run, accept_changes=True, progress=False)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert scalars(events(run), "train/loss") == [(r["step"], r["loss"]) for r in records if "loss" in r]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
