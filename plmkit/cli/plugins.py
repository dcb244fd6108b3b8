"""``plmkit plugins``: installed plugin packages: name, version, status (loaded / failed: why)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..plugins import get_plugins

    plugins = get_plugins()
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(info) for info in plugins.infos], indent=2))
        return 0
    for info in plugins.infos:
        status = info.status if info.status == "loaded" else f"{info.status}: {info.reason}"
        count = f"{len(info.components)} components" if info.status == "loaded" else ""
        print(f"{info.name}  {info.package} {info.version}  {status}  {count}".rstrip())
    for name in plugins.unmatched_allowed():
        print(f"note: PLMKIT_PLUGINS names {name!r}, which no installed plugin has", file=sys.stderr)
    return 0
