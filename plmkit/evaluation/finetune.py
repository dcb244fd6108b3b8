"""Fine-tuning (BERT's protocol): the whole model plus a linear classifier, the same few steps and the
same small learning-rate sweep for every model.

For each learning rate in ``lrs`` the model is loaded afresh from its run folder, a linear layer
reads its top layer where the task says (``features.gather``), and everything is trained with
AdamW (weight decay 0.01, warm-up over the first tenth of the steps, then linear decay to 0,
gradient norm clipped at 1) on batches of training examples drawn with a seeded generator;
dropout is on, as in pretraining. The learning rate with the best dev accuracy is chosen and its
test accuracy reported; every rate's dev and test numbers are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .features import encode_for, gather
from .probes import accuracy

__all__ = ["FinetuneSettings", "finetune"]


@dataclass(frozen=True)
class FinetuneSettings:
    steps: int = 100
    lrs: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    batch_size: int = 32

    def describe(self) -> dict[str, Any]:
        return {"steps": self.steps, "lrs": list(self.lrs), "batch_size": self.batch_size, "optimizer": "AdamW",
                "weight_decay": 0.01, "warmup": "first 10% of the steps, then linear decay to 0", "grad_clip": 1.0,
                "selection": "the learning rate with the best dev accuracy"}


def _labels(examples: Any, chosen: list[int]) -> torch.Tensor:
    return torch.tensor(examples.flat_labels(chosen), dtype=torch.long)


def _forward(run: Any, head: torch.nn.Module, examples: Any, chosen: list[int], read: str, device) -> torch.Tensor:
    reading = encode_for(run, [examples.texts[i] for i in chosen], read)
    run.model.reset_states()
    out = run.model(**{k: v.to(device) for k, v in reading.batch.items()}, output_hidden_states=True)
    return head(gather(out.hidden_states[-1].float(), reading))  # (rows, C)


@torch.no_grad()
def _score(run: Any, head: torch.nn.Module, examples: Any, chosen: list[int], read: str, device) -> torch.Tensor:
    run.model.eval()
    predicted = [_forward(run, head, examples, chosen[b: b + 64], read, device).argmax(-1).cpu()
                 for b in range(0, len(chosen), 64)]
    return torch.cat(predicted) if predicted else torch.zeros(0, dtype=torch.long)


def _schedule(step: int, steps: int) -> float:
    warmup = max(1, steps // 10)
    return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))


def _train_one(run: Any, examples: Any, read: str, settings: FinetuneSettings, lr: float, seed: int, device) -> torch.nn.Module:
    torch.manual_seed(seed)
    train = examples.indices("train")
    width = run.model(**{k: v.to(device) for k, v in encode_for(run, [examples.texts[train[0]]], read).batch.items()},
                      output_hidden_states=True).hidden_states[-1].shape[-1]
    head = torch.nn.Linear(width, len(examples.names)).to(device)
    params = list(run.model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    run.model.train()
    for step in range(settings.steps):
        if len(order) < settings.batch_size:
            order += [train[i] for i in torch.randperm(len(train), generator=generator).tolist()]
        chosen, order = order[: settings.batch_size], order[settings.batch_size:]
        for group in optimizer.param_groups:
            group["lr"] = lr * _schedule(step, settings.steps)
        loss = F.cross_entropy(_forward(run, head, examples, chosen, read, device), _labels(examples, chosen).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    return head


def finetune(run_path: Any, examples: Any, read: str, settings: FinetuneSettings, seed: int,
             device: str = "cpu") -> dict[str, Any]:
    """Fine-tune ``run_path``'s model on ``examples`` at each learning rate; the dev-chosen one's test numbers."""
    from ..runs import load_run

    dev, test = examples.indices("dev"), examples.indices("test")
    by_lr = {}
    for lr in settings.lrs:
        run = load_run(run_path, device=device)  # the pretrained weights, afresh for every rate
        head = _train_one(run, examples, read, settings, lr, seed, device)
        dev_acc = accuracy(_score(run, head, examples, dev, read, device), _labels(examples, dev)) if dev else float("nan")
        predicted = _score(run, head, examples, test, read, device)
        by_lr[lr] = {"dev": dev_acc, "test": accuracy(predicted, _labels(examples, test)), "predicted": predicted}
    best = max(settings.lrs, key=lambda lr: (by_lr[lr]["dev"] if by_lr[lr]["dev"] == by_lr[lr]["dev"] else -1.0))
    return {"accuracy": by_lr[best]["test"], "lr": best, "predicted": by_lr[best]["predicted"],
            "by_lr": {str(lr): {"dev": r["dev"], "test": r["test"]} for lr, r in by_lr.items()}}
