"""One cell of a comparison: a model (or a baseline) on one task under one protocol.

* ``probe``: features of every layer (``features.extract``), a probe per layer and one on a
  learned scalar mix (``probes``); the mix probe's test accuracy is the cell, the per-layer ones
  fill the heat map.
* ``finetune``: ``finetune.finetune``; the dev-chosen learning rate's test accuracy.
* ``direct``: the task's own ``measure(run, corpus, seed)``.
* baselines: the majority class and a bag of random word vectors under the same probe (probe
  tasks), and the task's own ``baselines`` (direct tasks: a unigram model, the generator).

Every result is a plain dict with ``value`` (None when the cell does not apply, with ``reason``)
and the numbers behind it; ``groups`` holds the accuracy on named subsets of the test examples.
"""

from __future__ import annotations

from typing import Any

import torch

from .features import extract, random_features
from .finetune import FinetuneSettings, finetune
from .probes import Rows, majority, probe_layers, probe_mix

__all__ = ["probe_cell", "finetune_cell", "direct_cell", "majority_cell", "random_cell", "RANDOM_DIM"]

RANDOM_DIM = 256  # width of the random word vectors of the baseline


def _groups(predicted: torch.Tensor, rows: Rows, examples: Any) -> dict[str, dict[str, float]]:
    """Accuracy on each named group of examples, over the group's test rows."""
    where = {int(r): k for k, r in enumerate(rows.test)}
    out = {}
    for name, chosen in examples.groups.items():
        positions = [where[int(r)] for r in rows.example_rows(examples, chosen) if int(r) in where]
        if positions:
            index = torch.tensor(positions)
            hits = (predicted[index] == rows.labels[rows.test][index]).float()
            out[name] = {"accuracy": float(hits.mean()), "rows": len(positions)}
    return out


def _mix_init(run: Any, layers: int) -> list[float] | None:
    """A model's own scalar-mix weights (ELMo's mix head), to start the probe's mix from."""
    for name, spec in run.recipe.model.head.items():
        if spec is not None and spec.params.representation:
            weights = getattr(run.model.heads[name], "weights", None)
            if weights is not None and weights.numel() == layers:
                return [float(w) for w in weights.detach().cpu()]
    return None


def probe_cell(run: Any, examples: Any, read: str) -> dict[str, Any]:
    features = extract(run, examples.texts, read)  # (L, N, D)
    rows = Rows.of(examples)
    layers = probe_layers(features, rows)
    init = _mix_init(run, features.shape[0])
    mix = probe_mix(features, rows, init)
    return {"value": mix["accuracy"], "layers": [layer["accuracy"] for layer in layers],
            "mix_weights": mix["mix_weights"], "mix_init": "the model's scalar-mix head" if init else "equal",
            "groups": _groups(mix["predicted"], rows, examples), "test_rows": len(rows.test),
            "train_rows": len(rows.train), "dev_rows": len(rows.dev)}


def finetune_cell(run_dir: Any, examples: Any, read: str, settings: FinetuneSettings, seed: int,
                  device: str) -> dict[str, Any]:
    result = finetune(run_dir, examples, read, settings, seed, device)
    rows = Rows.of(examples)
    return {"value": result["accuracy"], "lr": result["lr"], "by_lr": result["by_lr"],
            "groups": _groups(result["predicted"], rows, examples), "test_rows": len(rows.test)}


def direct_cell(task: Any, params: Any, run: Any, corpus: Any, seed: int) -> dict[str, Any]:
    direction = run.recipe.model.direction
    if direction not in params.directions:
        return {"value": None, "reason": f"applies to {', '.join(params.directions)} models, not {direction}"}
    return task.measure(run, corpus, seed)


def majority_cell(examples: Any) -> dict[str, Any]:
    rows = Rows.of(examples)
    result = majority(rows)
    return {"value": result["accuracy"], "label_name": examples.names[result["label"]],
            "groups": _groups(result["predicted"], rows, examples), "test_rows": len(rows.test)}


def random_cell(examples: Any, read: str, seed: int) -> dict[str, Any]:
    rows = Rows.of(examples)
    features = random_features(examples.texts, read, RANDOM_DIM, seed)  # (1, N, RANDOM_DIM)
    layer = probe_layers(features, rows)[0]
    return {"value": layer["accuracy"], "groups": _groups(layer["predicted"], rows, examples),
            "test_rows": len(rows.test), "dim": RANDOM_DIM}
