"""``plmkit generate RUN --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]``.

Continues a prompt with a trained causal model and prints prompt + continuation, each piece as
soon as it is drawn (there is no cap on --max-tokens: past the model's max_positions the context
slides; Ctrl-C or a closed pipe stops it). Sampling follows transformers' order (temperature,
top-k, top-p); temperature 0 is greedy. A model that is not causal is a usage mistake (exit 2).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run folder (or its model/ folder) of a causal model")
    parser.add_argument("--prompt", required=True, help="text to continue")
    parser.add_argument("--max-tokens", type=int, default=50, metavar="N", help="most tokens to add (default 50)")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T", help="0: greedy (default 1.0)")
    parser.add_argument("--top-k", type=int, default=None, metavar="K", help="sample among the K most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, metavar="P", help="sample among the smallest set of mass >= P")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from ..generation import check_sampling, stream_text
    from ..runs import load_run

    from .flags import as_flags

    flags = {name: "--" + name.replace("_", "-") for name in ("prompt", "max_tokens", "temperature", "top_k", "top_p", "seed")}
    with as_flags(**flags):
        check_sampling(args.temperature, args.top_k, args.top_p, args.max_tokens, args.seed)  # before loading anything
        loaded = load_run(args.run_dir)
        pieces = stream_text(loaded, args.prompt, args.max_tokens, args.temperature, args.top_k, args.top_p, args.seed)
        for piece in pieces:  # each piece as soon as it is drawn: a long generation shows its progress
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
