"""How a training run stops on a signal: SIGINT (Ctrl-C) and SIGTERM (what schedulers and
``docker stop`` send) alike.

While preparing, SIGTERM stops at once as Ctrl-C does (``RaiseOnTerminate``), so the half-made
run folder is removed on the way out. In the loop, the first signal only asks it to finish the
step, checkpoint and stop (``StopOnSignals.requested``); a second one stops at once. A stop by
SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``), whose ``exit_code`` is 143. Handlers are
installed only in the main thread (signals cannot be caught elsewhere) and restored on exit.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["Terminated", "stopped_by", "RaiseOnTerminate", "StopOnSignals"]


class Terminated(KeyboardInterrupt):
    """The run stopped because of SIGTERM (after a checkpoint when it was training)."""

    exit_code = 128 + signal.SIGTERM


def stopped_by(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


class RaiseOnTerminate:
    """Outside the loop (while preparing), SIGTERM stops at once, as Ctrl-C does: the half-made
    run folder is removed on the way out. Only in the main thread."""

    def __enter__(self) -> "RaiseOnTerminate":
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    @staticmethod
    def _handle(signum: int, frame: Any) -> None:
        raise Terminated()

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class StopOnSignals:
    """The first SIGINT or SIGTERM asks the loop to checkpoint and stop at the end of the current
    step (``requested`` holds its number); a second one stops at once. Only in the main thread
    (signals cannot be caught elsewhere)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> "StopOnSignals":
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise stopped_by(signum)
        self.requested = signum

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
