"""The cells of a comparison, computed once and kept in ``results/ROW/TASK.PROTOCOL.json``.

A cell's file holds its ``key``: a fingerprint of everything it depends on (the model's weights,
the task's type and parameters, the corpus, the protocol and its settings, the seed). A file whose
key matches is not computed again, so a rerun of a comparison does only what is missing or stale.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from .tasks import TaskSpec, build_task

__all__ = ["Cells", "row_name", "write_json"]


def row_name(label: str, seed: int) -> str:
    return f"{label}-seed{seed}"


class Cells:
    """Computes and caches the result files (``results/ROW/TASK.PROTOCOL.json``)."""

    def __init__(self, comparison: Any, corpus: Any):
        self.c, self.corpus = comparison, corpus
        self._examples: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}
        self.device = _device(comparison.settings.device)

    def examples(self, task: TaskSpec) -> Any:
        if task.name not in self._examples:
            self._examples[task.name] = build_task(task).examples(self.corpus)
        return self._examples[task.name]

    def _key(self, *parts: Any) -> str:
        corpus = [self.corpus.seed, self.corpus.holdout, len(self.corpus.documents)]
        text = json.dumps([corpus, *parts], sort_keys=True, default=str)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    def _cached(self, path: Path, key: str, compute: Callable[[], dict[str, Any]], extra: dict[str, Any]) -> bool:
        if path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("key") == key:
            return False
        result = compute()
        write_json(path, {"key": key, **extra, **_plain(result)})
        return True

    def _run(self, run_dir: Path) -> Any:
        from ..runs import load_run

        key = str(run_dir)
        if key not in self._loaded:
            self._loaded.clear()  # one model in memory at a time
            self._loaded[key] = load_run(run_dir, device=self.device)
        return self._loaded[key]

    def model(self, contender: Any, seed: int, task: TaskSpec, protocol: str) -> bool:
        from .measure import direct_cell, finetune_cell, probe_cell

        run_dir = contender.run_dir(self.c.out, seed)
        settings = self.c.settings.finetune_settings().describe() if protocol == "finetune" else None
        key = self._key(_weights_hash(run_dir), task.key(), protocol, settings, seed if protocol != "probe" else 0)
        path = self.c.out / "results" / row_name(contender.label, seed) / f"{task.name}.{protocol}.json"
        read = task.params.read

        def compute() -> dict[str, Any]:
            import torch

            torch.manual_seed(seed)
            if protocol == "direct":
                return direct_cell(build_task(task), task.params, self._run(run_dir), self.corpus, seed)
            if protocol == "probe":
                return probe_cell(self._run(run_dir), self.examples(task), read)
            return finetune_cell(run_dir, self.examples(task), read, self.c.settings.finetune_settings(), seed,
                                 self.device)

        extra = {"row": row_name(contender.label, seed), "label": contender.label, "seed": seed, "task": task.name,
                 "protocol": protocol}
        return self._cached(path, key, compute, extra)

    def baselines(self, seed: int, task: TaskSpec) -> bool:
        from .measure import majority_cell, random_cell

        did = False
        if task.params.measure == "direct":
            key = self._key(task.key(), "baselines", seed)
            path = self.c.out / "results" / f"baselines-seed{seed}" / f"{task.name}.direct.json"
            return self._cached(path, key, lambda: build_task(task).baselines(self.corpus, seed),
                                {"seed": seed, "task": task.name, "protocol": "direct"})
        for row, compute in (("majority", lambda: majority_cell(self.examples(task))),
                             ("random", lambda: random_cell(self.examples(task), task.params.read, seed))):
            key = self._key(task.key(), row, seed)
            path = self.c.out / "results" / f"{row}-seed{seed}" / f"{task.name}.probe.json"
            did |= self._cached(path, key, compute, {"row": row, "seed": seed, "task": task.name, "protocol": "probe"})
        return did


def _weights_hash(run_dir: Path) -> str:
    from ..training.rundir import find_trained

    _, path, _ = find_trained(run_dir)  # the trained-model layout is the run folder's to know
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _plain(value: Any) -> Any:
    """JSON-ready: tensors dropped (predictions stay in memory), floats kept, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if type(v).__name__ != "Tensor"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def write_json(path: Path, data: Any) -> None:
    from ..training.files import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)
