"""What a pretraining run really used: steps, tokens, seconds, FLOPs, memory, and its loss curve.

Read from the run folder: ``metrics.jsonl`` (every step's ``tokens`` and ``tokens_per_s``, so
tokens and optimiser-step seconds add up exactly, across resumes), ``summary.json`` (wall time,
parameters, device) and, for runs ``plmkit compare`` trained, ``pretrain.json`` (calibration:
FLOPs per token; peak memory). FLOPs are estimated: FLOPs per token, counted by torch on a real
training micro-batch, times the tokens trained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["usage", "loss_curve"]


def _records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def loss_curve(run_dir: Path, lm_head: str | None) -> list[dict[str, Any]]:
    """Held-out evaluations with the tokens and optimiser-step seconds trained by then."""
    tokens = seconds = 0.0
    curve = []
    for record in _records(run_dir):
        if "tokens_per_s" in record:
            tokens += record.get("tokens", 0)
            seconds += record.get("tokens", 0) / max(record["tokens_per_s"], 1e-9)
        elif "eval_loss" in record:
            point = {"step": record["step"], "tokens": tokens, "seconds": seconds, "loss": record["eval_loss"]}
            if lm_head and f"eval_loss_{lm_head}" in record:
                point["lm_loss"] = record[f"eval_loss_{lm_head}"]
            curve.append(point)
    return curve


def usage(run_dir: Path, flops_per_token: float | None = None) -> dict[str, Any]:
    """Steps, tokens, seconds, tokens/s, FLOPs, wall time, peak memory and parameters of a finished run."""
    from .pretrain import INFO_FILE, trained_so_far

    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    info_path = run_dir / INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    trained = trained_so_far(run_dir)
    calibration = info.get("calibration") or {}
    flops_per_token = calibration.get("flops_per_token", flops_per_token)
    tokens = trained["tokens"] or None  # runs from before metrics.jsonl recorded tokens: unknown
    memory, memory_kind = info.get("peak_cuda_mib"), "CUDA allocated"
    if memory is None:
        memory, memory_kind = info.get("peak_rss_mib"), "process RSS"
    return {
        "steps": summary.get("step"),
        "tokens": tokens,
        "seconds": trained["seconds"] if tokens else None,
        "tokens_per_s": tokens / trained["seconds"] if tokens and trained["seconds"] else None,
        "flops": flops_per_token * tokens if flops_per_token and tokens else None,
        "flops_per_token": flops_per_token,
        "wall_s": summary.get("wall_time_s"),
        "resumed": info.get("attempts", 1) > 1,
        "stopped_early": bool(summary.get("stopped_early")),
        "peak_memory_mib": memory,
        "memory_kind": memory_kind if memory is not None else None,
        "parameters": summary.get("parameters"),
        "device": summary.get("device"),
        "calibration": calibration or None,
        "curve": loss_curve(run_dir, summary.get("lm_head")),
    }
