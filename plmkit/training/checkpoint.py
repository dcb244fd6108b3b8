"""Checkpoints that a killed run can never leave half-written, in safetensors and JSON (no pickle).

A checkpoint is a folder ``checkpoints/step-N/``:

    model.safetensors      the weights (tied tensors stored once, re-tied on load)
    optimizer.safetensors  every tensor of the optimiser state, keyed ``state.<param>.<name>``
    optimizer.json         the rest of the optimiser state (param groups, scalars)
    trainer_state.json     step, RNG states, grad-scaler state, best metrics; written last

It is assembled in a hidden ``.tmp-step-N-<pid>`` folder (every file itself written under a
temporary name, flushed, then ``os.replace``-d) and becomes visible only by the final rename of
that folder to ``step-N``. A folder counts as a checkpoint only when it is named ``step-N`` and
holds ``trainer_state.json``; anything else (a leftover temporary file or folder) is ignored.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "save_weights",
    "load_weights",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "rng_state",
    "set_rng_state",
]

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
STATE_FILE = "trainer_state.json"
FORMAT = 1
_STEP_DIR = re.compile(r"^step-(\d+)$")


# -- atomic files --------------------------------------------------------------------------------
def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some OSes
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of an ordinary new file (safetensors makes 0600)
    _fsync(tmp)
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    tmp = _temporary(path)
    tmp.write_text(text, encoding="utf-8")
    _commit(tmp, path)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _atomic_save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    tmp = _temporary(path)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    _commit(tmp, path)


# -- weights -------------------------------------------------------------------------------------
def save_weights(model: torch.nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """The model's weights as safetensors; a tied tensor is stored once (safetensors refuses
    shared storage) and ``load_weights`` ties it again through the model's own structure."""
    path = Path(path)
    tmp = _temporary(path)
    save_model(model, str(tmp), metadata=metadata)
    _commit(tmp, path)


def load_weights(model: torch.nn.Module, path: str | os.PathLike, device: Any = "cpu") -> None:
    """Load weights saved by ``save_weights`` into ``model`` (every tensor must match)."""
    device = str(device) if not isinstance(device, int) else device
    load_model(model, str(path), strict=True, device=device)


# -- optimiser state -----------------------------------------------------------------------------
def _split_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``optimizer.state_dict()`` -> (tensors by flat key, everything else as JSON-able data)."""
    tensors, scalars = {}, {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars[f"state.{index}.{name}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state_dict["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], structure: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(structure["scalars"].items()):
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in structure["param_groups"]]
    return {"state": state, "param_groups": groups}


# -- random number generators --------------------------------------------------------------------
def _encode(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from (dropout, data), as JSON-able data."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {"torch": _encode(torch.get_rng_state()), "python": [version, list(internal), gauss]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_encode(s) for s in torch.cuda.get_rng_state_all()]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        name, keys, pos, has_gauss, cached = numpy.random.get_state()
        state["numpy"] = [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(_decode(state["torch"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_decode(s) for s in state["cuda"]])
    if "numpy" in state:
        import numpy

        name, keys, pos, has_gauss, cached = state["numpy"]
        numpy.random.set_state((name, numpy.array(keys, dtype=numpy.uint32), pos, has_gauss, cached))


# -- checkpoints ---------------------------------------------------------------------------------
def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``folder`` as (step, path), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _STEP_DIR.match(entry.name)
        if match and entry.is_dir() and (entry / STATE_FILE).is_file() and (entry / MODEL_FILE).is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def save_checkpoint(
    folder: str | os.PathLike,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    scaler: Any = None,
    keep: int = 2,
) -> Path:
    """Write ``folder/step-<step>`` atomically, then keep only the newest ``keep`` checkpoints."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f".tmp-step-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_weights(model, tmp / MODEL_FILE, metadata={"format": "pt", "step": str(step)})
    tensors, structure = _split_optimizer(optimizer.state_dict())
    _atomic_save_file(tensors, tmp / OPTIMIZER_FILE)
    atomic_write_json(tmp / OPTIMIZER_JSON, structure)
    state = {"format": FORMAT, **trainer_state, "step": step, "rng": rng_state()}
    state["scaler"] = scaler.state_dict() if scaler is not None and scaler.is_enabled() else None
    atomic_write_json(tmp / STATE_FILE, state)  # last: its presence marks the folder complete
    replace_folder(tmp, final)
    _prune(folder, keep)
    return final


def replace_folder(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, swapping out any folder already there."""
    if final.exists():  # the same step written again (a resumed run with changes): swap it out
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync(final.parent)


def _prune(folder: Path, keep: int) -> None:
    for _, path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
    for entry in folder.iterdir():  # leftovers of killed writes (never taken as checkpoints)
        if entry.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: Any = None,
    device: Any = "cpu",
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore model, optimiser, scaler and RNGs from a checkpoint folder; return its trainer state."""
    path = Path(path)
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    load_weights(model, path / MODEL_FILE, device=device)
    if optimizer is not None:
        # loaded on the CPU: load_state_dict moves each tensor to its parameter's device
        # (AdamW keeps its ``step`` counters on the CPU)
        tensors = load_file(str(path / OPTIMIZER_FILE), device="cpu")
        structure = json.loads((path / OPTIMIZER_JSON).read_text(encoding="utf-8"))
        optimizer.load_state_dict(_join_optimizer(tensors, structure))
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        set_rng_state(state["rng"])
    return state
