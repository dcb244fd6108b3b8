"""Linear probes on frozen features, and the majority-class baseline.

A probe is multinomial logistic regression on standardised features (mean and deviation of the
training rows), trained full-batch with Adam from zero (learning rate ``LR``, at most ``STEPS``
steps) and stopped early on the dev split: its dev accuracy is checked every ``CHECK`` steps and
the best checkpoint is kept (the first, on ties), then scored on test. Nothing is random, so a
probe is deterministic. Two kinds:

* per layer: one probe on each layer's features (the layer x task heat map);
* scalar mix: ELMo's task-specific mix ``gamma * sum_j softmax(s)_j * h_j`` of all the
  (standardised) layers, learned together with the linear classifier. ``init`` starts the mix
  from a model's own scalar-mix weights (ELMo's mix head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["STEPS", "LR", "CHECK", "Rows", "probe_layers", "probe_mix", "majority", "accuracy", "describe"]

STEPS, LR, CHECK = 100, 0.05, 5


def describe() -> dict[str, Any]:
    return {"classifier": "multinomial logistic regression on standardised features", "optimizer": "Adam, full batch",
            "lr": LR, "max_steps": STEPS, "early_stopping": f"dev accuracy every {CHECK} steps, best kept",
            "mix": "softmax-weighted sum of all layers times gamma, learned with the classifier"}


@dataclass
class Rows:
    """Feature rows of a task: labels, and which rows are train / dev / test."""

    labels: torch.Tensor  # (N,) long
    train: torch.Tensor  # row indices
    dev: torch.Tensor
    test: torch.Tensor
    classes: int

    @classmethod
    def of(cls, examples: Any) -> "Rows":
        """One row per example, or per word for word-level labels (in example order)."""
        labels, split = [], []
        for label, part in zip(examples.labels, examples.split):
            values = label if isinstance(label, list) else [label]
            labels.extend(values)
            split.extend([part] * len(values))
        index = {s: torch.tensor([i for i, p in enumerate(split) if p == s], dtype=torch.long) for s in ("train", "dev", "test")}
        return cls(torch.tensor(labels, dtype=torch.long), index["train"], index["dev"], index["test"], len(examples.names))

    def example_rows(self, examples: Any, chosen: list[int]) -> torch.Tensor:
        """The row indices of some examples."""
        starts, at = [], 0
        for label in examples.labels:
            starts.append(at)
            at += len(label) if isinstance(label, list) else 1
        rows = [starts[i] + k for i in chosen for k in range(len(examples.labels[i]) if isinstance(examples.labels[i], list) else 1)]
        return torch.tensor(rows, dtype=torch.long)


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predicted == labels).float().mean()) if len(labels) else float("nan")


def _standardise(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(..., N, D) features scaled by the mean and deviation of ``rows`` (per feature)."""
    mean = x[..., rows, :].mean(dim=-2, keepdim=True)
    std = x[..., rows, :].std(dim=-2, keepdim=True).clamp_min(1e-6)
    return (x - mean) / std


class _Linear(torch.nn.Module):
    """Logistic regression, optionally over a learned scalar mix of L layers."""

    def __init__(self, dim: int, classes: int, layers: int = 0, init: list[float] | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(dim, classes))
        self.bias = torch.nn.Parameter(torch.zeros(classes))
        self.mix = None
        if layers:
            start = torch.tensor(init, dtype=torch.float32) if init is not None else torch.zeros(layers)
            self.mix = torch.nn.Parameter(start)
            self.gamma = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mix is not None:  # x (L, n, D) -> (n, D)
            x = self.gamma * torch.einsum("l,lnd->nd", torch.softmax(self.mix, 0), x)
        return x @ self.weight + self.bias  # (n, C)


def _train(x: torch.Tensor, rows: Rows, layers: int = 0, init=None) -> tuple[_Linear, int]:
    """Adam on the training rows; the parameters at the best dev accuracy (no dev: the last)."""
    take = (lambda idx: x[:, idx]) if layers else (lambda idx: x[idx])
    x_train, y_train, x_dev, y_dev = take(rows.train), rows.labels[rows.train], take(rows.dev), rows.labels[rows.dev]
    model = _Linear(x.shape[-1], rows.classes, layers, init)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    best, best_state, best_step = -1.0, None, 0
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        F.cross_entropy(model(x_train), y_train).backward()
        optimizer.step()
        if step % CHECK == 0 or step == STEPS:
            with torch.no_grad():
                score = accuracy(model(x_dev).argmax(-1), y_dev) if len(y_dev) else float(step)
            if score > best:
                best, best_step = score, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, best_step


def probe_layers(features: torch.Tensor, rows: Rows) -> list[dict[str, Any]]:
    """A probe per layer of (L, N, D) features: test accuracy, predictions on test rows, steps kept."""
    fit_rows = torch.cat([rows.train, rows.dev])
    out = []
    for layer in range(features.shape[0]):
        x = _standardise(features[layer], fit_rows)
        model, steps = _train(x, rows)
        with torch.no_grad():
            predicted = model(x[rows.test]).argmax(-1)
        out.append({"accuracy": accuracy(predicted, rows.labels[rows.test]), "predicted": predicted, "steps": steps})
    return out


def probe_mix(features: torch.Tensor, rows: Rows, init: list[float] | None = None) -> dict[str, Any]:
    """One probe on a learned scalar mix of every layer: accuracy, test predictions, the mix weights."""
    fit_rows = torch.cat([rows.train, rows.dev])
    x = _standardise(features, fit_rows)  # (L, N, D)
    model, steps = _train(x, rows, layers=features.shape[0], init=init)
    with torch.no_grad():
        predicted = model(x[:, rows.test]).argmax(-1)
        weights = torch.softmax(model.mix, 0).tolist()
    return {"accuracy": accuracy(predicted, rows.labels[rows.test]), "predicted": predicted, "steps": steps,
            "mix_weights": weights, "gamma": float(model.gamma.detach())}


def majority(rows: Rows) -> dict[str, Any]:
    """Always the most frequent label of train + dev."""
    fit_rows = torch.cat([rows.train, rows.dev])
    label = int(torch.bincount(rows.labels[fit_rows], minlength=rows.classes).argmax())
    predicted = torch.full((len(rows.test),), label, dtype=torch.long)
    return {"accuracy": accuracy(predicted, rows.labels[rows.test]), "predicted": predicted, "label": label}
