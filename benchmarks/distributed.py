"""Training throughput on 1 process and on 2 (DDP, gloo) on this machine's CPU.

    python benchmarks/distributed.py            # writes benchmarks/DISTRIBUTED.md (and prints it)
    python benchmarks/distributed.py --steps 10 # shorter

Each case is ``plmkit run recipes/gpt.yaml`` as a user runs it, with the same recipe and global
batch (so the same training: tests/distributed checks that): one process with 1 and with 2 CPU
threads, and ``device.type=ddp device.processes=2`` with 1 thread per process. Throughput is
read from the run's metrics.jsonl: tokens_per_s of each step (all processes' tokens over the
step's wall time on rank 0), the median over the steps after the first ``--warmup``. Per
process = total / processes. Start-up (torch import, torchrun, the tokenizer) is not counted.

Caveat printed with the results: on a machine with 2 cores shared with other work, 2 processes
compete with each other and with everything else for the same cores; the numbers say what this
machine did, not how DDP scales on real hardware (one GPU per process, NCCL).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "gpt.yaml"
SIZE = ["model.hidden=128", "model.layers=4", "train.seq_len=128", "train.batch_size=16", "eval.batches=1",
        "train.checkpoint_every=0", "train.warmup_steps=2"]
CASES = [  # name, processes, threads per process
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("2 processes (ddp, gloo) x 1 thread", 2, 1),
]


def run_case(processes: int, threads: int, steps: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CI": "true"}
    args = [sys.executable, "-m", "plmkit", "run", str(RECIPE), *SIZE, f"train.steps={steps}", "device.type=ddp",
            f"device.processes={processes}", "--out", str(out)]
    started = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"wall_s": time.monotonic() - started, "rates": [r["tokens_per_s"] for r in records if "tokens_per_s" in r]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the median")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "DISTRIBUTED.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, processes, threads in CASES:
            measured = run_case(processes, threads, args.steps, Path(tmp) / f"run-{processes}-{threads}")
            total = statistics.median(measured["rates"][args.warmup:])
            rows.append((name, processes, threads, total, total / processes, measured["wall_s"]))
    base = rows[0][3]
    lines = [
        "# Training throughput: 1 process vs 2 (DDP, gloo, CPU)",
        "",
        f"`python benchmarks/distributed.py --steps {args.steps}` on {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch "
        f"{_torch_version()}, Python {platform.python_version()}.",
        "",
        f"recipes/gpt.yaml with {' '.join(SIZE)}: {args.steps} steps, global batch 16 x 128 tokens in every case "
        f"(the 2 processes take 8 sequences each). Median tokens/s over steps {args.warmup + 1}-{args.steps}; "
        "start-up not counted.",
        "",
        "| case | tokens/s total | tokens/s per process | vs 1 x 1 | wall time incl. start-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, processes, threads, total, per, wall in rows:
        lines.append(f"| {name} | {total:,.0f} | {per:,.0f} | {total / base:.2f}x | {wall:.0f} s |")
    lines += [
        "",
        "Caveat: this machine has 2 CPU cores, shared with other work while this ran. Two processes",
        "compete with each other and with everything else for the same 2 cores, and gloo's all-reduce",
        "of the gradients runs on them too, so these numbers say what this machine did, not how DDP",
        "scales. On real hardware each process has its own GPU and NCCL (see docs/distributed.md).",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()
