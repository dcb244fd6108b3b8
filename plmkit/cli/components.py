"""``plmkit components [KIND]``: every registered component, its parameters and its package."""

from __future__ import annotations

import argparse

from ..registry import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=KINDS, help="only this kind")


def run(args: argparse.Namespace) -> int:
    from ..plugins import get_registry

    registry = get_registry()
    kinds = [args.kind] if args.kind else list(KINDS)
    for kind in kinds:
        print(f"{kind}:")
        for component in registry.of_kind(kind):
            print(f"  {component.name}  [{component.provider} {component.provider_version}]  {component.description}")
            for name, type_name, default, description in component.parameters():
                shown = default if default == "required" else repr(default)
                print(f"      {name}: {type_name} = {shown}  {description}".rstrip())
        if not registry.of_kind(kind):
            print("  (none)")
    return 0
