"""``plmkit plugin new NAME``: a plugin package that installs and passes its own tests straight away.

The package is made from the templates in ``plugin/`` (files ending in ``.tmpl``): ``{{field}}``
in their text, and the path segments ``PACKAGE`` and ``NAME``, are filled in from the plugin's
name. For ``parallel-block``:

    name          parallel-block            entry-point name; recipes are parallel-block:NAME.yaml
    distribution  plmkit-parallel-block     what pip installs
    package       plmkit_parallel_block     the import package
    type          parallel_block            the component's registered name (type: in recipes)
    class_name    ParallelBlock             the torch module (its Params: ParallelBlockParams)

The folder is written next to its target and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ScaffoldError", "PluginNames", "new_plugin"]

TEMPLATES = Path(__file__).resolve().parent / "plugin"
SUFFIX = ".tmpl"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_FIELD = re.compile(r"\{\{(\w+)\}\}")


class ScaffoldError(ValueError):
    """A plugin cannot be made as asked; ``parameter`` names the argument to change."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class PluginNames:
    """Every name of a new plugin, derived from the one its author gives."""

    name: str
    distribution: str
    package: str
    type: str
    class_name: str
    plmkit_version: str

    @classmethod
    def of(cls, name: str) -> "PluginNames":
        if not _NAME.fullmatch(name):
            raise ScaffoldError("name", f"{name!r} is not a valid plugin name: use lowercase letters, digits and "
                                        f"single '-' or '_' between words, starting with a letter "
                                        f"(e.g. parallel-block)")
        short = re.sub(r"^plmkit[-_]", "", name)
        if short == "plmkit":
            raise ScaffoldError("name", "'plmkit' is plmkit's own name; name the plugin after what it adds")
        words = re.split(r"[-_]", short)
        return cls(short, "plmkit-" + "-".join(words), "plmkit_" + "_".join(words), "_".join(words),
                   "".join(w.capitalize() for w in words), _minor_version())


def new_plugin(name: str, out: str | Path | None = None) -> Path:
    """Write the plugin package ``name`` into ``out`` (default ``./plmkit-NAME``); return the folder."""
    names = PluginNames.of(name)
    _refuse_taken(names)
    target = Path(out) if out is not None else Path(names.distribution)
    _refuse_existing(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for template in sorted(TEMPLATES.rglob(f"*{SUFFIX}")):
            path = staging / _fill_path(template.relative_to(TEMPLATES), names)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_fill(template.read_text(encoding="utf-8"), names), encoding="utf-8")
        if target.is_dir():
            target.rmdir()  # empty (checked above)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _fill(text: str, names: PluginNames) -> str:
    fields = asdict(names)
    return _FIELD.sub(lambda m: fields[m.group(1)], text)  # a KeyError: a template names an unknown field


def _fill_path(relative: Path, names: PluginNames) -> Path:
    parts = [part.removesuffix(SUFFIX) for part in relative.parts]
    parts = [part.replace("PACKAGE", names.package).replace("NAME", names.name) for part in parts]
    return Path(*parts)


def _refuse_existing(target: Path) -> None:
    if target.is_file() or (target.exists() and not target.is_dir()):
        raise ScaffoldError("out", f"{target} exists and is not a folder; choose another")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError("out", f"{target} exists and is not empty; choose another folder or empty it")


def _refuse_taken(names: PluginNames) -> None:
    """A component name that is already registered would make the new plugin fail to load."""
    from ..plugins import get_plugins

    owner = get_plugins().registry.get("attention", names.type)
    if owner is not None:
        raise ScaffoldError("name", f"attention {names.type!r} is already registered by {owner.provider}; "
                                    f"choose another name")


def _minor_version() -> str:
    from .. import __version__

    return ".".join(__version__.split(".")[:2])
