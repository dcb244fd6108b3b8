"""The run folder: everything a training run writes, and the rules that keep a user's files safe.

    recipe.yaml      the fully resolved recipe (every default filled in)
    versions.json    plmkit, torch, python, and each plugin package that supplied a component
    tokenizer/       the trained tokenizer; its .complete marker lists each file's SHA-256
    metrics.jsonl    one JSON object per line: training steps and held-out evaluations
    tensorboard/     the same records as TensorBoard events, when the recipe asks (logging.tensorboard)
    init.json        the tensors a run started from (init.checkpoint): loaded, fresh, unused
    checkpoints/     step-N/ folders (see checkpoint.py); the newest two are kept
    model/           the final model: model.safetensors + recipe.yaml + tokenizer/ + versions.json
    summary.json     final held-out metrics, baselines, wall time; written last

A run never writes into a non-empty folder unless that folder is a run of the same recipe that
can be resumed: nothing a user already has is overwritten by accident (``opening.py`` decides).
Writes stay inside the folder the user gave (or ``runs/``): a recipe's name becomes a plain file
name, and a run folder that holds a symbolic link is refused. A resumed run continues from the
newest checkpoint that verifies; damaged newer ones are reported and set aside as
``damaged-step-N`` once the resume has been decided (``tidy``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator


from ..errors import PlmkitError, RunError
from .checkpoint import MODEL_FILE, list_checkpoints, save_weights, verify_checkpoint
from .files import DamagedFile, atomic_write_json, atomic_write_text, file_digest, jsonable, read_json, replace_folder

__all__ = ["RunDir", "default_run_dir", "safe_name", "load_saved_recipe", "versions"]

RECIPE_FILE = "recipe.yaml"
VERSIONS_FILE = "versions.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TOKENIZER_DIR = "tokenizer"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
COMPLETE = ".complete"
#: a run folder with more entries than this is not one plmkit wrote
MAX_ENTRIES = 100_000
#: metrics.jsonl lines longer than this are dropped when a resumed run rewrites the file
_MAX_METRICS_LINE = 1 << 20
INIT_FILE = "init.json"


class RunDir:
    """Paths and writers for one run folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self.tokenizer_dir = self.path / TOKENIZER_DIR
        self.model_dir = self.path / MODEL_DIR
        self.metrics_path = self.path / METRICS_FILE
        self.created: list[Path] = []  # folders made for this run, outermost first
        self.candidates: list[tuple[Path, dict[str, Any]]] = []  # verified checkpoints, newest first
        self.damaged: list[DamagedFile] = []  # checkpoints newer than the first candidate
        self.writers: list[Any] = []  # besides metrics.jsonl, every metric record goes to these (TensorBoard)

    def __str__(self) -> str:
        return str(self.path)

    # -- what is there ----------------------------------------------------------------------------
    def is_run(self) -> bool:
        return (self.path / RECIPE_FILE).is_file()

    def saved_recipe(self) -> dict[str, Any]:
        """recipe.yaml as data (read within the recipe limits); RunError if it is not a recipe."""
        from ..recipe.loader import read_data

        try:
            data = read_data(self.path / RECIPE_FILE)
        except PlmkitError as exc:
            raise RunError(f"{self.path / RECIPE_FILE}: damaged ({exc.lines()[0]}); nothing was written") from None
        if not isinstance(data, dict):
            raise RunError(f"{self.path / RECIPE_FILE}: damaged (not a mapping of keys); nothing was written")
        return data

    def latest_checkpoint(self) -> Path | None:
        return self.candidates[0][0] if self.candidates else None

    def finished_step(self) -> int | None:
        """The step the run finished at (summary.json written), or None while unfinished (or
        when summary.json is damaged: the final checkpoint then finishes the run again)."""
        if not (self.path / SUMMARY_FILE).is_file():
            return None
        try:
            step = read_json(self.path / SUMMARY_FILE).get("step")
        except (DamagedFile, AttributeError):
            return None
        return step if isinstance(step, int) and not isinstance(step, bool) else None

    # -- deciding what to resume from (reads only) ----------------------------------------------
    def check_confined(self) -> None:
        """Refuse a run folder holding a symbolic link: writing through it would leave the folder."""
        for count, entry in enumerate(_walk(self.path), start=1):
            if count > MAX_ENTRIES:
                raise RunError(f"{self.path}: holds more than {MAX_ENTRIES:,} files; not a plmkit run folder")
            if entry.is_symlink():
                raise RunError(f"{entry.path}: is a symbolic link; a run folder holds only plain files and "
                               f"folders (nothing was written)")

    def choose_checkpoints(self) -> None:
        """Verify the checkpoints, newest first: the intact ones become the candidates to resume
        from; damaged ones newer than the first intact one are remembered to be reported."""
        self.candidates, self.damaged = [], []
        for _, path in reversed(list_checkpoints(self.checkpoints)):
            try:
                self.candidates.append((path, verify_checkpoint(path)))
            except DamagedFile as exc:
                if not self.candidates:
                    self.damaged.append(exc)
        if self.damaged and not self.candidates:
            first = self.damaged[0]
            raise RunError(f"{first.path}: damaged ({first.reason}); no intact checkpoint to resume from "
                           f"(nothing was written)")

    def tokenizer_files(self) -> dict[str, Any]:
        """name -> size and SHA-256 of each file of the saved tokenizer (checkpoints record it)."""
        return {p.name: file_digest(p) for p in sorted(self.tokenizer_dir.iterdir())
                if p.is_file() and p.name != COMPLETE} if self.tokenizer_dir.is_dir() else {}

    def check_tokenizer(self) -> None:
        """The saved tokenizer must be the one the checkpoint was trained with (or, for checkpoints
        that do not record it, the one its .complete marker lists)."""
        recorded = self.candidates[0][1].get("tokenizer") if self.candidates else None
        marker = self.tokenizer_dir / COMPLETE
        try:
            if recorded is None and marker.is_file() and marker.stat().st_size:
                recorded = read_json(marker)["files"]
            if recorded is None:  # a run that has no checkpoint yet, or one older than checksums
                return
            found = self.tokenizer_files() if marker.is_file() else {}
            for name, expected in dict(recorded).items():
                if found.get(name) != expected:
                    raise DamagedFile(self.tokenizer_dir / str(name), "is missing or does not match its checksum")
        except (DamagedFile, OSError, KeyError, TypeError, ValueError) as exc:
            where = exc.path if isinstance(exc, DamagedFile) else marker
            raise RunError(f"{where}: the run's tokenizer is damaged; a run cannot continue without the tokenizer "
                           f"it was trained with (nothing was written)") from None

    # -- writing ----------------------------------------------------------------------------------
    def write_start(self, recipe: Any, tokenizer: Any) -> list[str]:
        """recipe.yaml, versions.json and tokenizer/ (written once; a resumed run keeps its own); the
        metric writers the recipe's ``logging`` asks for. Returns notes for a person (a writer missing)."""
        from ..interop.tensorboard import metric_writers

        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / RECIPE_FILE, recipe.to_yaml())
        atomic_write_json(self.path / VERSIONS_FILE, versions(recipe))
        if not (self.tokenizer_dir / COMPLETE).exists():
            _write_folder(self.tokenizer_dir, lambda tmp: tokenizer.save(tmp))
        self.writers, notes = metric_writers(self.path, recipe)
        return notes

    def write_init(self, report: dict[str, Any]) -> None:
        """init.json: what the run's weights started from (``plmkit.interop.init``)."""
        atomic_write_json(self.path / INIT_FILE, report)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """One line of strict JSON to metrics.jsonl (a non-finite number is written as null and named in
        ``nonfinite``), and the record to every writer the recipe asked for (the one place they go)."""
        nonfinite = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        line = jsonable({**record, "nonfinite": nonfinite} if nonfinite else record)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(_json_line(line) + "\n")
        for writer in self.writers:
            writer.write(record)

    def truncate_metrics(self, step: int) -> None:
        """Drop records after ``step`` (a resumed run writes them again) and lines that are not JSON."""
        if not self.metrics_path.is_file():
            return
        kept = [line for line in _metrics_lines(self.metrics_path) if _record_step(line) <= step]
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
        for writer in self.writers:  # the run is over
            writer.close()

    # -- after deciding (resume) or failing (a new run) --------------------------------------------
    def tidy(self) -> list[str]:
        """Set damaged checkpoints aside as ``damaged-step-N`` and remove temporaries that killed
        writes left; the lines to tell the user."""
        notes = []
        for damage in self.damaged:
            folder = damage.path.parent
            aside = _free_name(folder.with_name(f"damaged-{folder.name}"))
            os.replace(folder, aside)
            notes.append(f"{damage.path}: damaged ({damage.reason}); moved {folder.name} aside to {aside.name}")
        for parent in (self.path, self.checkpoints, self.tokenizer_dir, self.model_dir):
            for entry in (list(parent.iterdir()) if parent.is_dir() else []):
                if entry.name.startswith((".tmp-", ".old-")) or (entry.name.startswith(".") and ".tmp-" in entry.name):
                    shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        return notes

    def discard(self) -> None:
        """Remove what a run that failed before training wrote: the folders made for it, or the
        contents of the empty folder the user gave."""
        if not self.created:
            for child in (list(self.path.iterdir()) if self.path.is_dir() else []):
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
            return
        shutil.rmtree(self.created[-1], ignore_errors=True)
        for folder in reversed(self.created[:-1]):
            try:
                folder.rmdir()  # only while empty: another run may have started in it meanwhile
            except OSError:
                break


