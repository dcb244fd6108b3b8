"""``plmkit report DIR``: render a comparison's report again from what is in DIR (nothing is recomputed)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="the --out folder of plmkit compare")


def run(args: argparse.Namespace) -> int:
    from ..evaluation.report import write_report

    report = write_report(args.folder, echo=print, note=lambda line: print(line, file=sys.stderr))
    if report["missing"]:
        print(f"{len(report['missing'])} cells are missing: the comparison has not finished; run plmkit compare "
              f"again with the same arguments to finish it", file=sys.stderr)
    return 0
