"""Where a model trains and in what precision: ``auto``, ``cpu``, ``cuda`` and ``mps``.

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


def register(register):
    register("device", "auto", AutoParams, build_auto)
    register("device", "cpu", CpuParams, build_cpu)
    register("device", "cuda", CudaParams, build_cuda)
    register("device", "mps", MpsParams, build_mps)
