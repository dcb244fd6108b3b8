"""The run folder: everything a training run writes, and the rules that keep a user's files safe.

    recipe.yaml      the fully resolved recipe (every default filled in)
    versions.json    plmkit, torch, python, and each plugin package that supplied a component
    tokenizer/       the trained tokenizer
    metrics.jsonl    one JSON object per line: training steps and held-out evaluations
    checkpoints/     step-N/ folders (see checkpoint.py); the newest two are kept
    model/           the final model: model.safetensors + recipe.yaml + tokenizer/ + versions.json
    summary.json     final held-out metrics, baselines, wall time; written last

A run never writes into a non-empty folder unless that folder is a run of the same recipe that
can be resumed: nothing a user already has is overwritten by accident.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RunError
from .checkpoint import atomic_write_json, atomic_write_text, latest_checkpoint, replace_folder, save_weights

__all__ = ["RunDir", "default_run_dir", "recipe_diff", "open_run_dir", "load_saved_recipe", "versions"]

RECIPE_FILE = "recipe.yaml"
VERSIONS_FILE = "versions.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TOKENIZER_DIR = "tokenizer"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"


class RunDir:
    """Paths and writers for one run folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self.tokenizer_dir = self.path / TOKENIZER_DIR
        self.model_dir = self.path / MODEL_DIR
        self.metrics_path = self.path / METRICS_FILE

    def __str__(self) -> str:
        return str(self.path)

    # -- what is there ----------------------------------------------------------------------------
    def is_run(self) -> bool:
        return (self.path / RECIPE_FILE).is_file()

    def saved_recipe(self) -> dict[str, Any]:
        return yaml.safe_load((self.path / RECIPE_FILE).read_text(encoding="utf-8"))

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.checkpoints)

    def finished_step(self) -> int | None:
        """The step the run finished at (summary.json written), or None while unfinished."""
        summary = self.path / SUMMARY_FILE
        if not summary.is_file():
            return None
        return json.loads(summary.read_text(encoding="utf-8")).get("step")

    # -- writing ----------------------------------------------------------------------------------
    def write_start(self, recipe: Any, tokenizer: Any) -> None:
        """recipe.yaml, versions.json and tokenizer/ (written once; a resumed run keeps its own)."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / RECIPE_FILE, recipe.to_yaml())
        atomic_write_json(self.path / VERSIONS_FILE, versions(recipe))
        if not (self.tokenizer_dir / ".complete").exists():
            _write_folder(self.tokenizer_dir, lambda tmp: tokenizer.save(tmp))

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics(self, step: int) -> None:
        """Drop records after ``step``: a resumed run writes them again."""
        if not self.metrics_path.is_file():
            return
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and _record_step(line) <= step]
        atomic_write_text(self.metrics_path, "".join(line + "\n" for line in kept))

    def write_model(self, model: Any, recipe: Any, tokenizer: Any) -> None:
        """The final model folder, self-contained for ``plmkit.load_run``."""

        def fill(tmp: Path) -> None:
            save_weights(model, tmp / "model.safetensors", metadata={"format": "pt"})
            atomic_write_text(tmp / RECIPE_FILE, recipe.to_yaml())
            atomic_write_json(tmp / VERSIONS_FILE, versions(recipe))
            tokenizer.save(tmp / TOKENIZER_DIR)

        _write_folder(self.model_dir, fill)

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.path / SUMMARY_FILE, summary)


def _record_step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 0


def _write_folder(final: Path, fill: Any) -> None:
    """Fill a hidden temporary folder, mark it complete, then swap it into place."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    (tmp / ".complete").write_text("", encoding="utf-8")
    replace_folder(tmp, final)


# -- versions -------------------------------------------------------------------------------------
def versions(recipe: Any) -> dict[str, Any]:
    """What produced this run: plmkit, torch, python and each component's plugin package."""
    import torch

    from ..plugins import _version
    from ..recipe.validate import iter_specs

    components = []
    for key, spec in iter_specs(recipe):
        component = spec.component
        components.append({"key": key, "kind": component.kind, "type": component.name,
                           "package": component.provider, "version": component.provider_version})
    plugins = {c["package"]: c["version"] for c in components if c["package"] != "plmkit"}
    return {
        "plmkit": _version("plmkit") if _version("plmkit") != "unknown" else _package_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "plugins": plugins,
        "components": components,
        # relative data paths are relative to this file's folder; load_saved_recipe keeps it so
        "recipe_file": str(Path(recipe.path).resolve()) if recipe.path else None,
    }


