"""``plmkit validate RECIPE [KEY=VALUE ...]``: exit 0, or every problem and exit 2. No torch."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file (YAML)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.lr=3e-4")


def run(args: argparse.Namespace) -> int:
    from ..recipe.validate import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    for problem in recipe.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{args.recipe}: ok ({recipe.name}: {recipe.model.direction}, {recipe.model.layers} layers, hidden {recipe.model.hidden})")
    return 0
