"""The pretraining budget of a comparison, and how a recipe is fitted to it.

``--budget`` is one of: a wall time (``90s``, ``10m``, ``1h``, ``1h30m``), ``steps=N``,
``tokens=N`` (``2M``, ``500k``) or ``flops=N`` (``1e15``). Every budget is turned into a number
of optimiser steps before training starts, so each contender's learning-rate schedule runs to
its end:

* ``calibrate`` measures, on the contender's own data and model, the tokens of a step (the
  non-padding tokens of the first micro-batches), the FLOPs of a token (torch's FlopCounterMode
  over a real forward and backward pass: matrix products, convolutions and attention, padding
  included) and, for a wall-time budget, the seconds of a step (one warm-up step, then timed ones);
* ``steps_for`` divides the budget by the matching measurement.

A wall-time budget counts the optimiser steps' own time (what ``tokens_per_s`` in metrics.jsonl
measures); held-out evaluations and checkpoints come on top. The training loop also stops once
its optimiser steps have taken 1.5 times the budget, in case the calibration was off (the
schedule is then cut short; the report marks the run). The budget replaces
``train.steps``; ``train.warmup_steps`` is scaled by the same factor, so the schedule keeps its shape.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError

__all__ = ["Budget", "parse_budget", "calibrate", "steps_for", "budget_overrides", "TIME_LIMIT_FACTOR"]

TIME_LIMIT_FACTOR = 1.5
_TIME = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12, "p": 1e15}


@dataclass(frozen=True)
class Budget:
    """What every contender may spend on pretraining: ``kind`` seconds | steps | tokens | flops."""

    kind: str
    amount: float
    text: str

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount, "text": self.text}


def _number(text: str) -> float:
    text = text.strip().lower().replace("_", "")
    scale = 1.0
    if text and text[-1] in _SUFFIX:
        scale, text = _SUFFIX[text[-1]], text[:-1]
    return float(text) * scale


def parse_budget(text: str) -> Budget:
    """``10m`` / ``steps=600`` / ``tokens=2M`` / ``flops=1e15`` -> Budget; RecipeError (exit 2) otherwise."""
    raw = text.strip()
    key, sep, value = raw.partition("=")
    try:
        if sep:
            kind = {"steps": "steps", "tokens": "tokens", "flops": "flops", "time": "seconds"}[key.strip().lower()]
            amount = _seconds(value) if kind == "seconds" else _number(value)
        else:
            kind, amount = "seconds", _seconds(raw)
    except (KeyError, ValueError):
        raise RecipeError(f"--budget: expected a wall time (90s, 10m, 1h30m), steps=N, tokens=N (2M) or flops=N "
                          f"(1e15), got {text!r}") from None
    if not math.isfinite(amount) or amount <= 0 or (kind == "steps" and amount != int(amount)):
        raise RecipeError(f"--budget: expected a positive {'whole number' if kind == 'steps' else 'amount'}, got {text!r}")
    return Budget(kind, amount, raw)


def _seconds(text: str) -> float:
    match = _TIME.match(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise ValueError(text)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def steps_for(budget: Budget | None, calibration: dict[str, Any], recipe_steps: int) -> int:
    """Optimiser steps that spend ``budget`` (no budget: the recipe's own ``train.steps``)."""
    if budget is None:
        return recipe_steps
    if budget.kind == "steps":
        return int(budget.amount)
    per_step = {"tokens": calibration["tokens_per_step"],
                "flops": calibration["flops_per_token"] * calibration["tokens_per_step"],
                "seconds": calibration.get("seconds_per_step")}[budget.kind]
    return max(1, int(budget.amount // per_step))


def budget_overrides(recipe: Any, steps: int) -> list[str]:
    """Recipe overrides for ``steps``: warm-up scaled with the run, up to 8 held-out evaluations (the
    loss curves; at least 10 steps apart), 4 checkpoints (what a killed comparison resumes from)."""
    t = recipe.train
    warmup = round(t.warmup_steps * steps / t.steps) if t.steps else 0
    return [f"train.steps={steps}", f"train.warmup_steps={min(warmup, steps)}",
            f"eval.every={min(steps, max(10, steps // 8))}", f"train.checkpoint_every={max(1, steps // 4)}"]


def calibrate(recipe: Any, prepared: Any, placement: Any, timed_steps: int = 0) -> dict[str, Any]:
    """Tokens per step, FLOPs per token and (``timed_steps`` > 0) seconds per step of this recipe."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.build import build_model
    from ..training.optim import make_optimizer

    train = recipe.train
    model = build_model(recipe, vocab_size=prepared.tokenizer.vocab_size, pad_id=prepared.tokenizer.pad_id)
    model = model.to(placement.device).train()
    stream = prepared.train_batches()
    sample = [next(stream) for _ in range(max(8, train.grad_accum))]
    tokens = [_tokens(b) for b in sample]
    counter = FlopCounterMode(display=False)
    batch = placement.to(sample[0])
    with counter:
        with placement.autocast():
            out = model(**batch)
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    result = {"tokens_per_step": sum(tokens) / len(tokens) * train.grad_accum,
              "flops_per_token": counter.get_total_flops() / max(tokens[0], 1),
              "parameters": model.num_parameters(), "seconds_per_step": None}
    if timed_steps:
        optimizer = make_optimizer(model, train)
        times = []
        for k in range(timed_steps + 1):  # the first step warms caches up and is not counted
            t0 = time.monotonic()
            for _ in range(train.grad_accum):
                batch = placement.to(next(stream))
                model.reset_states()
                with placement.autocast():
                    loss = model(**batch).loss / train.grad_accum
                placement.scaler.scale(loss).backward()
            placement.scaler.step(optimizer)
            placement.scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if placement.device.type == "cuda":
                torch.cuda.synchronize()
            if k:
                times.append(time.monotonic() - t0)
        result["seconds_per_step"] = sorted(times)[len(times) // 2]  # the median
    return result


def _tokens(batch: dict) -> int:
    mask = batch.get("attention_mask")
    if mask is not None:
        return int(mask.sum())
    reference = batch.get("input_ids", batch.get("char_ids"))
    return int(reference.shape[0] * reference.shape[1])
