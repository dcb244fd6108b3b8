"""What the reliability tests share: a tiny GPT recipe, the fuzzing budget, and folder snapshots."""

from __future__ import annotations

import hashlib
import os
import resource
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"

#: a GPT that trains a step in a few milliseconds on one CPU thread
TINY = ["model.hidden=32", "model.layers=1", "model.attention.heads=2", "model.max_positions=32",
        "train.seq_len=32", "train.batch_size=4", "train.warmup_steps=2", "train.lr=0.003",
        "data.documents=60", "tokenizer.vocab_size=300", "eval.batches=1", "device.type=cpu"]


def fuzz_settings(examples: int) -> settings:
    """``examples`` per fuzzing test in CI, fixed and derandomized; ``PLMKIT_FUZZ_EXAMPLES=N`` runs N
    fresh random examples per test instead (a long local run)."""
    wanted = os.environ.get("PLMKIT_FUZZ_EXAMPLES")
    return settings(max_examples=int(wanted) if wanted else examples, derandomize=not wanted, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck), print_blob=True)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256), and every folder (-> "dir")."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        found[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def peak_rss() -> int:
    """The most memory this process has held so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one_line(text: str) -> str:
    """The only line of ``text`` (an error a person reads), failing if there are more."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]
