"""Pretrain one contender of a comparison under the budget: ``python -m plmkit.evaluation.pretrain JOB.json``.

``plmkit compare`` runs each (recipe, seed) in a process of its own (``run_job``), so that its
peak memory is its own, nothing (threads, random state, caches) leaks from one contender to the
next, and a killed comparison loses at most the run in progress. The job file names the recipe (file or
``PACKAGE:NAME.yaml``), the overrides (``--set`` and the seed), the run folder and the budget.

In the run folder, beside what ``plmkit run`` writes, ``pretrain.json`` records the calibration,
the steps the budget came to, and the process's peak memory. A run folder that already has a
``pretrain.json`` is continued from its last checkpoint with the same steps (the calibration is
not repeated, so a resumed run is the run that was started); one without is started afresh.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import PlmkitError
from .budget import TIME_LIMIT_FACTOR, Budget, budget_overrides, calibrate, steps_for

__all__ = ["pretrain", "main", "run_job", "INFO_FILE", "trained_so_far"]

INFO_FILE = "pretrain.json"
_TIMED_STEPS = 5


def _write(path: Path, data: dict[str, Any]) -> None:
    from ..training.files import atomic_write_json

    atomic_write_json(path, data)


def trained_so_far(run_dir: Path) -> dict[str, float]:
    """Steps, tokens and optimiser-step seconds in a run folder's metrics.jsonl (the records kept)."""
    steps = tokens = seconds = 0.0
    path = Path(run_dir) / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if "tokens_per_s" in record:
                steps = max(steps, record["step"])
                tokens += record.get("tokens", 0)
                seconds += record.get("tokens", 0) / max(record["tokens_per_s"], 1e-9)
    return {"steps": steps, "tokens": tokens, "seconds": seconds}


def pretrain(job: dict[str, Any]) -> Path:
    """Calibrate (once), fit the recipe to the budget, train; returns the run folder."""
    from ..data.prepare import prepare
    from ..recipe.validate import load_recipe
    from ..training.loop import train
    from ..training.rundir import RunDir

    out, overrides = Path(job["out"]), list(job["overrides"])
    budget = Budget(**job["budget"]) if job.get("budget") else None
    base = load_recipe(job["source"], overrides)
    info_path = out / INFO_FILE
    if info_path.is_file() and (out / "recipe.yaml").is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        recipe = load_recipe(job["source"], overrides + budget_overrides(base, info["steps"]))
    else:
        shutil.rmtree(out, ignore_errors=True)  # a start that died before its first step: begin again
        placement = base.device.component.build(base.device.params, None)
        prepared = prepare(base)
        timed = _TIMED_STEPS if budget is not None and budget.kind == "seconds" else 0
        calibration = calibrate(base, prepared, placement, timed)
        steps = steps_for(budget, calibration, base.train.steps)
        recipe = load_recipe(job["source"], overrides + budget_overrides(base, steps))
        RunDir(out).write_start(recipe, prepared.tokenizer)  # the run trains with this tokenizer
        info = {"label": job["label"], "seed": job["seed"], "source": job["source"], "overrides": overrides,
                "budget": budget.describe() if budget else None, "steps": steps, "calibration": calibration}
        _write(info_path, info)
    stop = None
    if budget is not None and budget.kind == "seconds":
        stop = _TimeLimit(budget.amount * TIME_LIMIT_FACTOR, trained_so_far(out)["seconds"])
    train(recipe, out, stop=stop)
    info.update(_peak_memory(recipe), attempts=info.get("attempts", 0) + 1)
    _write(info_path, info)
    return out


class _TimeLimit:
    """Stops a run once its optimiser steps have taken ``limit`` seconds (the time a budget counts)."""

    def __init__(self, limit: float, spent: float):
        self.limit, self.spent = limit, spent

    def __call__(self, record: dict[str, Any]) -> bool:
        self.spent += record["tokens"] / max(record["tokens_per_s"], 1e-9)
        return self.spent >= self.limit


def _peak_memory(recipe: Any) -> dict[str, Any]:
    """This process's peak resident memory and, on CUDA, the peak memory torch allocated (MiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux
    out: dict[str, Any] = {"peak_rss_mib": round(rss_mib, 1), "peak_cuda_mib": None}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def run_job(job_file: Path) -> int:
    """Run a job in a process of its own and return its exit code.

    Where the platform has it, the process is forked from a server that has imported torch once
    (multiprocessing's forkserver: no CUDA in the server, nothing of the comparison in memory), which
    saves each contender torch's import; elsewhere it is ``python -m plmkit.evaluation.pretrain``.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        import subprocess

        return subprocess.call([sys.executable, "-m", "plmkit.evaluation.pretrain", str(job_file)])
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch._dynamo", "plmkit.training.loop", "plmkit.evaluation.pretrain"])
    process = context.Process(target=_child, args=(str(job_file),), name="plmkit-pretrain")
    process.start()
    try:
        process.join()
    except KeyboardInterrupt:  # the child got the same Ctrl-C: let it checkpoint and stop
        process.join()
        raise
    return process.exitcode if process.exitcode is not None else 1


def _child(job_file: str) -> None:
    code = main([job_file])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # everything is written and closed: skip tearing torch down


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        pretrain(job)
    except PlmkitError as error:
        for line in error.lines():
            print(line, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    _child(sys.argv[1])
