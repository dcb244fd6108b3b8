"""What a recipe costs, from the recipe alone: parameters and an estimate of training memory.

The model is built on torch's ``meta`` device, so nothing is allocated and nothing trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Size:
    parameters: int  # trainable, tied tensors counted once
    by_part: dict[str, int]  # embedding / encoder / heads
    weights_bytes: int  # parameters + gradients + AdamW's two moments (fp32)
    activation_bytes: int  # rough: what backward keeps per micro-batch

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes


def estimate(recipe: Any) -> Size:
    import torch

    from ..models.build import build_model

    with torch.device("meta"):
        model = build_model(recipe)
    by_part = {
        "embedding": _count(model.embedding),
        "encoder": _count(model.encoder) + _count(model.final_norms),
        "heads": _count(model.heads, exclude=model.embedding),
    }
    parameters = model.num_parameters()
    return Size(parameters, by_part, parameters * 4 * 4, _activations(recipe))


def _count(module: Any, exclude: Any = None) -> int:
    skip = {id(p) for p in exclude.parameters()} if exclude is not None else set()
    return sum(p.numel() for p in module.parameters() if p.requires_grad and id(p) not in skip)


def _activations(recipe: Any) -> int:
    """Backward keeps roughly 16 tensors of (micro-batch, T, width) per layer, plus the logits."""
    m, t = recipe.model, recipe.train
    micro_batch = t.batch_size // t.grad_accum
    tokens = micro_batch * t.seq_len
    stacks = 2 if m.direction == "bilm" else 1
    per_layer = 16 * tokens * m.hidden * 4
    vocab = m.vocab_size or recipe.tokenizer.params.expected_vocab_size()
    logits = 3 * tokens * vocab * 4 * stacks  # logits, softmax and its gradient
    return stacks * m.layers * per_layer + logits


def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(n) < 1024 or prefix == "T":
            return f"{n:.1f} {prefix}{unit}" if prefix else f"{int(n)} {unit}"
        n /= 1024
    return f"{n} {unit}"


def summarize(recipe: Any) -> str:
    """Lines for ``plmkit show`` and ``plmkit run --dry-run``."""
    size = estimate(recipe)
    parts = ", ".join(f"{name} {count:,}" for name, count in size.by_part.items())
    return "\n".join(
        [
            f"# parameters: {size.parameters:,} ({parts})",
            f"# training memory (estimate): {_human(size.total_bytes)} = weights, gradients and AdamW state "
            f"{_human(size.weights_bytes)} + activations {_human(size.activation_bytes)} "
            f"(micro-batch {recipe.train.batch_size // recipe.train.grad_accum} x {recipe.train.seq_len} tokens)",
        ]
    )
