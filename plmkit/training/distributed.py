"""The processes of one run on ``torch.distributed``: who this process is, and what they share.

A run on N processes (``torchrun``, or ``plmkit run ... device.processes=N`` which starts
torchrun itself) trains exactly what one process trains with the same recipe:

* ``train.batch_size`` is the global batch. Every process reads the same global micro-batches
  from the same deterministic stream and keeps its own rows (``shard``): rank r takes rows
  ``r*b .. (r+1)*b - 1`` of each micro-batch of ``W*b`` rows. The union over ranks is the
  single-process micro-batch, and the stream position saved in a checkpoint is the same on any
  number of processes, so a run resumes exactly on M processes after N.
* Each head's loss is a mean over its targets (masked tokens, next tokens, sentences). A rank's
  losses are weighted by its share of every head's targets (``loss_weights``), so the gradient
  DDP averages is the gradient of the global mean, and the logged loss is the global mean.
* Only rank 0 writes: progress, metrics.jsonl, checkpoints, the run folder. Checkpoints are
  consolidated (the plain model's state dict), so any process count, 1 included, resumes them.
* A process that fails writes its one-line message where ``plmkit run`` (the launcher) reads it
  (``PLMKIT_RANK_ERRORS``); the other processes see their next collective fail (gloo: the dead
  peer's connections close; NCCL: torchrun ends them) and stop as ``PeerFailed``, silently.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import RunError

__all__ = ["Group", "PeerFailed", "join", "under_torchrun", "ERRORS_ENV", "NO_HOOKS", "record_failure"]

ERRORS_ENV = "PLMKIT_RANK_ERRORS"  # a folder: each failing rank writes rank-R.json there (set by the launcher)
_PEER_SIGNS = ("connection closed by peer", "connection reset by peer", "broken pipe", "connection refused",
               "socket closed", "nccl communicator was aborted", "process group watchdog")


class PeerFailed(RunError):
    """This process stopped because another process of the run failed (its message is the one to show)."""


@dataclass
class Group:
    """This process's place in the run: rank, world size, local rank and the strategy (ddp, fsdp).

    A single process is ``Group()``: every method is then a no-op that returns its input.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    strategy: str = "single"
    backend: str | None = None
    owns_process_group: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the process that prints and writes."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def describe(self) -> str:
        return f"{self.world} processes ({self.strategy}, {self.backend})" if self.active else "1 process"

    # -- data ---------------------------------------------------------------------------------------
    def per_rank(self, micro_batch: int, key: str = "train.batch_size") -> int:
        """Rows of a micro-batch each rank takes; RunError if the ranks cannot share it evenly."""
        if micro_batch % self.world:
            raise RunError(f"{key}: a micro-batch of {micro_batch} sequences does not split over {self.world} "
                           f"processes; make train.batch_size / train.grad_accum a multiple of {self.world}")
        return micro_batch // self.world

    def shard(self, batch: dict[str, Any]) -> dict[str, Any]:
        """This rank's rows of a global micro-batch: every tensor whose first dimension is the batch."""
        if not self.active:
            return batch
        rows = _rows(batch)
        b = self.per_rank(rows)
        lo, hi = self.rank * b, (self.rank + 1) * b
        return {k: (v[lo:hi] if torch.is_tensor(v) and v.dim() and v.shape[0] == rows else v) for k, v in batch.items()}

    # -- losses ---------------------------------------------------------------------------------------
    def loss_weights(self, out: Any, device: Any) -> dict[str, float] | None:
        """Each head's loss weight on this rank: W * (its targets here) / (its targets on all ranks).

        DDP averages the ranks' gradients; with these weights the average is the gradient of the
        global mean loss of the micro-batch, exactly what one process computes. A head that does
        not report ``loss_targets`` counts as equal shares. None on one process (the loss as it is).
        """
        if not self.active:
            return None
        names = list(out.losses)
        counts = [_targets(out.heads.get(name, {})) for name in names]
        totals = self.sum([1.0 if c is None else c for c in counts], device)
        return {name: (1.0 if c is None else (self.world * c / total if total else 0.0))
                for name, c, total in zip(names, counts, totals)}

    def global_losses(self, out: Any, weights: dict[str, float] | None) -> list[tuple[str, float]]:
        """(name, this rank's share of the global mean) for the total loss and each head's loss;
        summed over the ranks they are the losses one process logs."""
        if weights is None:
            return [("loss", out.loss.item()), *((f"loss_{k}", v.item()) for k, v in out.losses.items())]
        parts = [(f"loss_{k}", out.losses[k].item() * weights[k] / self.world) for k in out.losses]
        return [("loss", sum(v for _, v in parts)), *parts]

    # -- collectives (CPU tensors on gloo, the rank's GPU on nccl) -------------------------------------
    def sum(self, values: list[float], device: Any = "cpu") -> list[float]:
        """The element-wise sum of ``values`` over all ranks (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._device(device))
        with self.collective():
            torch.distributed.all_reduce(t)
        return t.tolist()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.active:
            return value
        box = [value]
        with self.collective():
            torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            with self.collective():
                torch.distributed.barrier()

    # -- the model ----------------------------------------------------------------------------------
    def wrap(self, model: torch.nn.Module, device: torch.device, lossless_heads: bool = False) -> Any:
        """The module the training steps call: DDP around ``model`` (ddp), or ``model`` itself.

        ``model`` stays the plain module: its state dict (the checkpoint), evaluation on rank 0
        and the model's own methods go through it; DDP shares its parameters.
        """
        if not self.active or self.sharded:
            return model  # FSDP: split_model made the model itself the distributed module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index if device.index is not None else self.local_rank] if device.type == "cuda" else None
        # buffers are deterministic (no running statistics): no broadcast at every forward
        import inspect

        quiet = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        sync = {"forward_sync_buffers": False} if quiet else {"broadcast_buffers": False}
        # a head without a loss (ELMo's scalar mix) has parameters no step reaches: DDP must look for them
        ddp = DistributedDataParallel(_LossesFirst(model), device_ids=ids, find_unused_parameters=lossless_heads,
                                      **sync)
        return _Replica(ddp)

    def no_sync(self, wrapped: Any, last: bool) -> Any:
        """Skip the gradient all-reduce on every micro-batch of a step but the last."""
        if self.active and self.sharded:
            wrapped.set_requires_gradient_sync(last)
        elif self.active and not last:
            return wrapped.no_sync()
        return contextlib.nullcontext()

    # -- FSDP: a sharded model, consolidated for checkpoints ----------------------------------------
    @property
    def sharded(self) -> bool:
        return self.strategy == "fsdp" and self.active

    def split_model(self, model: torch.nn.Module, optimizer: Any, make_optimizer: Any) -> tuple[Any, Any]:
        """FSDP2: every block of the encoder a unit, then the root; a new optimizer over
        the shards, holding ``optimizer``'s state (a resumed run's). As they are on one process."""
        if not self.sharded:
            return model, optimizer
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
        from torch.distributed.fsdp import fully_shard

        state = _keyed_by_name(optimizer.state_dict(), _optimizer_names(model, optimizer))
        # the encoder's blocks each a unit (gathered one at a time); the root holds the rest, the
        # embedding among them: a tied head reads the token table after the embedding has run
        encoder = getattr(model, "encoder", None)
        for stack in (encoder if isinstance(encoder, torch.nn.ModuleList) else []):
            for block in (stack if isinstance(stack, torch.nn.ModuleList) else [stack]):
                fully_shard(block)
        fully_shard(model)
        optimizer = make_optimizer(model)
        if state["state"]:
            set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
        return model, optimizer

    def consolidated(self, model: Any, optimizer: Any, plain: Any) -> tuple[Any, Any]:
        """The model and optimizer to save, whole: themselves (one process, DDP), or on rank 0 a plain
        copy (``plain()`` builds a model and optimizer) filled from FSDP's gathered full state dicts.
        Every rank must call it (the gathering is a collective); the others get (None, None)."""
        if not self.sharded:
            return model, optimizer
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        with self.collective():
            weights = get_model_state_dict(model, options=options)
            state = get_optimizer_state_dict(model, optimizer, options=options)
        if not self.main:
            return None, None
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the run's RNG alone
            whole, whole_optimizer = plain()
        whole.load_state_dict(weights)
        index = {name: i for i, name in enumerate(_optimizer_names(whole, whole_optimizer))}
        whole_optimizer.load_state_dict({
            "state": {index[name]: value for name, value in state["state"].items()},
            "param_groups": [{**g, "params": [index[name] for name in g["params"]]} for g in state["param_groups"]]})
        return whole, whole_optimizer

    def _device(self, device: Any) -> torch.device:
        return torch.device(device) if self.backend == "nccl" else torch.device("cpu")

    def collective(self) -> "_Collective":
        return _Collective(self)

    def close(self) -> None:
        """Leave the process group (when this process made it); safe to call twice."""
        if self.owns_process_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        self.owns_process_group = False


def _optimizer_names(model: torch.nn.Module, optimizer: Any) -> list[str]:
    """The name of each parameter the optimizer holds, in its order (the index its state has)."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _keyed_by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``optimizer.state_dict()`` keyed by parameter name (torch.distributed.checkpoint's form)."""
    return {"state": {names[i]: value for i, value in state["state"].items()},
            "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]}


def _targets(head_out: dict) -> float | None:
    value = head_out.get("loss_targets")
    return None if value is None else float(value)


class _NoHooks:
    """The hook relay of ranks other than 0: plugins observe one run, not N copies of it."""

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: []


NO_HOOKS = _NoHooks()


class _Opaque:
    """A box DDP does not search for tensors."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _LossesFirst(torch.nn.Module):
    """What DDP wraps: the model, returning the head losses and, boxed, its whole output.

    DDP finds the parameters a step reaches by walking back from the tensors a forward returns;
    from the losses alone it sees that a head without a loss (ELMo's scalar mix) is not reached
    (DDP's static_graph would too, but then the runs no longer match one process exactly).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: Any) -> tuple[list[torch.Tensor], _Opaque]:
        out = self.model(**batch)
        return list(out.losses.values()), _Opaque(out)


class _Replica:
    """The DDP-wrapped model as the loop calls it: ``replica(**batch)`` is the model's output."""

    def __init__(self, ddp: torch.nn.Module) -> None:
        self.ddp = ddp

    def __call__(self, **batch: Any) -> Any:
        return self.ddp(**batch)[1].value

    def no_sync(self) -> Any:
        return self.ddp.no_sync()


class _Collective:
    """Turns a collective that failed because a peer died into ``PeerFailed``."""

    def __init__(self, group: Group) -> None:
        self.group = group

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and peer_failed(exc):
            raise stopped_by_peer(self.group) from None
        return False


def peer_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another process is gone."""
    dist_error = getattr(torch.distributed, "DistError", None)
    if dist_error is not None and isinstance(exc, dist_error):
        return True
    return isinstance(exc, RuntimeError) and any(sign in str(exc).lower() for sign in _PEER_SIGNS)


def stopped_by_peer(group: Group) -> PeerFailed:
    return PeerFailed(f"device: process {group.rank} of {group.world} stopped because another process of the run "
                      f"failed (its error is the one to read)")


def _rows(batch: dict[str, Any]) -> int:
    for key in ("input_ids", "char_ids", "attention_mask"):
        if torch.is_tensor(batch.get(key)):
            return int(batch[key].shape[0])
    return int(next(v for v in batch.values() if torch.is_tensor(v)).shape[0])


# -- joining the run ----------------------------------------------------------------------------------
def under_torchrun() -> bool:
    """Whether this process was started by torchrun (or srun with the same variables)."""
    return all(os.environ.get(name) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def join(strategy: str, device_type: str, timeout_minutes: float) -> Group:
    """This process's ``Group``: initialised from torchrun's environment, or a single process.

    The backend is nccl on CUDA and gloo on the CPU. The timeout bounds how long a rank waits
    for the others at a collective (rank 0 writing a checkpoint, evaluating).
    """
    if not under_torchrun():
        return Group(strategy=strategy)
    rank, world, local = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    backend = "nccl" if device_type == "cuda" else "gloo"
    owns = False
    if world > 1 and not torch.distributed.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local)
        torch.distributed.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        owns = True
    return Group(rank=rank, world=world, local_rank=local, strategy=strategy, backend=backend, owns_process_group=owns)


# -- failures -----------------------------------------------------------------------------------------
def record_failure(lines: list[str], exit_code: int, peer: bool) -> bool:
    """Note this rank's failure for the launcher; return whether the rank should still print it.

    Under ``plmkit run device.processes=N`` the launcher prints the first failure itself; under
    a plain torchrun each failing rank prints its own message (and gives it to torchrun's error
    file, so torchrun's report names it as the root cause), and a rank stopped by a peer's
    failure prints nothing (the peer's message is the one to read).
    """
    folder = os.environ.get(ERRORS_ENV)
    rank = os.environ.get("RANK", "0")
    torchrun_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if torchrun_file and not peer:  # torchrun's own report then names this message as the root cause
        try:
            Path(torchrun_file).write_text(json.dumps({"message": " ".join(lines), "timestamp": int(time.time())}),
                                           encoding="utf-8")
        except OSError:
            pass
    if folder:
        record = {"rank": int(rank), "lines": lines, "exit_code": exit_code, "peer": peer, "time": time.time()}
        path = Path(folder) / f"rank-{rank}.json"
        try:
            path.write_text(json.dumps(record), encoding="utf-8")
            return False
        except OSError:
            return True
    return not peer