def _walk(folder: Path) -> Iterator[os.DirEntry]:
    """Every entry under ``folder`` without following links, depth first."""
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                yield entry
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))


def _free_name(path: Path) -> Path:
    candidate, index = path, 1
    while candidate.exists():
        index += 1
        candidate = path.with_name(f"{path.name}-{index}")
    return candidate


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, allow_nan=False)


def _metrics_lines(path: Path) -> Iterator[str]:
    """The lines of metrics.jsonl that are JSON objects, read one bounded line at a time."""
    with open(path, "rb") as handle:
        while raw := handle.readline(_MAX_METRICS_LINE + 1):
            if len(raw) > _MAX_METRICS_LINE or not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of an overlong or unfinished line
                    raw = handle.readline(_MAX_METRICS_LINE + 1)
                continue
            try:
                line = raw.decode("utf-8").strip()
                if isinstance(json.loads(line), dict):
                    yield line
            except (UnicodeDecodeError, ValueError, RecursionError):
                continue


def _record_step(line: str) -> int:
    step = json.loads(line).get("step", 0)
    return step if isinstance(step, int) and not isinstance(step, bool) else 0


def _write_folder(final: Path, fill: Any) -> None:
    """Fill a hidden temporary folder, mark it complete (with its files' checksums), then swap it
    into place; a failure removes the temporary folder."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        fill(tmp)
        files = {p.name: file_digest(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        atomic_write_json(tmp / COMPLETE, {"files": files})
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- reading a trained model --------------------------------------------------------------------------
def find_trained(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(folder with recipe.yaml + tokenizer/, weights file, versions.json) of a trained run.

    ``path`` is a run folder (its ``model/``, or while the run is unfinished its newest intact
    checkpoint) or a ``model/`` folder itself. A model folder's files are checked against the
    checksums its completion marker lists; a damaged one is named.
    """
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no such run folder")
    for folder in (path, path / MODEL_DIR):
        if (folder / MODEL_FILE).is_file() and (folder / RECIPE_FILE).is_file():
            _check_marker(folder)
            return folder, folder / MODEL_FILE, folder / VERSIONS_FILE
    if (path / RECIPE_FILE).is_file():
        for _, checkpoint in reversed(list_checkpoints(path / CHECKPOINTS_DIR)):
            try:
                verify_checkpoint(checkpoint)
            except DamagedFile:
                continue  # an unfinished run: the newest intact checkpoint
            return path, checkpoint / MODEL_FILE, path / VERSIONS_FILE
    raise RunError(f"{path}: not a trained plmkit run (no {MODEL_DIR}/{MODEL_FILE}, no intact checkpoint); "
                   f"give a folder written by plmkit run")


