"""Held-out evaluation: loss per objective, perplexity, MLM and NSP accuracy, bits per word.

Which numbers a head yields follows from the batch layout it declares (``Params.batch``):

* ``masked_lm``         loss, and accuracy of the argmax at the masked (labelled) positions
* ``next_sentence``     loss, and accuracy of the IsNext / NotNext decision
* ``causal_lm``         loss; its token-summed NLL gives bits per word
* ``bidirectional_lm``  loss (mean of the two directions), forward and backward loss; bits per
                        word of the forward LM (and of the backward one, reported beside it)

Perplexity is ``exp`` of the language-model head's loss. Bits per word is the NLL summed over
every predicted held-out token, divided by the number of words those tokens spell and by ln 2,
so models with different tokenizers compare on the same scale.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterable

import torch
import torch.nn.functional as F

__all__ = ["evaluate", "head_layouts"]

IGNORE = -100


def head_layouts(recipe: Any) -> dict[str, str | None]:
    """Head name -> the batch layout it declares (``masked_lm``, ``causal_lm``, ...)."""
    return {name: spec.params.objective for name, spec in recipe.model.head.items() if spec is not None}


class _Totals:
    """Running sums over the evaluation batches."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, float] = {}

    def add(self, key: str, value: float, count: float = 1.0) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.counts[key] = self.counts.get(key, 0.0) + count

    def mean(self, key: str) -> float | None:
        return self.sums[key] / self.counts[key] if self.counts.get(key) else None

    def total(self, key: str) -> float:
        return self.sums.get(key, 0.0)


def _shifted_nll(logits: torch.Tensor, labels: torch.Tensor, shift: int, mask: torch.Tensor | None) -> tuple[float, int]:
    """Summed NLL (nats) and count of targets: position t predicts token t+shift (shift = +1 or -1).

    A target counts only when the position predicting it is a real token: the first padding
    position of a row must not "predict" the row's last token (backward) from a padded output.
    """
    if shift == 1:
        logits, labels, source = logits[:, :-1], labels[:, 1:], (mask[:, :-1] if mask is not None else None)
    else:
        logits, labels, source = logits[:, 1:], labels[:, :-1], (mask[:, 1:] if mask is not None else None)
    if source is not None:
        labels = labels.masked_fill(source == 0, IGNORE)
    nll = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="sum")
    return float(nll), int((labels != IGNORE).sum())


def _head_numbers(totals: _Totals, layout: str | None, out: dict, batch: dict) -> None:
    labels, mask = batch.get("labels"), batch.get("attention_mask")
    if layout == "masked_lm" and labels is not None:
        targets = labels != IGNORE
        hits = (out["logits"].argmax(dim=-1) == labels) & targets
        totals.add("mlm_accuracy", float(hits.sum()), float(targets.sum()))
    elif layout == "next_sentence" and batch.get("next_sentence_label") is not None:
        hits = out["logits"].argmax(dim=-1) == batch["next_sentence_label"].flatten()
        totals.add("nsp_accuracy", float(hits.sum()), hits.numel())
    elif layout == "causal_lm" and labels is not None:
        nll, count = _shifted_nll(out["logits"], labels, 1, mask)
        totals.add("nll_forward", nll, count)
    elif layout == "bidirectional_lm" and labels is not None:
        labels = labels.masked_fill(mask == 0, IGNORE) if mask is not None else labels
        for key, logits, shift in (("forward", out["logits"], 1), ("backward", out["backward_logits"], -1)):
            nll, count = _shifted_nll(logits, labels, shift, mask)
            totals.add(f"nll_{key}", nll, count)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    placement: Any = None,
    layouts: dict[str, str | None] | None = None,
    words: int | None = None,
) -> dict[str, float]:
    """Held-out metrics of ``model`` over ``batches``.

    ``layouts`` maps head names to their batch layout (default: read from ``model.recipe``).
    ``words`` is how many words the evaluated tokens spell; without it, batches may carry
    ``num_words``; without either, bits per word is left out.
    """
    layouts = layouts if layouts is not None else head_layouts(model.recipe)
    was_training = model.training
    model.eval()
    totals, batch_words = _Totals(), 0
    try:
        for batch in batches:
            batch_words += int(batch.pop("num_words", 0)) if "num_words" in batch else 0
            batch = placement.to(batch) if placement is not None else batch
            model.reset_states()  # each held-out batch stands alone
            with placement.autocast() if placement is not None else contextlib.nullcontext():
                out = model(**batch)
            _batch_numbers(totals, out, batch, layouts)
    finally:
        model.train(was_training)
    return _finish(totals, words if words is not None else (batch_words or None), model.lm_head)


def _batch_numbers(totals: _Totals, out: Any, batch: dict, layouts: dict[str, str | None]) -> None:
    if out.loss is not None:
        totals.add("loss", float(out.loss))
    for name, loss in out.losses.items():
        totals.add(f"loss_{name}", float(loss))
    for name, head_out in out.heads.items():
        for direction in ("forward", "backward"):
            if head_out.get(f"{direction}_loss") is not None:
                totals.add(f"{direction}_loss", float(head_out[f"{direction}_loss"]))
        _head_numbers(totals, layouts.get(name), head_out, batch)


def _finish(totals: _Totals, words: int | None, lm_head: str | None) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key in ("loss", *sorted(k for k in totals.sums if k.startswith("loss_")), "forward_loss", "backward_loss",
                "mlm_accuracy", "nsp_accuracy"):
        if totals.mean(key) is not None:
            metrics[key] = totals.mean(key)
    lm_loss = metrics.get(f"loss_{lm_head}") if lm_head else None
    if lm_loss is not None:
        metrics["perplexity"] = math.exp(min(lm_loss, 700.0))
    for direction, key in (("forward", "bits_per_word"), ("backward", "bits_per_word_backward")):
        nll = totals.total(f"nll_{direction}")
        if totals.counts.get(f"nll_{direction}"):
            metrics[f"nll_per_token_{direction}"] = totals.mean(f"nll_{direction}")
            if words:
                metrics[key] = nll / words / math.log(2)
    return metrics

