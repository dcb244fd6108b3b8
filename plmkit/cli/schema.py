"""``plmkit schema [--out FILE]``: the JSON Schema of recipes, for editors and CI. No torch.

Every registered component is in it, installed plugins' included: regenerate it after
installing a plugin. docs/tooling.md shows how to point an editor's YAML language server at it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="FILE", help="write the schema to FILE instead of printing it")


def run(args: argparse.Namespace) -> int:
    from ..recipe.jsonschema import recipe_schema

    text = json.dumps(recipe_schema(), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    Path(args.out).write_text(text, encoding="utf-8")
    print(args.out)
    return 0
