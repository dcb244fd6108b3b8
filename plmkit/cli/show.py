"""``plmkit show RECIPE [KEY=VALUE ...]``: the resolved recipe, defaults filled in, and its size."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file (YAML)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. model.layers=2")
    parser.add_argument("--no-size", action="store_true", help="skip the parameter count (no torch import)")


def run(args: argparse.Namespace) -> int:
    from ..recipe.validate import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    print(recipe.to_yaml().rstrip())
    if not args.no_size:
        from ..recipe.summary import summarize

        print()
        print(summarize(recipe))
    return 0
