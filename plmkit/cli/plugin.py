"""``plmkit plugin new NAME [--out DIR]``: scaffold a plugin package (see plmkit/scaffold/)."""

from __future__ import annotations

import argparse
import sys

FLAGS = {"name": "NAME", "out": "--out"}  # the library's parameter -> what the command line calls it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="create an installable plugin package with one component, "
                                         "a recipe and tests", description="create an installable plugin package "
                                         "with one component, a recipe and tests that pass straight away")
    new.add_argument("name", metavar="NAME", help="the plugin's name, e.g. parallel-block (package plmkit-parallel-block)")
    new.add_argument("--out", metavar="DIR", help="folder to create (default ./plmkit-NAME); must not exist or be empty")


def run(args: argparse.Namespace) -> int:
    from ..errors import RecipeError
    from ..scaffold import ScaffoldError, new_plugin

    try:
        folder = new_plugin(args.name, args.out)
    except ScaffoldError as error:
        flag = FLAGS[error.parameter] if error.parameter != "out" or args.out else FLAGS["name"]  # default out: from NAME
        raise RecipeError(f"plmkit plugin new: {flag}: {error}") from None
    print(folder)  # stdout: the new folder, for scripts
    print(f"next: pip install -e {folder} && pytest {folder}", file=sys.stderr)
    return 0
