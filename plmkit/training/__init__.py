"""Training: the loop (loop.py), optimiser and schedule, checkpoints, run folders, devices."""

from .loop import RunResult, train

__all__ = ["train", "RunResult"]
