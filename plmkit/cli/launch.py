"""``plmkit run ... device.processes=N``: plmkit starts torchrun itself, on this machine.

The same as ``python -m torch.distributed.run --standalone --nproc-per-node N -m plmkit run ARGS``
with the same ARGS: torchrun (run in this process) starts N workers, and each worker sees
torchrun's RANK / WORLD_SIZE / LOCAL_RANK and joins the process group instead of launching again.

What the user sees when a worker fails is that worker's own one-line message and exit code
(2 for a recipe error, 1 at run time), not torchrun's report: each failing worker writes its
message into a folder (``PLMKIT_RANK_ERRORS``) and this process prints the first one. A worker
that stopped only because another one failed is passed over.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["wanted", "launch"]


def wanted(recipe) -> int:
    """How many processes to start here (0: none, run in this process)."""
    from ..training.distributed import under_torchrun

    processes = getattr(recipe.device.params, "processes", 1)  # the ddp and fsdp devices have it
    return processes if processes > 1 and not under_torchrun() else 0


def launch(processes: int, argv: list[str]) -> int:
    """Run ``plmkit ARGV`` on ``processes`` workers through torchrun; return the exit code to give."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # torchrun's reports: ours replace them
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    with tempfile.TemporaryDirectory(prefix="plmkit-ranks-") as errors:
        os.environ["PLMKIT_RANK_ERRORS"] = errors
        args = parse_args(["--standalone", "--nproc-per-node", str(processes), "--monitor-interval", "0.1",
                           "-m", "plmkit", *argv])
        try:
            run(args)
        except ChildFailedError as failed:
            return _report(Path(errors), failed)
        except (KeyboardInterrupt, SignalException) as stop:
            # Ctrl-C or SIGTERM: torchrun passed it on; the processes checkpointed and said how to continue
            return 128 + int(getattr(stop, "sigval", 2))
        finally:
            os.environ.pop("PLMKIT_RANK_ERRORS", None)
    return 0


def _report(errors: Path, failed) -> int:
    """Print the first failing worker's message; return its exit code."""
    records = []
    for path in errors.glob("rank-*.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    own = [r for r in records if not r["peer"]] or records
    if own:
        first = min(own, key=lambda r: r["time"])
        for line in first["lines"]:
            print(line, file=sys.stderr)
        return int(first["exit_code"]) or 1
    # no message: a worker was killed, or crashed with its own traceback (printed above)
    rank, failure = failed.get_first_failure()
    how = f"signal {-failure.exitcode}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"
    print(f"device: process {rank} of the run failed ({how}) without a message; the others were stopped",
          file=sys.stderr)
    return 1
