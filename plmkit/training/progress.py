"""What a person sees while a run trains, and the summary at its end (all on stderr).

On a terminal one status line is redrawn in place (carriage return): step, loss, tokens/s, time
left. When stderr is not a terminal, or ``CI=true``, output is plain lines: one per
``train.log_every`` steps and one per evaluation, so logs stay short and readable.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "Silent", "format_duration"]


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s / 1000:.1f}k tok/s" if tokens_per_s >= 1000 else f"{tokens_per_s:.0f} tok/s"


def _losses(record: dict[str, Any]) -> str:
    """``loss 3.21 (mlm 2.60, nsp 0.61)``: the total, and each objective when there are several."""
    text = f"loss {record['loss']:.4f}"
    parts = [f"{k[5:]} {v:.4f}" for k, v in record.items() if k.startswith("loss_") and v is not None]
    return text + (f" ({', '.join(parts)})" if len(parts) > 1 else "")


class Progress:
    """Reports a run on ``stream``; ``interactive`` None means: a terminal and not CI."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            is_tty = getattr(self.stream, "isatty", lambda: False)()
            interactive = is_tty and os.environ.get("CI", "").lower() not in ("true", "1")
        self.interactive = interactive
        self._last_draw = 0.0
        self._line_open = False

    # -- the run ----------------------------------------------------------------------------------
    def start(self, run_dir: Any, recipe: Any, placement: str, parameters: int, start_step: int) -> None:
        self.total = recipe.train.steps
        self.log_every = recipe.train.log_every
        self.start_step, self.t0 = start_step, time.monotonic()
        verb = f"resuming {recipe.name} at step {start_step}" if start_step else f"training {recipe.name}"
        self._print(f"{verb}: {parameters:,} parameters, {self.total} steps on {placement} -> {run_dir}")

    def message(self, text: str) -> None:
        self._print(text)

    def step(self, step: int, record: dict[str, Any]) -> None:
        done = step - self.start_step
        left = (time.monotonic() - self.t0) / max(done, 1) * (self.total - step)
        line = (f"step {step}/{self.total}  {_losses(record)}  lr {record['lr']:.2e}  "
                f"{_rate(record['tokens_per_s'])}  {format_duration(left)} left")
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw >= 0.2 or step == self.total:
                self._last_draw = now
                self.stream.write("\r" + line.ljust(100)[:max(100, len(line))])
                self.stream.flush()
                self._line_open = True
        elif step % self.log_every == 0 or step == self.total:
            self._print(line)

    def evaluation(self, step: int, metrics: dict[str, Any]) -> None:
        self._print(f"eval at step {step}: {describe_metrics(metrics)}")

    def finish(self, summary: dict[str, Any]) -> None:
        self._print(summary_text(summary))

    # -- output -----------------------------------------------------------------------------------
    def _print(self, text: str) -> None:
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()


class Silent(Progress):
    """Reports nothing (library use, tests)."""

    def __init__(self) -> None:
        super().__init__(stream=open(os.devnull, "w"), interactive=False)


_SUMMARY_KEYS = ("loss", "perplexity", "bits_per_word", "unigram_", "floor_")


def _head_numbers(metrics: dict[str, Any]) -> list[str]:
    """Every head's own numbers (``mlm_accuracy``, a plugin head's ...), by name; token NLLs are
    left to bits per word."""
    return [f"{key} {value:.3f}" for key, value in metrics.items()
            if not key.startswith(_SUMMARY_KEYS) and "_nll" not in key and isinstance(value, (int, float))]


def describe_metrics(metrics: dict[str, Any]) -> str:
    """One line of held-out metrics: loss, perplexity, each head's numbers, bits per word."""
    parts = [_losses(metrics)]
    if metrics.get("perplexity") is not None and math.isfinite(metrics["perplexity"]):
        parts.append(f"perplexity {metrics['perplexity']:.2f}")
    parts += _head_numbers(metrics)
    if metrics.get("bits_per_word") is not None:
        parts.append(f"bits/word {metrics['bits_per_word']:.3f}")
    if metrics.get("bits_per_word_backward") is not None:
        parts.append(f"(backward {metrics['bits_per_word_backward']:.3f})")
    return "  ".join(parts)


def summary_text(summary: dict[str, Any]) -> str:
    """The end-of-run summary: final held-out numbers beside their baselines, and what was written."""
    metrics = summary.get("eval", {})
    lines = [f"finished {summary['name']}: {summary['step']} steps in {format_duration(summary['wall_time_s'])} "
             f"on {summary['device']}"]
    if metrics:
        lm_key = f"loss_{summary.get('lm_head')}"
        unigram = summary.get("unigram_baseline") or {}
        if lm_key in metrics:
            line = f"  held-out LM loss {metrics[lm_key]:.4f} nats/token"
            if unigram.get("nats_per_token") is not None:
                line += f" (unigram baseline {unigram['nats_per_token']:.4f})"
            lines.append(line)
        lines.append(f"  held-out: {describe_metrics(metrics)}")
        if metrics.get("bits_per_word") is not None:
            line = f"  bits/word {metrics['bits_per_word']:.3f}"
            if unigram.get("bits_per_word") is not None:
                line += f" (unigram {unigram['bits_per_word']:.3f}"
                floor = summary.get("floor_bits_per_word")
                line += f", the generator's floor {floor:.3f})" if floor is not None else ")"
            lines.append(line)
    run_dir = summary["run_dir"]
    lines.append(f"  wrote {run_dir}: model/ (weights, recipe, tokenizer), metrics.jsonl, checkpoints/, summary.json")
    lines.append(f"  next: plmkit eval {run_dir}" + (f" | plmkit generate {run_dir} --prompt '...'"
                                                         if summary.get("direction") == "causal" else
                                                         f" | plmkit embed {run_dir} --text '...'"))
    return "\n".join(lines)
