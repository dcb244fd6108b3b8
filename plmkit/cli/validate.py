"""``plmkit validate RECIPE [RECIPE ...] [KEY=VALUE ...]``: each recipe checked and reported. No torch.

Every recipe is validated (the overrides apply to each): ``path: ok (...)`` on stdout for a
good one, every problem on stderr (``file:line: key: message``) for a bad one. Exit 0 when all
are good, 2 when any recipe is wrong (1 when the only failures are a broken plugin's). This is
what the pre-commit hook in .pre-commit-hooks.yaml runs on the staged recipe files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe files (YAML) or PACKAGE:NAME.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.lr=3e-4")


def _split(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Recipe files and KEY=VALUE overrides, in any order (a file whose name has '=' stays a file)."""
    recipes = [a for a in arguments if "=" not in a or Path(a).is_file()]
    return recipes, [a for a in arguments if a not in recipes]


def run(args: argparse.Namespace) -> int:
    from ..errors import PlmkitError
    from ..recipe.validate import load_recipe
    from .main import _report as report

    recipes, overrides = _split([*args.recipes, *args.overrides])
    if not recipes:
        from ..errors import RecipeError

        raise RecipeError("plmkit validate: give at least one recipe file (e.g. recipes/gpt.yaml)")
    codes = []
    for path in recipes:
        try:
            recipe = load_recipe(path, overrides)
        except PlmkitError as error:  # reported as plmkit reports any error, and on to the next file
            codes.append(report(error))
            continue
        for problem in recipe.warnings:
            print(f"warning: {problem}", file=sys.stderr)
        m = recipe.model
        print(f"{path}: ok ({recipe.name}: {m.direction}, {m.layers} layers, hidden {m.hidden})")
    if len(recipes) > 1 and codes:
        print(f"{len(codes)} of {len(recipes)} recipes failed", file=sys.stderr)
    return max(codes, default=0)  # 2 when any recipe is wrong
