"""What the distributed tests share: tiny GPT, BERT and ELMo recipes and how to launch them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from conftest import REPO

COMMON = ["train.steps=4", "train.warmup_steps=1", "train.checkpoint_every=2", "train.lr=0.003",
          "data.documents=80", "tokenizer.vocab_size=300", "eval.batches=1"]
FAMILIES = {
    "gpt": ["model.hidden=32", "model.layers=1", "model.attention.heads=2", "model.max_positions=32",
            "train.seq_len=32", "train.batch_size=4"],
    # grad_accum 2: each rank takes 2 of each micro-batch of 4
    "bert": ["model.hidden=32", "model.layers=1", "model.attention.heads=2", "train.seq_len=32",
             "train.batch_size=8", "train.grad_accum=2", "model.embedding.dropout=0", "model.attention.dropout=0",
             "model.attention.attn_dropout=0"],
    # a head without a loss (the scalar mix): DDP must find its parameters unused
    "elmo": ["model.hidden=32", "model.layers=1", "model.recurrent.cell_dim=64", "model.embedding.filters=[[1,8],[2,8]]",
             "train.seq_len=16", "train.batch_size=4", "model.recurrent.dropout=0", "model.head.lm.dropout=0"],
}
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


def overrides(family: str, device: str = "ddp") -> list[str]:
    return FAMILIES[family] + COMMON + [f"device.type={device}"]


def launch(args: list[str], cwd: Path = REPO, env: dict | None = None, timeout: float = 120):
    """A subprocess as a user starts it; ``timeout`` is the no-hang check."""
    full_env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def torchrun(*args: str, **kwargs):
    return launch(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "plmkit", *args],
                  **kwargs)


def losses(run_dir: Path) -> list[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model" / "model.safetensors"))


def kill_after_step_2(run_dir: Path, copy: Path) -> Path:
    """A copy of a finished 4-step run as if it had been killed right after its step-2 checkpoint."""
    shutil.copytree(run_dir, copy)
    for later in ("checkpoints/step-4", "model", "summary.json"):
        shutil.rmtree(copy / later) if (copy / later).is_dir() else (copy / later).unlink()
    return copy