def load_saved_recipe(folder: str | os.PathLike, overrides: Any = ()) -> Any:
    """The recipe saved in a run (or model) folder, its relative data paths still relative to the
    folder of the recipe file the run was started from."""
    from ..recipe.validate import load_recipe

    folder = Path(folder)
    versions_file = folder / VERSIONS_FILE
    original = None
    if versions_file.is_file():
        original = json.loads(versions_file.read_text(encoding="utf-8")).get("recipe_file")
    return load_recipe(folder / RECIPE_FILE, overrides, base=original)


def _package_version() -> str:
    import plmkit

    return getattr(plmkit, "__version__", "unknown")


# -- choosing the folder --------------------------------------------------------------------------
def default_run_dir(recipe: Any) -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS under the current folder."""
    return Path("runs") / f"{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, (list, tuple)) and data and any(isinstance(v, (dict, list)) for v in data):
        out = {}
        for index, value in enumerate(data):
            out.update(_flatten(value, f"{prefix}.{index}"))
        return out
    return {prefix: list(data) if isinstance(data, tuple) else data}


def recipe_diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf that differs; ``<absent>`` if missing."""
    a, b = _flatten(old), _flatten(new)
    missing = "<absent>"
    return [(key, a.get(key, missing), b.get(key, missing)) for key in sorted(set(a) | set(b))
            if a.get(key, missing) != b.get(key, missing)]


def _normalise(recipe_dict: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through YAML so tuples/lists and the like compare as they are saved."""
    return yaml.safe_load(yaml.safe_dump(recipe_dict, sort_keys=False))


def open_run_dir(recipe: Any, out: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
                 accept_changes: bool = False) -> tuple[RunDir, Path | None]:
    """The run folder to write into and the checkpoint to resume from (None: start afresh).

    ``resume`` must be a run folder; a changed recipe is refused unless ``accept_changes``.
    ``out`` must be new or empty, or a run of the same recipe that has not finished (it is
    then resumed).
    """
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise RunError("give --out or --resume, not both: --resume continues the run in its own folder")
        run = RunDir(resume)
        if not run.is_run():
            raise RunError(f"{run.path}: not a plmkit run folder (no {RECIPE_FILE}); give the folder a run wrote")
        _check_same_recipe(run, recipe, accept_changes)
    elif out is None:
        run = RunDir(_claim_default_folder(recipe))
    else:
        run = RunDir(out)
        if run.path.exists() and not run.path.is_dir():
            raise RunError(f"{run.path}: exists and is not a folder; choose another --out")
        if run.path.is_dir() and any(run.path.iterdir()):
            _check_reusable(run, recipe)
        _make_folder(run.path)
    _check_not_finished(run, recipe)
    return run, run.latest_checkpoint()


def _claim_default_folder(recipe: Any) -> Path:
    """A new runs/NAME-TIMESTAMP folder, created here so that two runs never share one."""
    base = default_run_dir(recipe)
    for attempt in range(1, 1000):
        path = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"{path}: cannot create the run folder ({exc.strerror}); choose a folder with --out")
    raise RunError(f"{base}: too many runs started at once; choose a folder with --out")


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{path}: cannot create the run folder ({exc.strerror}); choose another --out")


def _check_same_recipe(run: RunDir, recipe: Any, accept_changes: bool) -> None:
    changes = recipe_diff(run.saved_recipe(), _normalise(recipe.to_dict()))
    if not changes or accept_changes:
        return
    header = Problem("", f"{run.path}: the recipe differs from the one this run was trained with; "
                         "pass --accept-changes to continue with the new one:")
    lines = [Problem(f"  {key}", f"{old!r} -> {new!r}") for key, old, new in changes]
    raise RunError(problems=[header] + lines)


def _check_reusable(run: RunDir, recipe: Any) -> None:
    if not run.is_run():
        raise RunError(f"{run.path}: folder exists and is not empty; choose another --out (nothing was written)")
    if recipe_diff(run.saved_recipe(), _normalise(recipe.to_dict())):
        raise RunError(f"{run.path}: holds a run of a different recipe; choose another --out, or "
                       f"--resume {run.path} to continue that run (nothing was written)")


def _check_not_finished(run: RunDir, recipe: Any) -> None:
    finished = run.finished_step()
    if finished is not None and finished >= recipe.train.steps:
        raise RunError(f"{run.path}: this run already finished all {finished} steps; to train on, "
                       f"--resume it with a larger train.steps and --accept-changes")
