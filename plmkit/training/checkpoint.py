"""Checkpoints that a killed run can never leave half-written, in safetensors and JSON (no pickle).

A checkpoint is a folder ``checkpoints/step-N/``:

    model.safetensors      the weights (tied tensors stored once, re-tied on load)
    optimizer.safetensors  every tensor of the optimiser state, keyed ``state.<param>.<name>``
    optimizer.json         the rest of the optimiser state (param groups, scalars)
    trainer_state.json     step, RNG states, grad-scaler state, best metrics, the size and SHA-256
                           of the three files above and a SHA-256 of its own content; written last

It is assembled in a hidden ``.tmp-step-N-<pid>`` folder (every file itself written under a
temporary name, flushed, then ``os.replace``-d) and becomes visible only by the final rename of
that folder to ``step-N``. A write that fails (a full disk, an interruption) removes its
temporary folder and leaves the checkpoints before it as they were. A folder counts as a
checkpoint only when it is named ``step-N`` and holds ``trainer_state.json``; anything else (a
leftover temporary file or folder) is ignored, and removed after the next checkpoint is written.

``verify_checkpoint`` checks a checkpoint before anything is loaded from it: every file's size
and checksum, and the type and range of every trainer-state value. The checksums find damage
(a truncated or corrupted file), not deliberate edits: whoever rewrites a file can rewrite its
checksum too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from ..errors import RunError
from .files import (DamagedFile, _written, atomic_write_json, atomic_write_text, file_digest, jsonable,
                    read_json, replace_folder)

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
    "verify_checkpoint",
    "replace_folder",
]

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
STATE_FILE = "trainer_state.json"
FORMAT = 2  # 2: trainer_state.json holds checksums ("files", "checksum"); 1 is still read
_STEP_DIR = re.compile(r"^step-(\d+)$")
_CHECKED_FILES = (MODEL_FILE, OPTIMIZER_FILE, OPTIMIZER_JSON)
def _self_checksum(state: dict[str, Any]) -> str:
    """SHA-256 of a trainer state's content, its own ``checksum`` left out."""
    body = {k: v for k, v in state.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode("utf-8")).hexdigest()


def _atomic_save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _written(path, lambda tmp: save_file(cpu, str(tmp), metadata=metadata))


