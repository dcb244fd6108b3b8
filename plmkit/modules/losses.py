"""Losses and held-out sums shared by the language-model heads.

Labels follow transformers: ``-100`` (``IGNORE``) marks a position without a target. Sums are
returned as (total, count) pairs so that evaluation can add them over batches (and processes)
before dividing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["IGNORE", "cross_entropy", "linear_cross_entropy", "next_token_targets", "shifted_nll", "accuracy_sums"]

IGNORE = -100  # label of positions that carry no loss


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not ``IGNORE``, computed in float32.

    ``logits`` (..., V), ``labels`` (...).
    """
    return F.cross_entropy(logits.float().flatten(0, -2), labels.flatten(), ignore_index=IGNORE)


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                         max_elements: int = 1 << 22) -> torch.Tensor:
    """``cross_entropy(h @ weight.T, labels)`` without keeping the logits: the same loss and gradients.

    ``h`` (N, D), ``weight`` (V, D), ``labels`` (N,) with ``IGNORE``. The logits are made in chunks
    of at most ``max_elements`` (16 MB of float32: a few chunks for plmkit's recipes, each still in
    the cache when its gradient is taken) and each chunk's gradient is taken at once (softmax minus
    one-hot, in place), so that neither the (N, V) logits nor their log-softmax nor their gradient
    outlive the forward pass: the zero-fill and the backward pass over (N, V) that NLL +
    log_softmax make go away, and so do their (N, V) buffers. The loss is the sum of the chunks'
    (float rounding apart, the same). With no label to predict the loss is 0 (not NaN).
    """
    return _LinearCrossEntropy.apply(h, weight, labels, max(1, max_elements // weight.shape[0]))


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward computes the mean loss and both gradients; backward only scales them."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, rows: int) -> torch.Tensor:
        count = (labels != IGNORE).sum().clamp(min=1).to(torch.float32)
        grad_h, grad_w = torch.empty_like(h), torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], rows):
            hc, target = h[start:start + rows], labels[start:start + rows]  # (c, D), (c,)
            scale = ((target != IGNORE).to(torch.float32) / count)[:, None]  # (c, 1): d(mean)/d(row loss); 0 if ignored
            index = target.clamp(min=0)[:, None]  # (c, 1): an ignored row picks class 0, scaled by 0
            p = torch.log_softmax((hc @ weight.t()).float(), dim=-1)  # (c, V) log-probabilities
            total -= (p.gather(1, index) * scale).sum()
            p.exp_().scatter_add_(1, index, -torch.ones_like(scale))  # softmax minus one-hot = d(row loss)/d(logits)
            # the per-row scale goes on the (c, D) side of each product, not over (c, V)
            grad_h[start:start + rows] = (p.to(h.dtype) @ weight) * scale.to(h.dtype)
            grad_w.addmm_(p.t(), (hc * scale.to(hc.dtype)).float())
        ctx.save_for_backward(grad_h, grad_w.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad, grad_w * grad, None, None


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
