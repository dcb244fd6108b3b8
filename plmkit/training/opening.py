"""Opening a run folder: a new one, or an existing run to continue, decided before anything in
it is written.

``open_run_dir`` returns the ``RunDir`` to write into. A new run claims ``runs/NAME-TIMESTAMP``
or the ``--out`` folder (new or empty; ``a/../b`` creates only the folder it reaches; it must be
writable). An existing run (``--resume``, or ``--out`` on an unfinished run of the same recipe)
is checked in this order, reading only: no symbolic links inside; the checkpoints verified,
newest first (``run.candidates``, ``run.damaged``); the recipe compared with the one the newest
intact checkpoint was trained with (a tokenizer change is always refused, others need
``accept_changes``, except where the run trains: ``device.type``, ``processes`` and the like, so
that a run of N processes continues on M, or on one); the tokenizer against the checksums that checkpoint recorded; the step
within ``train.steps`` and the run not already finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RunError
from ..recipe.dotted import leaves
from .rundir import RECIPE_FILE, RunDir, default_run_dir

__all__ = ["open_run_dir", "recipe_diff", "recipe_record"]

#: where a run trains, not what it trains: a resume may change these freely (precision is not one)
PLACEMENT_KEYS = frozenset({"device.type", "device.index", "device.accelerator", "device.processes",
                            "device.timeout_minutes"})


def recipe_diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf that differs; ``<absent>`` if missing."""
    a, b = dict(leaves(old, scalar_lists=True)), dict(leaves(new, scalar_lists=True))
    missing = "<absent>"
    return [(key, a.get(key, missing), b.get(key, missing)) for key in sorted(set(a) | set(b))
            if a.get(key, missing) != b.get(key, missing)]


def _normalise(recipe_dict: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through YAML so tuples/lists and the like compare as they are saved."""
    return yaml.safe_load(yaml.safe_dump(recipe_dict, sort_keys=False))


def recipe_record(recipe: Any) -> dict[str, Any]:
    """The resolved recipe as a checkpoint records it (and as recipe.yaml holds it)."""
    return _normalise(recipe.to_dict())


def open_run_dir(recipe: Any, out: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
                 accept_changes: bool = False) -> tuple[RunDir, Path | None]:
    """The run folder to write into and the checkpoint to resume from (None: start afresh).

    ``resume`` must be a run folder; a changed recipe is refused unless ``accept_changes``.
    ``out`` must be new or empty, or a run of the same recipe that has not finished (it is
    then resumed). Nothing in an existing folder is written here; ``run.candidates`` lists the
    intact checkpoints to resume from, newest first.
    """
    if resume is not None:
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise RunError("give --out or --resume, not both: --resume continues the run in its own folder")
        run = RunDir(resume)
        if not run.is_run():
            raise RunError(f"{run.path}: not a plmkit run folder (no {RECIPE_FILE}); give the folder a run wrote")
        _check_resumable(run, recipe, accept_changes)
    elif out is None:
        run = RunDir(_claim_default_folder(recipe))
        run.created = [run.path]
    else:
        run = RunDir(_normal(Path(out)))
        try:
            _open_out(run, recipe)
        except OSError as exc:  # a folder on the way that cannot be read
            raise RunError(f"{run.path}: cannot use the run folder ({exc.strerror}); choose another --out") from None
    _check_not_finished(run, recipe)
    return run, run.latest_checkpoint()


def _open_out(run: RunDir, recipe: Any) -> None:
    if run.path.exists() and not run.path.is_dir():
        raise RunError(f"{run.path}: exists and is not a folder; choose another --out")
    if run.path.is_dir() and any(run.path.iterdir()):
        if not run.is_run():
            raise RunError(f"{run.path}: folder exists and is not empty; choose another --out (nothing was written)")
        _check_resumable(run, recipe, accept_changes=False, strict=True)
    else:
        run.created = _make_folder(run.path)
        _check_writable(run)


def _normal(path: Path) -> Path:
    """``a/../a/b/../c`` as the folder the system reaches (``a/c``), so that no folder on the way
    is created for nothing; a path without ``..`` stays as given."""
    return Path(os.path.realpath(path)) if ".." in path.parts else path


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


def _make_folder(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the folders created, outermost first."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            created.append(folder)
    except OSError as exc:
        for made in reversed(created):
            shutil.rmtree(made, ignore_errors=True)
        raise RunError(f"{path}: cannot create the run folder ({exc.strerror}); choose another --out") from None
    return created


def _check_writable(run: RunDir) -> None:
    try:
        handle, probe = tempfile.mkstemp(prefix=".tmp-write-test-", dir=run.path)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise RunError(f"{run.path}: cannot write into the run folder ({exc.strerror}); choose another --out") from None


def _check_resumable(run: RunDir, recipe: Any, accept_changes: bool, strict: bool = False) -> None:
    """Everything a resume needs, decided before anything is written."""
    run.check_confined()
    run.choose_checkpoints()
    trained_with = run.candidates[0][1].get("recipe") if run.candidates else None
    changes = [change for change in recipe_diff(trained_with or run.saved_recipe(), recipe_record(recipe))
               if change[0] not in PLACEMENT_KEYS]
    tokenizer = [(k, old, new) for k, old, new in changes if k == "tokenizer" or k.startswith("tokenizer.")]
    if tokenizer:
        key, old, new = tokenizer[0]
        raise RunError(f"{run.path}: {key}: {old!r} -> {new!r}: a run's tokenizer cannot change (the model's "
                       f"embeddings belong to the ids of its tokenizer/); start a new run (nothing was written)")
    if changes and strict:
        raise RunError(f"{run.path}: holds a run of a different recipe; choose another --out, or "
                       f"--resume {run.path} to continue that run (nothing was written)")
    if changes and not accept_changes:
        header = Problem("", f"{run.path}: the recipe differs from the one this run was trained with; "
                             "pass --accept-changes to continue with the new one:")
        lines = [Problem(f"  {key}", f"{old!r} -> {new!r}") for key, old, new in changes]
        raise RunError(problems=[header] + lines)
    run.check_tokenizer()


def _check_not_finished(run: RunDir, recipe: Any) -> None:
    if run.candidates and run.candidates[0][1]["step"] > recipe.train.steps:
        path, state = run.candidates[0]
        raise RunError(f"{path}: the checkpoint is at step {state['step']}, beyond train.steps {recipe.train.steps}; "
                       f"continue with train.steps={state['step']} or more and --accept-changes (nothing was written)")
    finished = run.finished_step()
    if finished is not None and finished >= recipe.train.steps:
        raise RunError(f"{run.path}: this run already finished all {finished} steps; to train on, "
                       f"--resume it with a larger train.steps and --accept-changes")
