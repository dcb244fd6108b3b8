"""SIGTERM (what schedulers and ``docker stop`` send) behaves like Ctrl-C: the run finishes its
step, checkpoints, says how to continue and exits 143; a run killed this way at several points
and resumed each time ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from plmkit import load_recipe
from plmkit.training.loop import train

from tiny import REPO, RECIPES, TINY

pytestmark = pytest.mark.usefixtures("one_thread")

RUN = TINY + ["train.steps=12", "train.log_every=1", "eval.every=5"]  # checkpoint_every stays 0: only signals save


def start(out):
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "plmkit", "run", str(RECIPES / "gpt.yaml"), *RUN, "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def terminate_after(process, marker: str | None, times: int = 1, timeout: float = 300) -> str:
    """Read stderr until a line holds ``marker`` (None: at once), send SIGTERM ``times``, and
    return everything the process wrote to stderr."""
    seen, deadline = [], time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    while marker is not None and time.monotonic() < deadline:
        if not selector.select(timeout=1):
            continue
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            break
    for _ in range(times):
        process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=timeout)[1]
    return "".join(seen) + rest


def weights(run_dir):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def test_sigterm_at_several_points_then_resume_gives_the_uninterrupted_weights(tmp_path):
    whole = train(load_recipe(RECIPES / "gpt.yaml", RUN), out_dir=tmp_path / "whole", progress=False).run_dir
    out = tmp_path / "run"

    early = start(out)
    time.sleep(0.5)  # still importing, or preparing the data: nothing trained
    said = terminate_after(early, None)
    assert early.returncode in (-signal.SIGTERM, 143) and "Traceback" not in said
    assert not out.exists() or not any(out.iterdir())  # no half-made run folder

    first = start(out)
    said = terminate_after(first, "step 3/12")
    assert first.returncode == 143, said
    assert "terminated (SIGTERM) at step" in said and f"plmkit run --resume {out}" in said
    assert said.rstrip().endswith("terminated") and "Traceback" not in said
    assert [p.name for p in (out / "checkpoints").iterdir()]  # the SIGTERM checkpoint

    twice = start(out)  # --out on an unfinished run resumes it; a second SIGTERM stops at once
    said = terminate_after(twice, "step 8/12", times=2)
    assert twice.returncode == 143 and "resuming gpt at step" in said and "Traceback" not in said, said

    last = start(out)
    said = last.communicate(timeout=300)[1]
    assert last.returncode == 0 and "resuming gpt at step" in said, said
    a, b = weights(whole), weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_time_based_checkpoint_is_written_without_checkpoint_every(tmp_path):
    recipe = load_recipe(RECIPES / "gpt.yaml", TINY + ["train.steps=3", "train.checkpoint_minutes=1e-9"])
    assert load_recipe(RECIPES / "gpt.yaml").train.checkpoint_minutes == 5  # the default: at most 5 minutes lost
    seen = []

    from plmkit import hookimpl
    from plmkit.plugins import get_plugins

    class Watch:
        @hookimpl
        def step_finished(self, step):
            seen.append(sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*")))

    manager, plugin = get_plugins().manager, Watch()
    manager.register(plugin, name="watch")
    try:
        train(recipe, out_dir=tmp_path / "run", progress=False)
    finally:
        manager.unregister(plugin)
    assert seen[1] == ["step-1"] and seen[2] == ["step-1", "step-2"]  # each step was due: one after each
