"""``plmkit export RUN --format hf|safetensors|elmo --out DIR``: a trained run for other tools, with a model card."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a run folder (or its model/ folder)")
    parser.add_argument("--format", default="hf", choices=("hf", "safetensors", "elmo"),
                        help="hf: a transformers folder (BERT/GPT-2 shapes); safetensors: weights + recipe + "
                             "tokenizer, any run; elmo: bilm-tf options.json + weights.hdf5 (char CNN + LSTM biLMs)")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder to create (new or empty)")


def run(args: argparse.Namespace) -> int:
    from ..interop.export import export_run
    from .flags import as_flags

    with as_flags(format="--format"):
        out = export_run(args.run_dir, args.out, args.format)
    print(out)  # stdout: the folder, for scripts
    return 0
