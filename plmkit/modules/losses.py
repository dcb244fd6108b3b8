"""Losses and held-out sums shared by the language-model heads.

Labels follow transformers: ``-100`` (``IGNORE``) marks a position without a target. Sums are
returned as (total, count) pairs so that evaluation can add them over batches (and processes)
before dividing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["IGNORE", "cross_entropy", "next_token_targets", "shifted_nll", "accuracy_sums"]

IGNORE = -100  # label of positions that carry no loss


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not ``IGNORE``, computed in float32.

    ``logits`` (..., V), ``labels`` (...).
    """
    return F.cross_entropy(logits.float().flatten(0, -2), labels.flatten(), ignore_index=IGNORE)


def next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """(B, T) labels -> (B, T) targets: position t predicts label t+1; the last predicts nothing.

    Shifting the labels, not the logits: slicing (B, T, V) logits would copy them and make
    backward zero-fill and copy a full gradient (10% of a GPT step on a CPU).
    """
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE)


def shifted_nll(logits: torch.Tensor, labels: torch.Tensor, shift: int,
                mask: torch.Tensor | None = None) -> tuple[float, float]:
    """Summed NLL (nats) and number of targets: position t predicts label t+shift (shift = +1 or -1).

    A target counts only when the position predicting it is a real token (``mask`` 1): the first
    padding position of a row must not "predict" the row's last token from a padded output.
    """
    if shift == 1:
        logits, labels, source = logits[:, :-1], labels[:, 1:], (mask[:, :-1] if mask is not None else None)
    else:
        logits, labels, source = logits[:, 1:], labels[:, :-1], (mask[:, 1:] if mask is not None else None)
    if source is not None:
        labels = labels.masked_fill(source == 0, IGNORE)
    nll = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="sum")
    return float(nll), float((labels != IGNORE).sum())


def accuracy_sums(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(hits, targets) of the argmax of ``logits`` (..., C) against ``labels`` (...), IGNORE skipped."""
    targets = labels != IGNORE
    hits = (logits.argmax(dim=-1) == labels) & targets
    return float(hits.sum()), float(targets.sum())
