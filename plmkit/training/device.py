"""The torch side of the device components: a ``Placement`` says where, in what precision and
whether compiled to run."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from ..errors import EnvironmentProblem
from .distributed import Group

__all__ = ["Placement", "detect_device", "make_placement", "make_distributed_placement"]

_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Placement:
    """A torch device, the autocast dtype (None: plain fp32), the gradient scaler, and whether the
    model is compiled.

    Weights and optimizer state always stay float32; only the forward pass runs under autocast.
    The scaler is enabled for fp16 only (bf16 has fp32's exponent range and needs no scaling).
    """

    device: torch.device
    dtype: torch.dtype | None = None
    precision: str = "fp32"
    scaler: Any = field(default=None)
    compile: bool = False
    group: Group = field(default_factory=Group)  # this process's place in a run of N processes

    def __post_init__(self) -> None:
        if self.scaler is None:
            enabled = self.precision == "fp16"
            self.scaler = torch.amp.GradScaler(self.device.type, enabled=enabled)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Run the enclosed forward pass in this placement's mixed precision (no-op for fp32)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model on this device, compiled in place when asked (``nn.Module.compile``: the
        same object and state-dict names, so checkpoints are those of the plain model)."""
        model = model.to(self.device)
        if self.compile:
            model.compile()
        return model

    def to(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Move a batch of tensors to this device."""
        return {k: (v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}

    def describe(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        distributed = f", {self.group.describe()}" if self.group.active else ""
        return f"{name}, {self.precision}" + (", compiled" if self.compile else "") + distributed


def detect_device() -> str:
    """``cuda`` if a GPU is usable, else ``mps`` on Apple silicon, else ``cpu``."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def make_placement(device: str, precision: str, compile: bool = False) -> Placement:
    """A Placement for ``device`` ("cpu", "cuda", "cuda:1", "mps"), checking the machine has it."""
    dev = torch.device(device)
    _check_available(dev)
    if precision == "fp16" and dev.type != "cuda":
        raise EnvironmentProblem(f"device: precision fp16 needs a cuda device, this run got {dev.type}; use bf16 or fp32")
    return Placement(device=dev, dtype=_AUTOCAST_DTYPES[precision], precision=precision, compile=compile)


def _check_available(dev: torch.device) -> None:
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentProblem("device: cuda asked for, but this machine has no usable CUDA GPU (torch "
                                     f"{torch.__version__}); use device.type=auto or cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise EnvironmentProblem(f"device.index: cuda:{dev.index} does not exist; this machine has {count} GPU(s)")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise EnvironmentProblem("device: mps asked for, but this machine has no Metal GPU; use device.type=auto or cpu")


def make_distributed_placement(strategy: str, accelerator: str, precision: str, timeout_minutes: float,
                               compile: bool = False) -> Placement:
    """A Placement for one process of a ddp/fsdp run: joins the process group torchrun describes
    (a single process without torchrun) and takes the process's GPU (cuda:LOCAL_RANK) or the CPU."""
    from .distributed import join

    kind = accelerator
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"  # no distributed backend on mps
    if kind == "cuda":
        _check_available(torch.device("cuda"))
    group = join(strategy, kind, timeout_minutes)
    placement = make_placement(f"cuda:{group.local_rank}" if kind == "cuda" else "cpu", precision, compile)
    placement.group = group
    return placement
