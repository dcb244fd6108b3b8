"""AdamW with decoupled weight decay on 2-D weights only, and the learning-rate schedule.

Weight decay (Loshchilov & Hutter 2019) is applied GPT-style: to every weight matrix (linear
layers and embedding tables, dim >= 2) and not to biases, LayerNorm gains or scalar-mix weights
(dim < 2): decaying a gain towards 0 is not a useful prior.

The schedule is an explicit function of the step rather than a stateful LambdaLR, so a resumed
run needs nothing but the step number to continue on exactly the same curve.

The update runs torch's fused AdamW kernel wherever torch has one for the parameters' device (CPU
and CUDA): one pass over each tensor instead of a dozen elementwise ops (on the CPU 4x faster than
the default for-loop, 5% of a small GPT's training step); it matches the for-loop to float
rounding (~1e-7 after many steps, tests/training/test_fused_optim.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["parameter_groups", "make_optimizer", "fused_available", "learning_rate", "set_learning_rate"]


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: matrices that decay and everything else that does not.

    ``named_parameters`` yields a tied (shared) tensor once, so it is optimised once.
    """
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, train: Any) -> torch.optim.AdamW:
    """AdamW over ``model`` configured from ``recipe.train`` (lr is set per step by the loop)."""
    groups = parameter_groups(model, train.weight_decay)
    return torch.optim.AdamW(groups, lr=train.lr, betas=tuple(train.betas), eps=train.eps,
                             fused=fused_available(model) or None)


def fused_available(model: nn.Module) -> bool:
    """True when torch has a fused AdamW kernel for the model: floating parameters on one device
    of a type torch fuses for (cpu, cuda, ...)."""
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    params = [p for p in model.parameters() if p.requires_grad]
    devices = {p.device.type for p in params}
    return (len(devices) == 1 and devices <= set(_get_fused_kernels_supported_devices())
            and all(p.is_floating_point() for p in params))


def learning_rate(step: int, train: Any) -> float:
    """The learning rate for optimiser step ``step`` (0-based) of ``train.steps``.

    Warm-up rises linearly to ``lr`` over ``warmup_steps`` (step 0 already gets lr/warmup, so no
    step is wasted at lr 0); then the rate decays ``linear``-ly or by half a ``cosine`` towards
    ``lr * min_lr_ratio``, which it reaches at step ``train.steps`` (just after the last step, as
    in transformers' schedules), or stays at ``lr`` (``constant``).
    """
    peak, floor = train.lr, train.lr * train.min_lr_ratio
    if step < train.warmup_steps:
        return peak * (step + 1) / train.warmup_steps
    if train.schedule == "constant":
        return peak
    decay_steps = max(1, train.steps - train.warmup_steps)
    progress = min(1.0, (step - train.warmup_steps) / decay_steps)
    if train.schedule == "linear":
        return floor + (peak - floor) * (1.0 - progress)
    if train.schedule == "cosine":
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {train.schedule!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
