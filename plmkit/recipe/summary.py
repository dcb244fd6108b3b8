"""What a recipe costs, from the recipe alone: parameters and an estimate of training memory,
and whether that fits in the memory this machine has.

The model is built on torch's ``meta`` device, so nothing is allocated and nothing trained. A
stack of more than ``EXACT_LAYERS`` layers is counted from two smaller builds (8 and 16 layers)
and extrapolated, which is exact when every layer has the same parameters (built-in stacks do),
so that even an absurd ``model.layers`` is counted in a second. A model too large for torch to
describe (more elements than a 64-bit size holds) is a ``RecipeError``; one that does not fit in
the memory available (RAM, within any cgroup or address-space limit; a GPU's free memory) is an
``EnvironmentProblem``, raised before anything is allocated. ``PLMKIT_SKIP_MEMORY_CHECK=1``
skips that comparison (when swap or unified memory makes it too strict).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnvironmentProblem, RecipeError

__all__ = ["Size", "estimate", "summarize", "available_memory", "check_memory", "EXACT_LAYERS"]

#: Stacks up to this many layers are built in full on the meta device; deeper ones are extrapolated.
EXACT_LAYERS = 64
SKIP_VARIABLE = "PLMKIT_SKIP_MEMORY_CHECK"


@dataclass
class Size:
    parameters: int  # trainable, tied tensors counted once
    by_part: dict[str, int]  # embedding / encoder / heads
    weights_bytes: int  # parameters + gradients + AdamW's two moments (fp32)
    activation_bytes: int  # rough: what backward keeps per micro-batch
    extrapolated: bool = False  # counted from smaller builds (more than EXACT_LAYERS layers)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes


def estimate(recipe: Any) -> Size:
    """Parameters and training memory of ``recipe``; ``RecipeError`` if torch cannot describe it."""
    layers = recipe.model.layers
    if layers <= EXACT_LAYERS:
        by_part = _count_parts(recipe)
        extrapolated = False
    else:  # parameters grow linearly with the layers: count 8 and 16, extend the line
        small, large = _count_parts(_with_layers(recipe, 8)), _count_parts(_with_layers(recipe, 16))
        by_part = {part: small[part] + (large[part] - small[part]) * (layers - 8) // 8 for part in small}
        extrapolated = True
    parameters = by_part.pop("total")
    return Size(parameters, by_part, parameters * 4 * 4, _activations(recipe), extrapolated)


def _with_layers(recipe: Any, layers: int) -> Any:
    return recipe.model_copy(update={"model": recipe.model.model_copy(update={"layers": layers})})


def _count_parts(recipe: Any) -> dict[str, int]:
    import torch

    from ..models.build import build_model

    try:
        with torch.device("meta"):
            model = build_model(recipe)
    except (RuntimeError, OverflowError, ValueError) as exc:  # sizes past int64: torch cannot even describe them
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise RecipeError(f"model: too large to build on any machine ({reason}); lower model.hidden, "
                          f"model.layers, model.max_positions or the vocabulary size") from None
    return {
        "embedding": _count(model.embedding),
        "encoder": _count(model.encoder) + _count(model.final_norms),
        "heads": _count(model.heads, exclude=model.embedding),
        "total": model.num_parameters(),
    }


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


# -- the machine ------------------------------------------------------------------------------------
def available_memory(device: Any) -> int | None:
    """Bytes a run may still allocate on ``device`` (a torch.device), or None if unknown.

    cuda: the GPU's free memory. cpu: the smallest of MemAvailable (/proc/meminfo, else
    ``os.sysconf``), the cgroup's limit minus its usage, and the address-space limit minus what
    this process already maps. mps: unknown (unified memory).
    """
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    candidates = [_meminfo_available(), _cgroup_available(), _address_space_available()]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:  # no limit
                return None
            return max(int(limit) - int(Path(usage_file).read_text().strip()), 0)
        except (OSError, ValueError):
            continue
    return None


def _address_space_available() -> int | None:
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(limit - int(line.split()[1]) * 1024, 0)
    except (OSError, ValueError, IndexError):
        pass
    return limit


def memory_problem(size: Size, device: Any, recipe: Any) -> str | None:
    """One line if training ``recipe`` (of ``size``) cannot fit on ``device``, else None."""
    if os.environ.get(SKIP_VARIABLE, "") not in ("", "0"):
        return None
    available = available_memory(device)
    if available is None or size.total_bytes <= available:
        return None
    t = recipe.train
    return (f"model: training needs about {_human(size.total_bytes)} (weights, gradients and AdamW state "
            f"{_human(size.weights_bytes)} + activations {_human(size.activation_bytes)} for a micro-batch of "
            f"{t.batch_size // t.grad_accum} x {t.seq_len} tokens), but {device} has {_human(available)} available; "
            f"lower model.hidden, model.layers or train.batch_size, raise train.grad_accum, or set "
            f"{SKIP_VARIABLE}=1 to try anyway")


def check_memory(recipe: Any, device: Any) -> Size:
    """The recipe's size; ``EnvironmentProblem`` (one line) if it cannot train on ``device``."""
    size = estimate(recipe)
    problem = memory_problem(size, device, recipe)
    if problem:
        raise EnvironmentProblem(problem)
    return size


# -- words ------------------------------------------------------------------------------------------
def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T", "P"):
        if abs(n) < 1024 or prefix == "P":
            return f"{n:.1f} {prefix}{unit}" if prefix else f"{int(n)} {unit}"
        n /= 1024
    return f"{n} {unit}"


def summarize(recipe: Any) -> str:
    """Lines for ``plmkit show`` and ``plmkit run --dry-run``."""
    size = estimate(recipe)
    parts = ", ".join(f"{name} {count:,}" for name, count in size.by_part.items())
    counted = " (extrapolated from 8 and 16 layers)" if size.extrapolated else ""
    return "\n".join([
        f"# parameters: {size.parameters:,}{counted} ({parts})",
        f"# training memory (estimate): {_human(size.total_bytes)} = weights, gradients and AdamW state "
        f"{_human(size.weights_bytes)} + activations {_human(size.activation_bytes)} "
        f"(micro-batch {recipe.train.batch_size // recipe.train.grad_accum} x {recipe.train.seq_len} tokens)",
    ])
