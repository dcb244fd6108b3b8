"""What a person sees while ``plmkit compare`` runs (stderr) and the table at its end (stdout).

One line per step: its number, the model and seed, the phase (pretraining, a task's probe,
fine-tuning or measure, the baselines), the time so far and an estimate of the time left (the
mean duration of the finished steps of each kind, times the steps of that kind still to do;
pretraining steps of a wall-time budget are estimated from the budget until one has finished).
A pretraining step shows plmkit's own training progress below its line (from the child process).
On a terminal (and not under CI=true) a finished step rewrites its line in place with its
duration; otherwise every line is plain.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from ..training.progress import format_duration

__all__ = ["CompareDisplay"]


class CompareDisplay:
    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None, out: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.out = out if out is not None else sys.stdout
        if interactive is None:
            is_tty = getattr(self.stream, "isatty", lambda: False)()
            interactive = is_tty and os.environ.get("CI", "").lower() not in ("true", "1")
        self.interactive = interactive
        self.durations: dict[str, list[float]] = {}

    def start(self, out: Any, total: int, budget: Any) -> None:
        self.total, self.index, self.t0, self.budget = total, 0, time.monotonic(), budget
        self.remaining: dict[str, int] = {}
        self._print(f"comparing into {out}: {total} steps"
                    + (f", pretraining budget {budget.text} per model" if budget else ""))

    def plan(self, kinds: list[str]) -> None:
        for kind in kinds:
            self.remaining[kind] = self.remaining.get(kind, 0) + 1

    def begin(self, unit: Any) -> None:
        self.index += 1
        self.unit_t0 = time.monotonic()
        self.remaining[unit.kind] = max(0, self.remaining.get(unit.kind, 1) - 1)
        who = unit.label if unit.kind == "baseline" else f"{unit.label} seed {unit.seed}"
        self.line = f"[{self.index}/{self.total}] {who}: {unit.what}"
        eta = self._eta(unit)
        text = f"{self.line}  ({format_duration(time.monotonic() - self.t0)} so far{eta})"
        if self.interactive and unit.kind != "pretrain":
            self.stream.write("\r" + text.ljust(100))
            self.stream.flush()
        else:
            self._print(text)

    def end(self, unit: Any, skipped: bool) -> None:
        took = time.monotonic() - self.unit_t0
        if not skipped:
            self.durations.setdefault(unit.kind, []).append(took)
        if self.interactive and unit.kind != "pretrain":
            note = "already done" if skipped else format_duration(took)
            self.stream.write("\r" + f"{self.line}  {note}".ljust(100) + "\n")
            self.stream.flush()
        elif skipped:
            self._print(f"{self.line}: already done")

    def _eta(self, unit: Any) -> str:
        left, unknown = 0.0, False
        for kind, count in self.remaining.items():
            seen = self.durations.get(kind)
            if seen:
                left += sum(seen) / len(seen) * count
            elif kind == "pretrain" and self.budget is not None and self.budget.kind == "seconds":
                left += self.budget.amount * 1.2 * count
            elif count:
                unknown = True
        if unknown:
            return f", at least {format_duration(left)} left" if left else ", time left not known yet"
        return f", about {format_duration(left)} left" if left else ""

    def table(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def message(self, text: str) -> None:
        """A line of its own on stderr (e.g. that the plots need matplotlib)."""
        self._print(text)

    def finish(self, out: Any) -> None:
        self._print(f"compared in {format_duration(time.monotonic() - self.t0)}: {out}/report.md, report.json, *.png")

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
