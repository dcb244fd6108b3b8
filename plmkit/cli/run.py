"""``plmkit run RECIPE [KEY=VALUE ...] [--out DIR] [--resume DIR] [--accept-changes] [--dry-run]``.

Trains the model a recipe describes into a run folder. ``--resume DIR`` continues a run from
its last checkpoint; without a RECIPE it uses the recipe saved in DIR (overrides still apply,
e.g. ``plmkit run --resume DIR train.steps=1200 --accept-changes`` trains on).
With ``device.type=ddp device.processes=N`` it starts torchrun with N processes of itself
(cli/launch.py); under torchrun only rank 0 prints the run folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe file (YAML); optional with --resume")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. train.steps=50")
    parser.add_argument("--out", metavar="DIR", help="run folder to create (default runs/NAME-YYYYmmdd-HHMMSS)")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    parser.add_argument("--accept-changes", action="store_true",
                        help="with --resume: continue although the recipe differs from the saved one")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and build the model on the meta device; print its size; train nothing")


def _load(args: argparse.Namespace):
    """The recipe (file + overrides); with --resume and no recipe file, the run's saved recipe."""
    from ..errors import RecipeError, RunError
    from ..recipe.validate import load_recipe
    from ..training.rundir import load_saved_recipe

    positional = ([args.recipe] if args.recipe else []) + list(args.overrides)
    if args.resume and not Path(args.resume).is_dir():
        raise RunError(f"--resume {args.resume}: no such run folder")
    if args.resume and (not positional or "=" in positional[0]):
        if not (Path(args.resume) / "recipe.yaml").is_file():
            raise RunError(f"--resume {args.resume}: not a plmkit run folder (no recipe.yaml)")
        return load_saved_recipe(args.resume, positional)
    if not positional:
        raise RecipeError("plmkit run: give a recipe file (e.g. recipes/gpt.yaml) or --resume RUN_DIR")
    return load_recipe(positional[0], positional[1:])


def run(args: argparse.Namespace) -> int:
    recipe = _load(args)
    for problem in recipe.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(recipe, args)
    from .launch import launch, wanted

    processes = wanted(recipe)
    if processes:
        return launch(processes, list(getattr(args, "argv", None) or sys.argv[1:]))
    from ..training.loop import Terminated, train

    try:
        result = train(recipe, out_dir=args.out, resume=args.resume, accept_changes=args.accept_changes)
    except Terminated:  # SIGTERM: the loop checkpointed and said how to continue
        from .main import quiet_rank

        if not quiet_rank():
            print("terminated", file=sys.stderr)
        return Terminated.exit_code
    if result.summary:  # rank 0 (the only rank that writes one)
        print(result.run_dir)  # stdout: the run folder, for scripts
    return 0


def _dry_run(recipe, args: argparse.Namespace) -> int:
    """What ``run`` would do, up to the memory check it makes before allocating anything."""
    from ..models.build import build_without_data
    from ..recipe.summary import check_memory, summarize
    from ..training.rundir import default_run_dir

    placement = recipe.device.component.build(recipe.device.params, None)
    size = summarize(recipe)  # a size torch cannot describe: one line, exit 2
    check_memory(recipe, placement.device)  # exit 1, as run would, if it cannot fit
    build_without_data(recipe)  # device, data source, batching, model: what validates must build
    out = args.resume or args.out or default_run_dir(recipe)
    print(f"{recipe.name}: {recipe.description}".rstrip(": "))
    print(size)
    print(f"# would train {recipe.train.steps} steps of {recipe.train.batch_size} x {recipe.train.seq_len} tokens "
          f"on {placement.describe()} into {out} (dry run: nothing trained, nothing written)")
    return 0
