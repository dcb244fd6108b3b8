"""Recipes that travel with packages: ``PACKAGE:NAME.yaml`` names a recipe installed inside a package.

plmkit's own recipes (``recipes/`` in the repository, their source) are installed inside plmkit
as the data package ``plmkit.recipes``; a plugin ships its recipes in a ``recipes/`` folder inside
its import package. PACKAGE is ``plmkit``, or a plugin's entry-point name (``alibi``), distribution
name (``plmkit-alibi``) or import name (``plmkit_alibi``).

Everything is found through ``importlib.metadata`` and ``importlib.util.find_spec``: no plugin
code runs and torch is never imported, so ``plmkit validate plmkit:gpt.yaml`` stays fast. The
loader (``extends: plmkit:gpt.yaml``), the commands that take a recipe path, and ``plmkit
recipes`` all go through this module.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..registry import did_you_mean

__all__ = ["Shipper", "ShippedRecipe", "NotShipped", "is_reference", "shippers", "locate", "recipes",
           "sibling", "description_of"]

PLMKIT = "plmkit"
ENTRY_POINT_GROUP = "plmkit"  # the plugins' entry-point group (plmkit/plugins.py loads it)
RECIPES = "recipes"  # the folder, inside an import package, that holds its recipes
SUFFIXES = (".yaml", ".yml")

# PACKAGE:NAME, NAME a file name (no folder): "C:\\x.yaml" and "./a:b.yaml" are file paths
_REFERENCE = re.compile(r"(?P<package>[A-Za-z0-9][A-Za-z0-9._-]*):(?P<name>[^/\\:]+)")


class NotShipped(LookupError):
    """A ``PACKAGE:NAME.yaml`` that names no installed recipe; the message is one line."""


@dataclass(frozen=True)
class Shipper:
    """An installed package that may ship recipes: plmkit itself, or a plugin."""

    name: str  # how listings name it: "plmkit", or the plugin's entry-point name
    distribution: str
    import_name: str
    folder: Path | None  # its recipes folder, None if it has none

    def aliases(self) -> set[str]:
        return {_canonical(n) for n in (self.name, self.distribution, self.import_name)}

    def recipe_names(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


@dataclass(frozen=True)
class ShippedRecipe:
    """One recipe file a package ships."""

    package: Shipper
    name: str  # the file name, e.g. "gpt.yaml"
    path: Path

    @property
    def reference(self) -> str:
        return f"{self.package.name}:{self.name}"


def is_reference(text: str) -> bool:
    """Whether ``text`` is written as ``PACKAGE:NAME`` rather than as a file path."""
    return isinstance(text, str) and _REFERENCE.fullmatch(text.strip()) is not None


def shippers() -> list[Shipper]:
    """plmkit, then every installed plugin (entry-point group ``plmkit``) by name."""
    found = [Shipper(PLMKIT, PLMKIT, PLMKIT, _folder(f"{PLMKIT}.{RECIPES}", package_itself=True))]
    seen: set[tuple[str, str]] = set()
    points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    for point in points:
        if (point.name, point.value) in seen:  # editable installs can list an entry point twice
            continue
        seen.add((point.name, point.value))
        import_name = point.value.split(":")[0].split(".")[0].strip()
        distribution = point.dist.name if point.dist else import_name
        found.append(Shipper(point.name, distribution, import_name, _folder(import_name)))
    return found


def locate(reference: str) -> ShippedRecipe:
    """The installed file that ``PACKAGE:NAME.yaml`` names; ``NotShipped`` says why none does."""
    match = _REFERENCE.fullmatch(reference.strip())
    if match is None:
        raise NotShipped(f"{reference!r} is not PACKAGE:NAME.yaml (e.g. plmkit:gpt.yaml)")
    package, name = match["package"], match["name"]
    every = shippers()
    shipper = next((s for s in every if _canonical(package) in s.aliases()), None)
    if shipper is None:
        known = [s.name for s in every if s.recipe_names()]
        aliases = sorted({a for s in every for a in (s.name, s.distribution, s.import_name)})
        raise NotShipped(f"unknown package {package!r}{did_you_mean(package, aliases)}; "
                         f"installed packages that ship recipes: {', '.join(known) or 'none'}")
    names = shipper.recipe_names()
    if not names:
        raise NotShipped(f"package {package!r} ships no recipes (no {RECIPES}/ folder in its import package "
                         f"{shipper.import_name}); installed packages that ship recipes: "
                         f"{', '.join(s.name for s in every if s.recipe_names()) or 'none'}")
    if name not in names:
        raise NotShipped(f"{package} ships no recipe {name!r}{did_you_mean(name, names)}; "
                         f"its recipes: {', '.join(names)}")
    assert shipper.folder is not None  # it has names
    return ShippedRecipe(shipper, name, shipper.folder / name)


def recipes() -> list[ShippedRecipe]:
    """Every recipe every installed package ships, grouped by package (plmkit first)."""
    return [ShippedRecipe(s, name, s.folder / name) for s in shippers() if s.folder for name in s.recipe_names()]


def sibling(display: str, name: str) -> str | None:
    """``plmkit:bert.yaml`` for ``extends: bert.yaml`` inside ``plmkit:bert-no-nsp.yaml``, else None."""
    match = _REFERENCE.fullmatch(display)
    if match is None or not is_reference(f"{match['package']}:{name}"):
        return None
    return f"{match['package']}:{name}"


def description_of(path: Path) -> str:
    """A recipe's one-line ``description:``, read without loading or validating it ('' if none)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    text = data.get("description") if isinstance(data, dict) else None
    return " ".join(str(text).split()) if text is not None else ""


def _folder(import_name: str, package_itself: bool = False) -> Path | None:
    """The recipes folder of an import package, found without importing it (its parent, for
    ``plmkit.recipes``, is imported: plmkit itself, which is light)."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) if package_itself else Path(location) / RECIPES
        if folder.is_dir():
            return folder
    return None


def _canonical(name: str) -> str:
    """Names compare as pip compares distributions: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()
