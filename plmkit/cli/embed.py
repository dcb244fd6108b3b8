"""``plmkit embed RUN --text TEXT [--layer mix|N] [--json]``: contextual vectors, one line per token."""

from __future__ import annotations

import argparse
import json


def _layer(value: str) -> str | int:
    if value == "mix":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'mix' or a layer number, got {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run folder (or its model/ folder)")
    parser.add_argument("--text", required=True, help="the text to embed")
    parser.add_argument("--layer", type=_layer, default=None,
                        help="'mix' (a scalar_mix head, ELMo's default) or a layer: 0 = embedding, -1 = top (default)")
    parser.add_argument("--json", action="store_true", help='print {"tokens": [...], "vectors": [[...], ...]}')


def run(args: argparse.Namespace) -> int:
    from ..runs import load_run
    from .flags import as_flags

    loaded = load_run(args.run_dir)
    with as_flags(text="--text", layer="--layer"):
        tokens, vectors = loaded.embed(args.text, args.layer)
    rows = vectors.tolist()
    if args.json:
        print(json.dumps({"tokens": tokens, "vectors": rows}))
        return 0
    for token, row in zip(tokens, rows):
        print(token.replace(" ", "\u2581"), " ".join(f"{v:.5f}" for v in row))  # a space shows as U+2581
    return 0
