"""Where a model trains and in what precision: ``auto``, ``cpu``, ``cuda`` and ``mps`` (one
process), ``ddp`` and ``fsdp`` (N processes on torch.distributed; see docs/distributed.md).

Each builds a ``plmkit.training.device.Placement`` (torch device, autocast dtype, grad scaler).
Precision ``fp32`` runs plain float32; ``bf16`` and ``fp16`` run the forward pass under
``torch.autocast`` with float32 master weights; ``fp16`` also scales the loss (GradScaler) and
exists only on CUDA. ``compile: true`` (opt-in) runs the model through ``torch.compile``: faster
steps once the first step has compiled it (seconds to minutes; on the CPU it needs a C++
compiler); the weights, checkpoints and numbers stay those of the uncompiled model. No torch at
import time: ``plmkit validate`` stays fast.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ...registry import Params

PRECISION_DESCRIPTION = "fp32, or mixed precision bf16 | fp16 (fp16 only on cuda)"
COMPILE_DESCRIPTION = ("torch.compile the model: faster steps after a first step that compiles (seconds to "
                       "minutes; the CPU needs a C++ compiler)")


class _DeviceParams(Params):
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description=PRECISION_DESCRIPTION)
    compile: bool = Field(False, description=COMPILE_DESCRIPTION)

    def check(self, recipe, key):
        if self.precision == "fp16" and _NAME.get(type(self)) in ("cpu", "mps"):
            return [(f"{key}.precision", f"fp16 needs a cuda device, not {_NAME[type(self)]}; use bf16 or fp32")]
        return []


class AutoParams(_DeviceParams):
    """The best device this machine has: cuda if available, else mps, else cpu."""


class CpuParams(_DeviceParams):
    """The CPU (bf16 runs under CPU autocast; fp16 is not available)."""


class CudaParams(_DeviceParams):
    """An NVIDIA GPU; fails with a one-line error on a machine without CUDA."""

    index: Optional[int] = Field(None, ge=0, description="which GPU (default: the current one)")


class MpsParams(_DeviceParams):
    """Apple-silicon GPU (Metal); fp16 is not available."""


class DistributedParams(_DeviceParams):
    """Base of the devices that train on N processes (torchrun; nccl on CUDA, gloo on the CPU)."""

    accelerator: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="what each process trains on: auto (its GPU cuda:LOCAL_RANK if CUDA is usable, else "
                            "the CPU), cpu or cuda")
    processes: int = Field(1, ge=1, le=1024, description="processes plmkit run starts on this machine through "
                                                         "torchrun (ignored when torchrun started plmkit)")
    timeout_minutes: float = Field(30.0, gt=0, le=24 * 60, description="how long a process waits for the others "
                                                                       "at a collective before the run fails")

    def check(self, recipe, key):
        problems = []
        if self.precision == "fp16" and self.accelerator == "cpu":
            problems.append((f"{key}.precision", "fp16 needs cuda, not the cpu; use bf16 or fp32"))
        micro = recipe.train.batch_size // max(recipe.train.grad_accum, 1)
        if self.processes > 1 and micro % self.processes:
            problems.append((f"{key}.processes", f"{self.processes} processes cannot share micro-batches of {micro} "
                                                 f"sequences (train.batch_size / train.grad_accum); make it a "
                                                 f"multiple of {self.processes}"))
        return problems


class DdpParams(DistributedParams):
    """DistributedDataParallel: every process holds the whole model and trains on its share of each batch."""


class FsdpParams(DistributedParams):
    """Fully sharded data parallel (FSDP2 ``fully_shard``): parameters, gradients and optimizer state are
    split over the processes."""


_NAME = {AutoParams: "auto", CpuParams: "cpu", CudaParams: "cuda", MpsParams: "mps"}


def build_auto(params: AutoParams, ctx=None):
    from ...training.device import detect_device, make_placement

    return make_placement(detect_device(), params.precision, params.compile)


def build_cpu(params: CpuParams, ctx=None):
    from ...training.device import make_placement

    return make_placement("cpu", params.precision, params.compile)


def build_cuda(params: CudaParams, ctx=None):
    from ...training.device import make_placement

    return make_placement("cuda" if params.index is None else f"cuda:{params.index}", params.precision, params.compile)


def build_mps(params: MpsParams, ctx=None):
    from ...training.device import make_placement

    return make_placement("mps", params.precision, params.compile)


def build_ddp(params: DdpParams, ctx=None):
    from ...training.device import make_distributed_placement

    return make_distributed_placement("ddp", params.accelerator, params.precision, params.timeout_minutes,
                                      params.compile)


def build_fsdp(params: FsdpParams, ctx=None):
    from ...training.device import make_distributed_placement

    return make_distributed_placement("fsdp", params.accelerator, params.precision, params.timeout_minutes,
                                      params.compile)


def register(register):
    register("device", "auto", AutoParams, build_auto)
    register("device", "cpu", CpuParams, build_cpu)
    register("device", "cuda", CudaParams, build_cuda)
    register("device", "mps", MpsParams, build_mps)
    register("device", "ddp", DdpParams, build_ddp)
    register("device", "fsdp", FsdpParams, build_fsdp)
