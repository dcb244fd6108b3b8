"""``plmkit recipes [--json]``: every recipe installed packages ship, by package, with its description.

Each is named as ``plmkit run`` and ``extends:`` take it (``plmkit:gpt.yaml``); nothing is
imported to list them (no torch, no plugin code).
"""

from __future__ import annotations

import argparse
from importlib import metadata


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..recipe import shipped

    found = shipped.recipes()
    if args.json:
        import json

        print(json.dumps([_as_dict(r) for r in found], indent=2))
        return 0
    width = max((len(r.reference) for r in found), default=0)
    package = None
    for recipe in found:
        if recipe.package != package:
            package = recipe.package
            print(_heading(package))
        print(f"  {recipe.reference:<{width}}  {shipped.description_of(recipe.path)}".rstrip())
    return 0


def _heading(package) -> str:
    """``plmkit 0.1.0``, or ``alibi (plmkit-alibi 0.1.0)`` for a plugin named apart from its distribution."""
    version = f"{package.distribution} {_version(package.distribution)}"
    return version if package.name == package.distribution else f"{package.name} ({version})"


def _as_dict(recipe) -> dict[str, str]:
    from ..recipe import shipped

    return {
        "recipe": recipe.reference,
        "package": recipe.package.name,
        "distribution": recipe.package.distribution,
        "version": _version(recipe.package.distribution),
        "description": shipped.description_of(recipe.path),
        "path": str(recipe.path),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"
