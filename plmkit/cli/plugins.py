"""``plmkit plugins``: installed plugin packages: name, version, status (loaded / failed: why), hooks.

With ``--debug`` (or ``PLMKIT_DEBUG=1``) the traceback of each plugin that failed to load follows.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..errors import debug_requested
    from ..plugins import get_plugins

    plugins = get_plugins()
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(info) for info in plugins.infos], indent=2))
    else:
        for info in plugins.infos:
            print(_line(info))
    for name in plugins.unmatched_allowed():
        print(f"note: PLMKIT_PLUGINS names {name!r}, which no installed plugin has", file=sys.stderr)
    if debug_requested():
        _print_tracebacks(plugins)
    return 0


def _line(info) -> str:
    """``name  package version  status  what it registers  hooks: ...``"""
    if info.status != "loaded":
        return f"{info.name}  {info.package} {info.version}  {info.status}: {info.reason}"
    count = len(info.components)
    registers = info.note or f"{count} component{'' if count == 1 else 's'}"
    hooks = ", ".join(info.hooks) or "none"
    return f"{info.name}  {info.package} {info.version}  loaded  {registers}  hooks: {hooks}"


def _print_tracebacks(plugins) -> None:
    import traceback

    for name, exc in plugins.errors.items():
        print(f"-- plugin {name} failed to load:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
