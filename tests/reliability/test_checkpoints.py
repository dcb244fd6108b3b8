"""Checkpoints carry checksums that resume verifies: a damaged newest checkpoint is reported and the
one before it used; a tampered trainer state is refused in one line before anything is written; a
full disk leaves the previous checkpoint intact and no temporary files. Fuzzing damages run
folders at random and checks that a resume continues exactly or refuses in one line, unchanged."""

from __future__ import annotations

import io
import json
import resource
import shutil
import signal

import pytest
import torch
from hypothesis import given, strategies as st
from safetensors.torch import load_file

from plmkit import hookimpl, load_recipe
from plmkit.errors import PlmkitError, RunError
from plmkit.plugins import get_plugins
from plmkit.training import checkpoint as ckpt
from plmkit.training.loop import train
from plmkit.training.progress import Progress
from plmkit.training.rundir import load_saved_recipe

from tiny import RECIPES, TINY, fuzz_settings, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = ["train.steps=6", "train.checkpoint_every=2"]


def recipe(*changes):
    return load_recipe(RECIPES / "gpt.yaml", TINY + STEPS + list(changes))


def weights(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def same_weights(a, b) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


class _StopAt:
    """Presses Ctrl-C once the loop finishes ``step``."""

    def __init__(self, step):
        self.step = step

    @hookimpl
    def step_finished(self, step):
        if step == self.step:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 6-step run and the same run stopped at step 4 (checkpoints step-2, step-4)."""
    base = tmp_path_factory.mktemp("runs")
    whole = train(recipe(), out_dir=base / "whole", progress=False).run_dir
    manager, plugin = get_plugins().manager, _StopAt(4)
    manager.register(plugin, name="stop-at-4")
    try:
        with pytest.raises(KeyboardInterrupt):
            train(recipe(), out_dir=base / "partial", progress=False)
    finally:
        manager.unregister(plugin)
    assert sorted(p.name for p in (base / "partial" / "checkpoints").iterdir()) == ["step-2", "step-4"]
    return whole, base / "partial"


def copy_of(runs, tmp_path):
    shutil.copytree(runs[1], tmp_path / "run")
    return tmp_path / "run"


def resume(run, *changes, accept=False):
    out = io.StringIO()
    result = train(recipe(*changes), resume=run, accept_changes=accept, progress=Progress(out, interactive=False))
    return result, out.getvalue()


def refused(run, *changes, accept=False) -> str:
    before = snapshot(run)
    with pytest.raises(PlmkitError) as info:
        resume(run, *changes, accept=accept)
    assert snapshot(run) == before  # decided before anything was written
    (line,) = info.value.lines()
    return line


def test_a_checkpoint_records_size_and_checksum_of_each_file(runs):
    folder = runs[1] / "checkpoints" / "step-4"
    state = json.loads((folder / "trainer_state.json").read_text())
    for name in ("model.safetensors", "optimizer.safetensors", "optimizer.json"):
        assert state["files"][name] == ckpt.file_digest(folder / name)
    assert state["format"] == 2 and len(state["checksum"]) == 64 and state["recipe"]["train"]["steps"] == 6
    assert ckpt.verify_checkpoint(folder)["step"] == 4


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.safetensors", "trainer_state.json"])
def test_a_damaged_newest_checkpoint_is_named_and_the_one_before_is_used(runs, tmp_path, name, damage):
    run = copy_of(runs, tmp_path)
    target = run / "checkpoints" / "step-4" / name
    data = target.read_bytes()
    target.write_bytes({"flip": data[:40] + bytes([data[40] ^ 1]) + data[41:], "truncate": data[: len(data) // 2],
                        "empty": b""}[damage])
    result, said = resume(run)
    assert f"{target}: damaged (" in said and "moved step-4 aside to damaged-step-4" in said
    assert result.step == 6 and same_weights(runs[0], run)  # as if never interrupted
    assert (run / "checkpoints" / "damaged-step-4" / name).read_bytes() != data


@pytest.mark.parametrize("content, reason", [
    ("not json {", "is not valid JSON"),
    ("[1, 2]", "holds list, not a JSON object"),
])
def test_a_trainer_state_that_is_not_an_object_is_named_in_one_line(runs, tmp_path, content, reason):
    run = copy_of(runs, tmp_path)
    for step in (2, 4):  # both checkpoints: nothing to fall back to
        (run / "checkpoints" / f"step-{step}" / "trainer_state.json").write_text(content)
    line = refused(run)
    assert line.startswith(f"{run}/checkpoints/step-4/trainer_state.json: damaged ({reason}")
    assert line.endswith("no intact checkpoint to resume from (nothing was written)")


@pytest.mark.parametrize("key, value, expected", [
    ("step", "abc", "step 'abc' is not the folder's step (step-4)"),
    ("step", 10**12, "step 1000000000000 is not the folder's step (step-4)"),
    ("step", -100, "step -100 is not the folder's step (step-4)"),
    ("instances", -5, "instances -5 is not a count of sequences"),
])
def test_tampered_trainer_state_values_are_refused_even_with_a_fresh_checksum(runs, tmp_path, key, value, expected):
    run = copy_of(runs, tmp_path)
    for step in (2, 4):
        _edit_state(run / "checkpoints" / f"step-{step}", key, value, rechecksum=True)
    assert expected in refused(run)


def test_a_data_position_no_run_can_reach_is_refused_before_the_data_is_skipped(runs, tmp_path):
    run = copy_of(runs, tmp_path)
    _edit_state(run / "checkpoints" / "step-4", "instances", 10**15, rechecksum=True)
    line = refused(run)  # it used to hang after "resuming", skipping 10**15 sequences
    assert "instances 1000000000000000 is more than 4 steps of at most" in line


def test_a_resume_cannot_change_the_tokenizer(runs, tmp_path):
    run = copy_of(runs, tmp_path)
    line = refused(run, "tokenizer.vocab_size=400", accept=True)
    assert "tokenizer.vocab_size: 300 -> 400: a run's tokenizer cannot change" in line
    (run / "tokenizer" / "tokenizer.json").write_text("{}")
    assert refused(run).startswith(f"{run}/tokenizer/tokenizer.json: the run's tokenizer is damaged")


def test_a_resume_clears_what_killed_writes_left(runs, tmp_path):
    run = copy_of(runs, tmp_path)
    leftovers = [run / "checkpoints" / ".tmp-step-6-4242", run / ".tmp-model-4242", run / ".recipe.yaml.tmp-4242",
                 run / "checkpoints" / "step-2" / ".model.safetensors.tmp-4242"]
    for path in leftovers[:2]:
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"half")
    for path in leftovers[2:]:
        path.write_text("half")
    resume(run)
    assert not any(path.exists() for path in leftovers)
    assert same_weights(runs[0], run)


def test_a_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temporary_files(runs, tmp_path):
    run = copy_of(runs, tmp_path)
    before = ckpt.verify_checkpoint(run / "checkpoints" / "step-4")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, limit[1]))  # smaller than a checkpoint's weights
    try:
        with pytest.raises(RunError) as info:
            resume(run)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    (line,) = info.value.lines()
    assert line == f"{run}/checkpoints/step-6: cannot write the checkpoint (File too large); step-4 is intact"
    assert ckpt.verify_checkpoint(run / "checkpoints" / "step-4") == before
    assert not [p for p in run.rglob("*") if ".tmp-" in p.name]
    assert resume(run)[0].step == 6 and same_weights(runs[0], run)  # room again: it continues


def _edit_state(folder, key, value, rechecksum):
    path = folder / "trainer_state.json"
    state = json.loads(path.read_text())
    state[key] = value
    if rechecksum:  # as someone who meant it would: the checksum finds damage, not intent
        state["checksum"] = ckpt._self_checksum(state)
    path.write_text(json.dumps(state))


# -- fuzzing: damage run folders at random --------------------------------------------------------------
IMPLAUSIBLE = st.sampled_from([-1, "abc", 10**15, 2**64, None, [1, 2], {}, 1.5, True, "", {"a": [1]}])


@st.composite
def damage(draw, files):
    path = draw(st.sampled_from(files), label="file")
    operation = draw(st.sampled_from(["truncate", "flip", "delete", "garbage", "edit"]), label="operation")
    if operation == "edit" and not path.endswith("trainer_state.json"):
        operation = "flip"
    if operation == "edit":
        key = draw(st.sampled_from(["step", "instances", "format", "best", "rng", "files", "max_batch_size",
                                    "scaler", "recipe", "tokenizer"]), label="key")
        return path, operation, (key, draw(IMPLAUSIBLE, label="value"), draw(st.booleans(), label="rechecksum"))
    return path, operation, (draw(st.integers(0, 10**9), label="offset"), draw(st.integers(1, 255), label="xor"))


def _apply(run, path, operation, detail):
    target = run / path
    if not target.exists():
        return
    if operation == "edit":
        try:
            if isinstance(json.loads(target.read_bytes()), dict):  # an earlier damage may have broken it
                _edit_state(target.parent, *detail)
        except ValueError:
            pass
        return
    data = target.read_bytes()
    at = detail[0] % max(len(data), 1)
    if operation == "delete":
        target.unlink()
    elif operation == "truncate":
        target.write_bytes(data[:at])
    elif operation == "flip" and data:
        target.write_bytes(data[:at] + bytes([data[at] ^ detail[1]]) + data[at + 1:])
    elif operation == "garbage":
        target.write_bytes(bytes((detail[1] * i) % 256 for i in range(at % 5000)))


@pytest.fixture(scope="module")
def run_files(runs):
    return sorted(str(p.relative_to(runs[1])) for p in runs[1].rglob("*") if p.is_file())


def test_fuzz_damaged_run_folders_continue_exactly_or_refuse_unchanged(runs, run_files, tmp_path_factory):
    @fuzz_settings(15)
    @given(damages=st.lists(damage(run_files), min_size=1, max_size=2), saved=st.booleans())
    def check(damages, saved):
        run = tmp_path_factory.mktemp("fuzz") / "run"
        shutil.copytree(runs[1], run)
        for path, operation, detail in damages:
            _apply(run, path, operation, detail)
        before = snapshot(run)
        try:
            chosen = load_saved_recipe(run) if saved else recipe()  # `run --resume DIR` or with the recipe
            result = train(chosen, resume=run, progress=False)
        except PlmkitError as error:
            lines = error.lines()
            assert lines and all("\n" not in line for line in lines), lines
            assert snapshot(run) == before, "a refused resume changed the run folder"
            return
        assert result.step == 6 and same_weights(runs[0], run), "the resumed run does not match the uninterrupted one"

    check()
