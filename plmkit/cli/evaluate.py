"""``plmkit eval RUN [--batches N] [--json]``: held-out metrics of a trained run."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run folder (or its model/ folder)")
    parser.add_argument("--batches", type=int, metavar="N", help="held-out batches to use (default: the recipe's eval.batches)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..errors import RecipeError
    from ..interop.tensorboard import log_evaluation
    from ..runs import load_run
    from ..training.progress import describe_metrics

    if args.batches is not None and args.batches < 1:
        raise RecipeError(f"--batches: {args.batches} is not a positive count")
    loaded = load_run(args.run_dir)
    metrics = loaded.evaluate(batches=args.batches)
    note = log_evaluation(loaded, metrics)  # into the run's TensorBoard events, when it keeps them
    if note:
        print(f"warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{loaded.path}: {describe_metrics(metrics)}")
    if metrics.get("unigram_nats_per_token") is not None:
        print(f"  unigram baseline: {metrics['unigram_nats_per_token']:.4f} nats/token, "
              f"{metrics['unigram_bits_per_word']:.3f} bits/word")
    if metrics.get("floor_bits_per_word") is not None and metrics.get("bits_per_word") is not None:
        print(f"  the generator's floor: {metrics['floor_bits_per_word']:.3f} bits/word")
    return 0
