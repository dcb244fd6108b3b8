"""``plmkit compare RECIPE_OR_RUN... [--budget B] [--seeds N] [--tasks a,b] [--out DIR] ...``.

Pretrains each recipe (once per seed) under the same budget, or loads each trained run, then
evaluates every model on the same downstream tasks (linear probes on frozen features, fine-tuning,
and the direct measures: bits per word, generation) beside the baselines; writes report.md,
report.json and plots into DIR and prints the table. Resumable: run the same command again.
See docs/compare.md.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..evaluation.tasks import DEFAULT_TASKS

    parser.add_argument("sources", nargs="+", metavar="RECIPE_OR_RUN",
                        help="recipe files (or PACKAGE:NAME.yaml) to pretrain, or trained run folders")
    parser.add_argument("--budget", metavar="B",
                        help="pretraining budget per model: a wall time (10m, 1h30m), steps=N, tokens=N (2M) or flops=N "
                             "(1e15); default: each recipe's own train.steps")
    parser.add_argument("--seeds", type=int, default=1, metavar="N", help="pretrain and evaluate with N seeds (default 1)")
    parser.add_argument("--tasks", metavar="A,B", default=",".join(DEFAULT_TASKS),
                        help=f"tasks by name, or .jsonl files of your own (default {','.join(DEFAULT_TASKS)})")
    parser.add_argument("--option", action="append", default=[], metavar="TASK.KEY=VALUE",
                        help="a task parameter, e.g. lm.pseudo_log_likelihood=true (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a recipe override applied to every recipe, e.g. data.documents=2000 (repeatable)")
    parser.add_argument("--out", metavar="DIR", help="comparison folder (default reports/compare-YYYYmmdd-HHMMSS)")
    parser.add_argument("--documents", type=int, default=400, metavar="N",
                        help="held-out documents the tasks are made from (default 400)")
    parser.add_argument("--protocols", default="probe,finetune", metavar="P,Q",
                        help="probe (frozen features + linear probe) and/or finetune (default both)")
    parser.add_argument("--finetune-steps", type=int, default=100, metavar="N", help="fine-tuning steps (default 100)")
    parser.add_argument("--finetune-lrs", default="1e-4,3e-4,1e-3", metavar="A,B",
                        help="fine-tuning learning rates to sweep (default 1e-4,3e-4,1e-3)")
    parser.add_argument("--device", default="auto", help="where probes and fine-tuning run: auto, cpu, cuda (default auto)")


def _floats(text: str) -> list[float]:
    from ..errors import RecipeError

    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise RecipeError(f"--finetune-lrs: expected numbers separated by commas, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import sys

    from ..evaluation.compare import Comparison, Settings

    out = args.out or f"reports/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = Settings(
        sources=list(args.sources), out=out, budget=args.budget, seeds=args.seeds,
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], options=list(args.option),
        overrides=list(args.overrides), documents=args.documents,
        protocols=[p.strip() for p in args.protocols.split(",") if p.strip()],
        finetune_steps=args.finetune_steps, finetune_lrs=_floats(args.finetune_lrs), device=args.device)
    Comparison(settings, argv=["compare", *sys.argv[2:]] if sys.argv[1:2] == ["compare"] else None).run()
    return 0
