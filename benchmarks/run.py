"""plmkit's benchmark suite: speed, utilisation and memory against transformers and plain PyTorch.

    python benchmarks/run.py                 # everything: benchmarks/RESULTS.md + results/results.json
    python benchmarks/run.py --quick         # every case at tiny sizes (CI): results/quick/
    python benchmarks/run.py --only training generation   # some sections
    python benchmarks/run.py --threads 1     # torch threads (default 2; --quick: 1)
    python benchmarks/run.py --render results/results.json   # RESULTS.md again from a run's JSON (no measuring)

Sections: peak (the machine's matmul peak), training (GPT and BERT vs transformers: step time,
model FLOP utilisation, memory), generation (KV cache vs transformers generate), elmo (a training
step vs a straightforward implementation; one LSTM layer vs torch.nn.LSTM), data (tokenization +
batching vs training throughput per layout), cli (latency vs `import torch`), bf16, compile, and
ablations (each optimisation on and off). See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SECTIONS = ["peak", "training", "generation", "elmo", "data", "cli", "bf16", "compile", "ablations"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every case at tiny sizes, few rounds (CI)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--threads", type=int, help="torch threads (default 2; quick 1: tiny ops on 2 threads of a "
                        "busy machine each wait a scheduler quantum)")
    parser.add_argument("--rounds", type=int, help="timed rounds per comparison (default 7, quick 2)")
    parser.add_argument("--out", type=Path, help="folder for RESULTS.md and results.json "
                        "(default: benchmarks/ and benchmarks/results/, quick: benchmarks/results/quick/)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="write RESULTS.md again from a run's results.json, measuring nothing (after a change "
                        "to the report's wording; the numbers are the run's)")
    parser.add_argument("--probe-memory", nargs=2, metavar=("CASE", "CONTENDER"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.threads = args.threads or (1 if args.quick else 2)
    if args.render:
        return _render(args)
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)  # graph-break notices (the compile section)
    if args.probe_memory:  # internal: one contender's memory, in its own process
        from suite import training

        print(json.dumps(training.memory_probe_main(*args.probe_memory, args.quick)))
        return 0
    from suite import common, report

    rounds = args.rounds or (2 if args.quick else 7)
    settings = {"quick": args.quick, "threads": args.threads, "rounds": rounds, "warmup": 1}
    results = {"machine": common.machine(args.threads), "settings": settings, "sections": {}}
    begun = time.perf_counter()
    for section in args.only or SECTIONS:
        started = time.perf_counter()
        results["sections"][section] = RUNNERS[section](args.quick, rounds, results)
        print(f"{section}: {time.perf_counter() - started:.0f} s (load {common.load()})", file=sys.stderr, flush=True)
    results["machine"]["load_end"] = common.load()
    results["machine"]["wall_s"] = round(time.perf_counter() - begun)
    text = report.markdown(results)
    json_path, md_path = _paths(args)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str))
    md_path.write_text(text)
    print(text)
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    from suite import common, report

    results = json.loads(args.render.read_text())
    results["rendered_at"] = common.machine(args.threads)["plmkit_commit"]
    args.quick = results["settings"]["quick"]
    _, md_path = _paths(args)
    md_path.write_text(report.markdown(results))
    print(f"wrote {md_path}", file=sys.stderr)
    return 0


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.out is not None:
        return args.out / "results.json", args.out / "RESULTS.md"
    if args.quick:
        return HERE / "results/quick/results.json", HERE / "results/quick/RESULTS.md"
    return HERE / "results/results.json", HERE / "RESULTS.md"


# -- the sections ------------------------------------------------------------------------------
def run_peak(quick: bool, rounds: int, results: dict) -> dict:
    import torch

    from suite import common

    n = 256 if quick else 2048
    return {"fp32": common.matmul_peak(torch.float32, n), "bf16": common.matmul_peak(torch.bfloat16, n),
            "threads": torch.get_num_threads()}


def _peak(results: dict) -> float:
    """The fp32 matmul peak (GFLOP/s) measured in this run (measured now if the section was skipped)."""
    if "peak" not in results["sections"]:
        results["sections"]["peak"] = run_peak(results["settings"]["quick"], 0, results)
    return results["sections"]["peak"]["fp32"]["best_gflops"]


def run_training(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import training

    peak = _peak(results)
    out = []
    for name in training.SIZES:
        memory = not quick or name in ("gpt", "bert")  # quick: two cases, in this process
        large = name.endswith("512x6")
        profile = (name == "gpt") if quick else None  # quick: exercise the profiler once
        out.append(training.run_case(name, quick, peak, 1, max(2, rounds - 2) if large else rounds, memory, profile))
        print(f"  training {name} (load {out[-1]['load']})", file=sys.stderr, flush=True)
    return out


def run_generation(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import generation

    hf, ours, info = generation.build_models(quick)
    new = 8 if quick else 48  # prompt 200 + 48 new tokens fit the 256 positions
    prompts = (16, 200) if not quick else (16, 40)
    return [generation.run_case(B, T, new, hf, ours, info, 1, rounds, False if quick else None) for B in (1, 8) for T in prompts]


def run_elmo(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import elmo

    return [elmo.run_step_case(quick, 1, rounds), elmo.run_lstm_case(quick, 1, rounds)]


def run_data(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import data

    return [data.run_layout(layout, quick, 10 if quick else 100, 2 if quick else 5) for layout in data.LAYOUTS]


def run_cli(quick: bool, rounds: int, results: dict) -> dict:
    from suite import cli

    return cli.run(quick, 1 if quick else max(2, rounds - 2))


def run_bf16(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import precision

    return [precision.run_bf16(family, quick, 10 if quick else 200, 1, rounds) for family in ("gpt", "bert")]


def run_compile(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import precision

    return [precision.run_compile("gpt", quick, 1, rounds)]


def run_ablations(quick: bool, rounds: int, results: dict) -> list[dict]:
    from suite import ablations

    return ablations.run(quick, rounds)


RUNNERS = {"peak": run_peak, "training": run_training, "generation": run_generation, "elmo": run_elmo,
           "data": run_data, "cli": run_cli, "bf16": run_bf16, "compile": run_compile, "ablations": run_ablations}

if __name__ == "__main__":
    sys.exit(main())
