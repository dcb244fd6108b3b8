"""What every benchmark section shares: the machine and its load, the matmul peak, interleaved
timing with paired ratios, a tensor high-water meter and torch.profiler's top ops.

Method (kept from the first benchmark): the same weights on every side, the same computation
asserted before timing, contenders interleaved round by round in rotating order so that a busy
phase of a shared machine falls on all of them alike, and ratios taken within each round.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[2]
SEED = 0
TOLERANCE = 1e-4  # |loss difference| allowed between contenders computing the same thing
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


# -- the machine --------------------------------------------------------------------------------
def load() -> float:
    """The 1-minute load average (runnable processes; above the CPU count means waiting)."""
    return round(os.getloadavg()[0], 2)


def cpu_flags() -> dict[str, bool]:
    flags = set()
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {name: name in flags for name in CPU_FLAGS}


def machine(threads: int) -> dict[str, Any]:
    import transformers

    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "logical_cpus": os.cpu_count(), "cpu_flags": cpu_flags(), "torch_threads": threads,
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "plmkit_commit": (commit or "?") + ("+dirty" if dirty else ""),
        "load_start": load(),
    }


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 2048, repeats: int = 10,
                budget_s: float = 4.0) -> dict[str, float]:
    """The best GFLOP/s of an n x n matmul (2 n^3 FLOPs) at the current thread count.

    A dtype the CPU has no instructions for (bf16 without AVX512-BF16/AMX) can be 100x slower:
    for any dtype but fp32, n is lowered (a power of two) so that one matmul is expected to take
    under ``budget_s``.
    """
    probe = min(n, 256) if dtype != torch.float32 else n
    small = torch.randn(probe, probe).to(dtype)
    seconds = float("inf")
    for _ in range(3):  # the first call also wakes the BLAS library up
        start = time.perf_counter()
        torch.mm(small, small)
        seconds = min(seconds, time.perf_counter() - start)
    while n > probe and seconds * (n / probe) ** 3 > budget_s:
        n //= 2
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    flops = 2 * n**3
    return {"n": n, "best_gflops": flops / min(times) / 1e9, "median_gflops": flops / statistics.median(times) / 1e9}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# -- timing ---------------------------------------------------------------------------------------
@dataclass
class Contender:
    """One side of a comparison: ``run()`` does one timed unit of work (a step, a generation)."""

    name: str
    run: Callable[[], Any]
    info: dict[str, Any] = field(default_factory=dict)


def interleaved(contenders: list[Contender], warmup: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each contender; each round calls every contender once, in rotating order."""
    for _ in range(warmup):
        for c in contenders:
            c.run()
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    n = len(contenders)
    for i in range(rounds):
        for c in contenders[i % n:] + contenders[: i % n]:
            start = time.perf_counter()
            c.run()
            times[c.name].append(time.perf_counter() - start)
    return times


def ratios(times: dict[str, list[float]], baseline: str) -> dict[str, dict[str, float]]:
    """Per contender: median and minimum seconds, and its time over the baseline's three ways
    (median of the per-round ratios, ratio of the medians, ratio of the minima); < 1 is faster."""
    base = times[baseline]
    out = {}
    for name, t in times.items():
        out[name] = {
            "median_s": statistics.median(t), "min_s": min(t),
            "ratio_paired": statistics.median(a / b for a, b in zip(t, base)),
            "ratio_of_medians": statistics.median(t) / statistics.median(base),
            "ratio_of_mins": min(t) / min(base),
            "times_ms": [round(1e3 * x, 3) for x in t],
        }
    return out


# -- memory ---------------------------------------------------------------------------------------
class TensorHighWater(torch.utils._python_dispatch.TorchDispatchMode):
    """The most bytes held at once by tensors created while it is active (forward, backward and
    optimiser alike; each storage counted once, freed when torch frees it)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._count(t.untyped_storage())
        return out

    def _count(self, storage: Any) -> None:
        key, size = storage.data_ptr(), storage.nbytes()
        if size == 0 or key in self._seen:
            return
        self._seen.add(key)
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key, size)

    def _free(self, key: int, size: int) -> None:
        self._seen.discard(key)
        self.live -= size


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- profiles ---------------------------------------------------------------------------------------
def top_ops(fn: Callable[[], Any], rows: int = 8) -> list[dict[str, Any]]:
    """torch.profiler's ops with the most self CPU time in one call of ``fn`` (after one untimed call)."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:rows]
    return [{"op": e.key, "shapes": str(e.input_shapes)[:90], "calls": e.count,
             "self_ms": round(e.self_cpu_time_total / 1e3, 2), "share": round(e.self_cpu_time_total / total, 3)}
            for e in ranked]
