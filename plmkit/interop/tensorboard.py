"""TensorBoard event files beside metrics.jsonl, when a recipe asks (``logging: {tensorboard: true}``).

The run folder's metric records go to ``RUN/tensorboard/`` as scalars: a training step's numbers
as ``train/<name>``, a held-out evaluation's (``eval_<name>``) as ``eval/<name>``, at the record's
step; ``plmkit eval`` adds its numbers as ``plmkit_eval/<name>`` at the step of the weights it read.
Written with torch's ``SummaryWriter``, which needs the optional ``tensorboard`` package; without
it the run goes on and says so once. A resumed run purges the events after its checkpoint, as it
rewrites metrics.jsonl. Read them with ``tensorboard --logdir runs/``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["FOLDER", "TensorBoardLog", "metric_writers", "log_evaluation"]

FOLDER = "tensorboard"
MISSING = ("logging.tensorboard: the tensorboard package is not installed (pip install tensorboard); "
           "metrics go to metrics.jsonl only")


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's module imports tensorboard
        return None
    return SummaryWriter


class TensorBoardLog:
    """Metric records (dicts with a ``step``) as TensorBoard scalars in one folder."""

    def __init__(self, folder: str | Path, writer_class: Any, purge: bool = True) -> None:
        self.folder, self._writer_class, self._writer = Path(folder), writer_class, None
        self.purge = purge  # drop events at and after the first record's step (a resumed run's)

    def write(self, record: dict[str, Any], prefix: str | None = None) -> None:
        step = int(record["step"])
        if self._writer is None:  # opened at the first record: a resumed run drops the events it rewrites
            self._writer = self._writer_class(log_dir=str(self.folder), purge_step=step if self.purge else None)
        for name, value in record.items():
            if name == "step" or not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                continue
            self._writer.add_scalar(_tag(name, prefix), value, step)
        self._writer.flush()  # a killed run keeps every record written so far

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _tag(name: str, prefix: str | None) -> str:
    if prefix is not None:
        return f"{prefix}/{name}"
    return f"eval/{name.removeprefix('eval_')}" if name.startswith("eval_") else f"train/{name}"


def metric_writers(run_path: str | Path, recipe: Any) -> tuple[list[TensorBoardLog], list[str]]:
    """The writers a recipe's ``logging`` asks for besides metrics.jsonl, and notes for a person."""
    if not recipe.logging.tensorboard:
        return [], []
    writer_class = _summary_writer()
    if writer_class is None:
        return [], [MISSING]
    return [TensorBoardLog(Path(run_path) / FOLDER, writer_class)], []


def log_evaluation(run: Any, metrics: dict[str, float]) -> str | None:
    """``plmkit eval``'s numbers into the run's TensorBoard folder, if its recipe logs there; a note
    when it cannot. The step is the one the evaluated weights were trained to."""
    if not run.recipe.logging.tensorboard:
        return None
    writer_class = _summary_writer()
    if writer_class is None:
        return MISSING
    from .card import run_facts

    folder = Path(run.path)
    folder = folder.parent if folder.name == "model" and (folder.parent / "recipe.yaml").is_file() else folder
    log = TensorBoardLog(folder / FOLDER, writer_class, purge=False)  # added to what the run wrote
    log.write({"step": run_facts(run)["step"] or 0, **metrics}, prefix="plmkit_eval")
    log.close()
    return None