def _check_marker(folder: Path) -> None:
    """Every file the folder's completion marker lists must have its recorded size and SHA-256."""
    marker = folder / COMPLETE
    if not marker.is_file() or not marker.stat().st_size:  # folders written before checksums
        return
    try:
        recorded = dict(read_json(marker)["files"])
    except (DamagedFile, OSError, KeyError, TypeError, ValueError):
        raise RunError(f"{marker}: the model folder's list of files is damaged; train or export it again") from None
    for name, expected in recorded.items():
        file = folder / str(name)
        if not file.is_file() or file_digest(file) != expected:
            raise RunError(f"{file}: damaged (missing, or not the file plmkit wrote: its checksum differs); "
                           f"use a checkpoint of the run, or train it again")


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
    original = None
    if (folder / VERSIONS_FILE).is_file():
        try:
            recorded = read_json(folder / VERSIONS_FILE)
        except DamagedFile as exc:
            raise RunError(f"{exc.path}: damaged ({exc.reason}); nothing was written") from None
        original = recorded.get("recipe_file") if isinstance(recorded, dict) else None
        original = original if isinstance(original, str) and "\0" not in original else None
    return load_recipe(folder / RECIPE_FILE, overrides, base=original)


def _package_version() -> str:
    import plmkit

    return getattr(plmkit, "__version__", "unknown")


# -- choosing the folder --------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """``name`` as one plain file name: letters, digits, ``.``, ``_`` and ``-`` (others become
    ``-``), no leading dot or dash, at most 64 characters; ``run`` if nothing is left."""
    return _UNSAFE.sub("-", name).strip(".-")[:64].strip(".-") or "run"


def default_run_dir(recipe: Any) -> Path:
    """runs/NAME-YYYYmmdd-HHMMSS under the current folder (NAME made a plain file name)."""
    return Path("runs") / f"{safe_name(recipe.name)}-{time.strftime('%Y%m%d-%H%M%S')}"
