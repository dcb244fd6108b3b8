"""Held-out evaluation: each head's own numbers, the losses, perplexity and bits per word.

Every head reports its held-out numbers through ``metric_sums(out, batch)`` (see
``plmkit.modules.heads``): (total, count) pairs that are added over the batches and divided at
the end, so a plugin head's metrics are shown exactly like a built-in's, as ``{head}_{name}``
(``mlm_accuracy``, ``nsp_accuracy``, ``lm_nll`` in nats per token, ...).

Beside them: ``loss`` and ``loss_{head}`` (the mean over batches of each batch's loss),
``perplexity`` = exp of the language-model head's loss, and, when the language-model head
reports ``nll`` (summed nats of every predicted token) and the words those tokens spell are
known, ``bits_per_word`` = nll / words / ln 2 (``bits_per_word_backward`` from ``nll_backward``),
so models with different tokenizers compare on the same scale.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterable

import torch

__all__ = ["evaluate", "Totals", "finish"]


class Totals:
    """Running (total, count) sums over the evaluation batches."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def add(self, key: str, total: float, count: float = 1.0) -> None:
        entry = self.sums.setdefault(key, [0.0, 0.0])
        entry[0] += total
        entry[1] += count

    def mean(self, key: str) -> float | None:
        total, count = self.sums.get(key, (0.0, 0.0))
        return total / count if count else None

    def total(self, key: str) -> float | None:
        return self.sums[key][0] if key in self.sums else None


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]], placement: Any = None,
             words: int | None = None) -> dict[str, float]:
    """Held-out metrics of ``model`` over ``batches``; ``words``: what the evaluated tokens spell."""
    was_training = model.training
    model.eval()
    totals = Totals()
    try:
        for batch in batches:
            batch = placement.to(batch) if placement is not None else batch
            model.reset_states()  # each held-out batch stands alone
            with placement.autocast() if placement is not None else contextlib.nullcontext():
                out = model(**batch)
            _add_batch(totals, model, out, batch)
    finally:
        model.train(was_training)
    return finish(totals, words, model.lm_head)


def _add_batch(totals: Totals, model: Any, out: Any, batch: dict) -> None:
    if out.loss is not None:
        totals.add("loss", float(out.loss))
    for name, loss in out.losses.items():
        totals.add(f"loss_{name}", float(loss))
    for key, (total, count) in model.metric_sums(out, batch).items():
        totals.add(key, total, count)


def finish(totals: Totals, words: int | None, lm_head: str | None) -> dict[str, float]:
    """The metrics from the summed totals (see the module docstring)."""
    metrics = {key: value for key in totals.sums if (value := totals.mean(key)) is not None}
    lm_loss = metrics.get(f"loss_{lm_head}") if lm_head else None
    if lm_loss is not None:
        metrics["perplexity"] = math.exp(min(lm_loss, 700.0))
    for source, key in (("nll", "bits_per_word"), ("nll_backward", "bits_per_word_backward")):
        nats = totals.total(f"{lm_head}_{source}") if lm_head else None
        if nats is not None and words:
            metrics[key] = nats / words / math.log(2)
    return metrics
