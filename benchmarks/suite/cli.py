"""CLI latency: ``plmkit --help``, ``plmkit validate recipes/elmo.yaml`` and the time to the first
training step of ``plmkit run recipes/gpt.yaml``, against ``python -c "import torch"``.

Each command runs in a fresh process, as a user types it (the ``plmkit`` console script next to
this Python), rounds interleaved; medians reported. The time to the first step is measured from
the start of ``plmkit run`` to the line that reports step 1 (plain progress lines, ``CI=true``):
it includes reading the recipe, generating and tokenizing the corpus, training the tokenizer and
building the model; the process is then stopped.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, load

HELP_TARGET, VALIDATE_TARGET = 0.3, 0.6  # at most this share of `import torch`


def _plmkit() -> list[str]:
    script = Path(sys.executable).parent / "plmkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "plmkit"]


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": "true"})
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
    return elapsed


def first_step_seconds(quick: bool) -> float:
    """Seconds from launching ``plmkit run`` to its "step 1/" line."""
    out = Path(tempfile.mkdtemp(prefix="plmkit-bench-"))
    overrides = ["train.steps=1000", "train.log_every=1", "device.type=cpu"]
    overrides += ["data.documents=200", "model.hidden=32", "tokenizer.vocab_size=300"] if quick else []
    cmd = [*_plmkit(), "run", "recipes/gpt.yaml", *overrides, "--out", str(out / "run")]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "CI": "true"})
    try:
        for line in process.stderr:
            if line.startswith("step 1/"):
                return time.perf_counter() - start
        raise RuntimeError(f"plmkit run ended (exit {process.wait()}) before its first step")
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(out, ignore_errors=True)


def run(quick: bool, rounds: int) -> dict:
    load_before = load()
    commands = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "plmkit --help": [*_plmkit(), "--help"],
        "plmkit validate recipes/elmo.yaml": [*_plmkit(), "validate", "recipes/elmo.yaml"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    if not quick:
        for name, cmd in commands.items():  # warm the file cache once
            _timed(cmd)
    names = list(commands)
    for i in range(rounds):
        for name in names[i % len(names):] + names[: i % len(names)]:
            times[name].append(_timed(commands[name]))
    first = [first_step_seconds(quick) for _ in range(1 if quick else 2)]
    median = {name: statistics.median(t) for name, t in times.items()}
    torch_s = median['python -c "import torch"']
    help_ratio, validate_ratio = median["plmkit --help"] / torch_s, median["plmkit validate recipes/elmo.yaml"] / torch_s
    return {"case": "cli", "median_s": median, "times_s": times, "first_step_s": first,
            "first_step_median_s": statistics.median(first), "help_ratio": help_ratio, "validate_ratio": validate_ratio,
            "target": {"goal": f"--help <= {HELP_TARGET}x and validate <= {VALIDATE_TARGET}x `import torch`",
                       "met": help_ratio <= HELP_TARGET and validate_ratio <= VALIDATE_TARGET},
            "load": [load_before, load()]}