# -- weights -------------------------------------------------------------------------------------
def save_weights(model: torch.nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """The model's weights as safetensors; a tied tensor is stored once (safetensors refuses
    shared storage) and ``load_weights`` ties it again through the model's own structure."""
    _written(Path(path), lambda tmp: save_model(model, str(tmp), metadata=metadata))


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
    """The newest checkpoint under ``folder`` that verifies (a damaged one is passed over)."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            verify_checkpoint(path)
            return path
        except DamagedFile:
            continue
    return None


def save_checkpoint(
    folder: str | os.PathLike,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    scaler: Any = None,
    keep: int = 2,
) -> Path:
    """Write ``folder/step-<step>`` atomically, then keep only the newest ``keep`` checkpoints.

    A write that fails removes what it wrote and raises ``RunError`` (one line: which checkpoint,
    why, and that the previous one is intact); an interruption removes it too and propagates.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f".tmp-step-{step}-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write_checkpoint(tmp, step, model, optimizer, trainer_state, scaler)
        replace_folder(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (OSError, SafetensorError)):
            previous = latest_checkpoint(folder)
            kept = f"{previous.name} is intact" if previous is not None else "no earlier checkpoint exists"
            raise RunError(f"{final}: cannot write the checkpoint ({_reason(exc)}); {kept}") from None
        raise
    _prune(folder, keep)
    return final


def _write_checkpoint(tmp: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      trainer_state: dict[str, Any], scaler: Any) -> None:
    save_weights(model, tmp / MODEL_FILE, metadata={"format": "pt", "step": str(step)})
    tensors, structure = _split_optimizer(optimizer.state_dict())
    _atomic_save_file(tensors, tmp / OPTIMIZER_FILE)
    atomic_write_json(tmp / OPTIMIZER_JSON, structure)
    state = {"format": FORMAT, **trainer_state, "step": step, "rng": rng_state()}
    state["scaler"] = scaler.state_dict() if scaler is not None and scaler.is_enabled() else None
    state["files"] = {name: file_digest(tmp / name) for name in _CHECKED_FILES}
    state = jsonable(state)
    state["checksum"] = _self_checksum(state)
    atomic_write_json(tmp / STATE_FILE, state)  # last: its presence marks the folder complete


def _reason(exc: BaseException) -> str:
    """``No space left on device``, from an OSError or from safetensors' wrapped I/O error."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    found = re.search(r'message: "([^"]+)"|I/O error: (.+?) \(os error \d+\)', str(exc))
    return next(g for g in found.groups() if g) if found else str(exc).strip().splitlines()[0][:160]


def _prune(folder: Path, keep: int) -> None:
    for _, path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)
    for entry in folder.iterdir():  # leftovers of killed writes (never taken as checkpoints)
        if entry.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def verify_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The trainer state of checkpoint ``path`` after checking, before anything is loaded, that
    every file is the one plmkit wrote (size and SHA-256) and every value has its type and range.
    Raises ``DamagedFile`` naming the first file that is not."""
    path = Path(path)
    state_file = path / STATE_FILE
    state = read_json(state_file)
    problem = _state_problem(state, path)
    if problem:
        raise DamagedFile(state_file, problem)
    for name in _CHECKED_FILES:
        if not (path / name).is_file():
            raise DamagedFile(path / name, "is missing")
    for name, expected in (state.get("files") or {}).items():
        try:
            found = file_digest(path / name)
        except OSError as exc:
            raise DamagedFile(path / name, f"cannot be read ({exc.strerror})") from None
        if found["bytes"] != expected["bytes"]:
            raise DamagedFile(path / name, f"has {found['bytes']:,} bytes, not the {expected['bytes']:,} written")
        if found["sha256"] != expected["sha256"]:
            raise DamagedFile(path / name, "does not match its checksum (the file was changed or corrupted)")
    return state


def _state_problem(state: Any, path: Path) -> str | None:
    """What is wrong with a trainer state's shape and values, or None."""
    if not isinstance(state, dict):
        return f"holds {type(state).__name__}, not a JSON object"
    version = state.get("format")
    if version not in (1, FORMAT) or isinstance(version, bool):
        return f"format {version!r} is not one this plmkit reads (1 or {FORMAT})"
    if version >= 2 and state.get("checksum") != _self_checksum(state):
        return "does not match its checksum (the file was changed or corrupted)"
    match = _STEP_DIR.match(path.name)
    step = state.get("step")
    if not _count(step) or (match and int(match.group(1)) != step):
        return f"step {step!r} is not the folder's step ({path.name})"
    if "instances" in state and not _count(state["instances"]):
        return f"instances {state['instances']!r} is not a count of sequences"
    if "max_batch_size" in state and not _count(state["max_batch_size"]):
        return f"max_batch_size {state['max_batch_size']!r} is not a count of sequences"
    best = state.get("best", {})
    if not isinstance(best, dict) or not all(_number(v) for v in best.values()):
        return "best is not an object of finite numbers"
    if not all(isinstance(state.get(key, {}), dict) for key in ("rng", "recipe", "tokenizer")) or "rng" not in state:
        return "rng, recipe or tokenizer is not a JSON object"
    if state.get("scaler") is not None and not isinstance(state["scaler"], dict):
        return "scaler is not a JSON object"
    files = state.get("files")
    if version >= 2 and not (isinstance(files, dict) and set(files) == set(_CHECKED_FILES) and all(
            isinstance(f, dict) and _count(f.get("bytes")) and isinstance(f.get("sha256"), str) for f in files.values())):
        return "files does not list the size and checksum of each checkpoint file"
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: Any = None,
    device: Any = "cpu",
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore model, optimiser, scaler and RNGs from a checkpoint folder; return its trainer state.

    ``DamagedFile`` when a file is not what plmkit wrote (nothing restored from it counts);
    ``RuntimeError``/``ValueError``/``KeyError`` when the checkpoint is intact but the model or
    optimiser has other shapes than the checkpoint's.
    """
    path = Path(path)
    state = verify_checkpoint(path)
    try:
        load_weights(model, path / MODEL_FILE, device=device)
    except SafetensorError as exc:  # format 1 (no checksums): a damaged header shows only here
        raise DamagedFile(path / MODEL_FILE, f"is not a safetensors file ({_reason(exc)})") from None
    if optimizer is not None:
        # loaded on the CPU: load_state_dict moves each tensor to its parameter's device
        # (AdamW keeps its ``step`` counters on the CPU)
        try:
            tensors = load_file(str(path / OPTIMIZER_FILE), device="cpu")
        except SafetensorError as exc:
            raise DamagedFile(path / OPTIMIZER_FILE, f"is not a safetensors file ({_reason(exc)})") from None
        structure = read_json(path / OPTIMIZER_JSON)
        optimizer.load_state_dict(_join_optimizer(tensors, structure))
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        try:
            set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DamagedFile(path / STATE_FILE, f"holds RNG states that cannot be restored ({exc})") from None
    return state
