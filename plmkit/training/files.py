"""Files a run writes and reads back: atomic writes, strict JSON, checksums, folder swaps.

Every file is written under a temporary name (``.NAME.tmp-<pid>``), flushed and ``os.replace``-d,
so a reader sees the old file or the new one, never a part; a write that fails removes its
temporary file. JSON is strict (a non-finite number is written as null). ``read_json`` reads a
file plmkit wrote back within a size bound, and ``DamagedFile`` names a file that cannot be what
plmkit wrote. No torch here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["DamagedFile", "atomic_write_text", "atomic_write_json", "jsonable", "read_json", "file_digest",
           "replace_folder", "MAX_JSON_BYTES"]

#: JSON metadata files are read only up to this size (trainer_state.json is a few hundred KB)
MAX_JSON_BYTES = 64 * 1024 * 1024


class DamagedFile(Exception):
    """A file of a run that cannot be what plmkit wrote: ``path`` names it, ``reason`` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


# -- atomic files ----------------------------------------------------------------------------
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


def _written(path: Path, write: Any) -> None:
    """Run ``write(tmp)`` then commit ``tmp`` as ``path``; a failure removes ``tmp`` and re-raises."""
    tmp = _temporary(path)
    try:
        write(tmp)
        _commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never a part."""
    _written(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def jsonable(data: Any) -> Any:
    """``data`` with every infinite or NaN float replaced by None (JSON has neither)."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [jsonable(v) for v in data]
    return data


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as strict JSON (non-finite floats written as null), atomically."""
    atomic_write_text(path, json.dumps(jsonable(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file plmkit wrote; ``DamagedFile`` (naming the file) when it is missing, larger
    than ``limit``, not UTF-8, not JSON, or nested too deeply to parse."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise DamagedFile(path, f"cannot be read ({exc.strerror})") from None
    if len(raw) > limit:
        raise DamagedFile(path, f"is larger than {limit // (1024 * 1024)} MiB")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise DamagedFile(path, f"is not valid JSON ({reason})") from None


def file_digest(path: str | os.PathLike) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of a file, read in 1 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    return {"bytes": size, "sha256": digest.hexdigest()}


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
