"""Side-by-side speed of plmkit's models against transformers and plain PyTorch on the CPU.

    python benchmarks/train_speed.py              # full run, writes results/train_speed.{json,md}
    python benchmarks/train_speed.py --quick      # small batches, 1 + 3 steps: a smoke test,
                                                  # writes results/train_speed-quick.{json,md}
    python benchmarks/train_speed.py --threads 1  # writes results/train_speed-1thread.{json,md}
    python benchmarks/train_speed.py --only gpt --profile   # + each contender's top ops

Cases (sizes read from the recipes, so they follow recipes/*.yaml):

* gpt        recipes/gpt.yaml: GPT-2-shaped causal LM vs transformers GPT2LMHeadModel (sdpa, eager)
* gpt-256    the same with model.hidden=256, batch 16
* bert       recipes/bert.yaml: MLM + NSP vs transformers BertForPreTraining (sdpa, eager)
* elmo-lstm  recipes/elmo.yaml: one lstm_projection layer vs torch.nn.LSTM(proj_size=...)

The transformers model is built first; plmkit's is ``plmkit.interop.hf.from_hf`` of it, so
both hold the same weights, and its state-dict shapes are checked against
``build_model(load_recipe(recipe))``. Before timing, every contender's loss on the same batch
in eval mode must equal the baseline's within 1e-4 (the same computation is being timed).

Timing: torch.set_num_threads(2) unless --threads; fp32; train mode with dropout as each recipe
configures it, the same on every side; AdamW (lr 1e-4) per model; ``warmup`` untimed steps,
then ``steps`` rounds in which every contender runs one step, the order rotating each round,
so load from other processes on a shared machine falls on all contenders alike. Reported: the
median and the minimum per contender, and its time over the baseline's three ways (the median
of the per-round ratios, the ratio of the medians, the ratio of the minima). See README.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
THREADS = 2
TOLERANCE = 1e-4
SEED = 0


@dataclass
class Contender:
    """One model of a case: ``loss(model, batch)`` for a training step, ``infer`` forward-only."""

    name: str
    model: nn.Module
    loss: Callable[[nn.Module, dict], torch.Tensor]
    infer: Callable[[nn.Module, dict], Any]
    check: bool = True  # assert its eval loss equals the baseline's


@dataclass
class Case:
    name: str
    shape: str
    batch: dict
    tokens: int  # B * T
    contenders: list[Contender]  # the first one is the baseline ratios are taken against
    checks: dict[str, float] = field(default_factory=dict)  # contender -> |loss - baseline loss|


# -- the models ---------------------------------------------------------------------------------
def _hf_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    return model(**batch).loss


def _hf_infer(inputs: tuple[str, ...]) -> Callable[[nn.Module, dict], Any]:
    return lambda model, batch: model(**{k: batch[k] for k in inputs})


def _same_shapes(ours: nn.Module, recipe: Any, vocab_size: int) -> None:
    """The model from_hf built has exactly the tensors the recipe's model has."""
    import plmkit

    def shapes(m: nn.Module) -> dict:
        return {k: tuple(v.shape) for k, v in m.state_dict().items()}

    expected = shapes(plmkit.build_model(recipe, vocab_size=vocab_size))
    assert shapes(ours) == expected, f"from_hf model differs from {recipe.name}'s: {set(shapes(ours)) ^ set(expected)}"


def _transformer_sizes(recipe: Any) -> dict:
    m, block = recipe.model, recipe.model.attention.params
    return dict(
        vocab=recipe.tokenizer.params.vocab_size, hidden=m.hidden, layers=m.layers, heads=block.heads,
        ffn=block.ffn or 4 * m.hidden, positions=m.max_positions, eps=block.eps, dropout=block.dropout,
        attn_dropout=block.attn_dropout, embedding_dropout=m.embedding.params.dropout,
    )


def gpt_case(name: str, overrides: list[str], batch_size: int, seq_len: int) -> Case:
    """recipes/gpt.yaml's model vs GPT2LMHeadModel with sdpa and eager attention."""
    import plmkit
    import transformers
    from plmkit.interop.hf import from_hf

    recipe = plmkit.load_recipe(ROOT / "recipes/gpt.yaml", overrides)
    s = _transformer_sizes(recipe)
    models = {}
    for impl in ("sdpa", "eager"):
        config = transformers.GPT2Config(
            vocab_size=s["vocab"], n_positions=s["positions"], n_embd=s["hidden"], n_layer=s["layers"],
            n_head=s["heads"], n_inner=s["ffn"], layer_norm_epsilon=s["eps"], resid_pdrop=s["dropout"],
            embd_pdrop=s["embedding_dropout"], attn_pdrop=s["attn_dropout"], bos_token_id=0, eos_token_id=0,
            activation_function="gelu_pytorch_tanh",  # the same kernel as plmkit's gelu_tanh (see README)
            attn_implementation=impl,
        )
        torch.manual_seed(SEED)
        models[impl] = transformers.GPT2LMHeadModel(config)
    models["eager"].load_state_dict(models["sdpa"].state_dict())
    ours = from_hf(models["sdpa"])
    _same_shapes(ours, recipe, s["vocab"])
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, s["vocab"], (batch_size, seq_len), generator=g)
    # plmkit's causal_lm batches are contiguous chunks: every position is a token (mask all ones)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    infer = _hf_infer(("input_ids", "attention_mask"))
    contenders = [Contender(f"transformers {impl}", models[impl], _hf_loss, infer) for impl in ("sdpa", "eager")]
    contenders.insert(1, Contender("plmkit", ours, _hf_loss, infer))
    shape = f"hidden {s['hidden']}, {s['layers']} layers, {s['heads']} heads, vocab {s['vocab']}, dropout {s['dropout']}"
    return Case(name, f"{shape}; batch {batch_size} x {seq_len}", batch, batch_size * seq_len, contenders)


def bert_case(batch_size: int, seq_len: int) -> Case:
    """recipes/bert.yaml's model (MLM + NSP) vs BertForPreTraining with sdpa and eager attention."""
    import plmkit
    import transformers
    from plmkit.interop.hf import from_hf

    recipe = plmkit.load_recipe(ROOT / "recipes/bert.yaml")
    s = _transformer_sizes(recipe)
    models = {}
    for impl in ("sdpa", "eager"):
        config = transformers.BertConfig(
            vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
            num_attention_heads=s["heads"], intermediate_size=s["ffn"], hidden_act="gelu",
            hidden_dropout_prob=s["dropout"], attention_probs_dropout_prob=s["attn_dropout"],
            max_position_embeddings=s["positions"], type_vocab_size=2, layer_norm_eps=s["eps"], pad_token_id=0,
            attn_implementation=impl,
        )
        torch.manual_seed(SEED)
        models[impl] = transformers.BertForPreTraining(config)
    models["eager"].load_state_dict(models["sdpa"].state_dict())
    ours = from_hf(models["sdpa"])
    _same_shapes(ours, recipe, s["vocab"])
    batch = _bert_batch(batch_size, seq_len, s["vocab"])
    infer = _hf_infer(("input_ids", "attention_mask", "token_type_ids"))
    contenders = [Contender(f"transformers {impl}", models[impl], _hf_loss, infer) for impl in ("sdpa", "eager")]
    contenders.insert(1, Contender("plmkit", ours, _hf_loss, infer))
    shape = f"hidden {s['hidden']}, {s['layers']} layers, {s['heads']} heads, vocab {s['vocab']}, dropout {s['dropout']}"
    return Case("bert", f"{shape}; batch {batch_size} x {seq_len}, right-padded", batch, batch_size * seq_len, contenders)


def _bert_batch(B: int, T: int, vocab: int) -> dict:
    """[CLS] A [SEP] B [SEP] pairs, right-padded to T (lengths T/2..T), 15% of tokens labelled."""
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(5, vocab, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T  # one full row
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
    split = (lengths // 2)[:, None]
    token_type_ids = ((torch.arange(T)[None, :] >= split) & mask.bool()).long()
    ids = ids * mask  # pad id 0
    chosen = (torch.rand(B, T, generator=g) < 0.15) & mask.bool()
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    nsp = torch.randint(0, 2, (B,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": token_type_ids,
            "labels": labels, "next_sentence_label": nsp}


class TorchLSTM(nn.Module):
    """The plain-PyTorch floor: input dropout (as lstm_projection does) + torch.nn.LSTM(proj_size=P).

    nn.LSTM cannot clip the cell or the projection; its gates are ordered i, f, g, o.
    """

    def __init__(self, input_dim: int, cell_dim: int, projection_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(input_dim, cell_dim, proj_size=projection_dim, batch_first=True)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.dropout(x))[0]  # (B, T, P); the benchmark batch has no padding

    def copy_from(self, ours: nn.Module) -> None:
        """plmkit's weights (gates i, f, o, g; one bias) in nn.LSTM's layout (i, f, g, o; two biases)."""
        C = ours.cell_dim
        order = torch.cat([torch.arange(0, 2 * C), torch.arange(3 * C, 4 * C), torch.arange(2 * C, 3 * C)])
        with torch.no_grad():
            self.lstm.weight_ih_l0.copy_(ours.input_linearity.weight[order])
            self.lstm.bias_ih_l0.copy_(ours.input_linearity.bias[order])
            self.lstm.weight_hh_l0.copy_(ours.state_linearity.weight[order])
            self.lstm.bias_hh_l0.zero_()
            self.lstm.weight_hr_l0.copy_(ours.state_projection.weight)


def lstm_case(batch_size: int, seq_len: int) -> Case:
    """The first lstm_projection layer of recipes/elmo.yaml vs torch.nn.LSTM(proj_size) with its weights."""
    import plmkit

    recipe = plmkit.load_recipe(ROOT / "recipes/elmo.yaml")
    torch.manual_seed(SEED)
    ours = plmkit.build_model(recipe, vocab_size=recipe.tokenizer.params.vocab_size).encoder[0][0]
    unclipped = copy.deepcopy(ours)  # the same weights, without clipping: what nn.LSTM computes
    unclipped.cell_clip = unclipped.proj_clip = None
    D, C, P = ours.input_linearity.in_features, ours.cell_dim, ours.output_dim
    floor = TorchLSTM(D, C, P, ours.dropout.p)
    floor.copy_from(ours)
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(batch_size, seq_len, D, generator=g)
    batch = {"x": x, "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
             "target": torch.randn(batch_size, seq_len, P, generator=g)}

    def loss(model: nn.Module, b: dict) -> torch.Tensor:
        return F.mse_loss(model(b["x"], b["attention_mask"]), b["target"])

    def infer(model: nn.Module, b: dict) -> torch.Tensor:
        return model(b["x"], b["attention_mask"])

    clips = f"cell_clip {ours.cell_clip}, proj_clip {ours.proj_clip}"
    contenders = [
        Contender("torch.nn.LSTM", floor, loss, infer),
        Contender(f"plmkit ({clips})", ours, loss, infer, check=False),  # clipping may change the loss
        Contender("plmkit (no clips)", unclipped, loss, infer),
    ]
    shape = f"input {D}, cell {C}, projection {P}, dropout {ours.dropout.p}; batch {batch_size} x {seq_len}, no padding"
    return Case("elmo-lstm", shape, batch, batch_size * seq_len, contenders)


# -- checking and timing ------------------------------------------------------------------------
def check_same_loss(case: Case) -> None:
    """Eval mode, no dropout: every contender's loss on the batch equals the baseline's within 1e-4."""
    losses = {}
    for c in case.contenders:
        c.model.eval()
        with torch.no_grad():
            losses[c.name] = float(c.loss(c.model, case.batch))
    reference = losses[case.contenders[0].name]
    for c in case.contenders:
        case.checks[c.name] = abs(losses[c.name] - reference)
        if c.check:
            assert case.checks[c.name] < TOLERANCE, f"{case.name}: {c.name} loss {losses[c.name]} != {reference}"


def _train_step(c: Contender, optimizer: torch.optim.Optimizer, batch: dict) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    c.loss(c.model, batch).backward()
    optimizer.step()
    return time.perf_counter() - start


def _infer_step(c: Contender, batch: dict) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        c.infer(c.model, batch)
    return time.perf_counter() - start


def interleaved(case: Case, step: Callable[[Contender], float], warmup: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of each contender; each round runs every contender once, in rotating order."""
    for _ in range(warmup):
        for c in case.contenders:
            step(c)
    times: dict[str, list[float]] = {c.name: [] for c in case.contenders}
    n = len(case.contenders)
    for i in range(steps):
        for c in case.contenders[i % n:] + case.contenders[: i % n]:
            times[c.name].append(step(c))
    return times


def run_case(case: Case, warmup: int, steps: int) -> list[dict]:
    check_same_loss(case)
    torch.manual_seed(SEED)
    optimizers = {c.name: torch.optim.AdamW(c.model.parameters(), lr=1e-4) for c in case.contenders}
    for c in case.contenders:
        c.model.train()
    train = interleaved(case, lambda c: _train_step(c, optimizers[c.name], case.batch), warmup, steps)
    for c in case.contenders:
        c.model.eval()
    infer = interleaved(case, lambda c: _infer_step(c, case.batch), warmup, steps)
    return _rows(case, "train step", train) + _rows(case, "forward (inference)", infer)


def _rows(case: Case, mode: str, times: dict[str, list[float]]) -> list[dict]:
    base = times[case.contenders[0].name]
    rows = []
    for c in case.contenders:
        t = times[c.name]
        median = statistics.median(t)
        rows.append({
            "case": case.name, "shape": case.shape, "mode": mode, "contender": c.name,
            "median_ms": 1e3 * median, "min_ms": 1e3 * min(t), "tokens_per_s": case.tokens / median,
            # each round runs every contender back to back: the median of the per-round ratios
            # cancels slow phases of a shared machine better than a ratio of medians
            "ratio_paired": statistics.median(a / b for a, b in zip(t, base)),
            "ratio_of_medians": median / statistics.median(base), "ratio_of_mins": min(t) / min(base),
            "baseline": case.contenders[0].name, "eval_loss_diff": case.checks[c.name],
            "times_ms": [round(1e3 * x, 2) for x in t],
        })
    return rows


def profile_case(case: Case, rows: int = 12) -> str:
    """The ops that take the most time in one training step of each contender (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    parts = []
    for c in case.contenders:
        optimizer = torch.optim.AdamW(c.model.parameters(), lr=1e-4)
        c.model.train()
        _train_step(c, optimizer, case.batch)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            _train_step(c, optimizer, case.batch)
        table = prof.key_averages(group_by_input_shape=True).table(
            sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40, max_shapes_column_width=70)
        parts.append(f"== {case.name}: {c.name}, one train step\n{table}")
    return "\n".join(parts)


# -- reporting ----------------------------------------------------------------------------------
def machine() -> dict:
    import transformers

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=False).stdout.strip() or None
    except OSError:
        commit = None
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "plmkit_commit": commit, "load_average_start": os.getloadavg(),
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def markdown(info: dict, rows: list[dict], settings: dict) -> str:
    lines = [
        "# plmkit training speed vs transformers and plain PyTorch",
        "",
        f"{info['date']} on {info['cpu']} ({info['logical_cpus']} logical CPUs, shared), "
        f"torch {info['torch']} with {info['torch_threads']} threads, transformers {info['transformers']}, "
        f"Python {info['python']}, plmkit {info['plmkit_commit']}; load average {info['load_average_start'][0]:.2f} "
        f"at start, {info['load_average_end'][0]:.2f} at the end; {info['wall_s']} s in all.",
        f"{settings['warmup']} warm-up + {settings['steps']} timed steps per contender, interleaved; "
        "fp32; train mode with dropout as each recipe configures it (shown per case), the same on every side; "
        "AdamW. "
        "ratio = time / the baseline's (the first row of each case; < 1 is faster): paired = median over rounds of "
        "the ratio within the round, then the ratio of the medians and of the minima.",
        "",
    ]
    case = None
    for r in rows:
        if r["case"] != case:
            case = r["case"]
            lines += ["", f"## {case}: {r['shape']}", "",
                      "| mode | contender | median ms | min ms | tokens/s | ratio paired | of medians | of mins "
                      "| eval loss diff |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        lines.append(f"| {r['mode']} | {r['contender']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | "
                     f"{r['tokens_per_s']:,.0f} | {r['ratio_paired']:.2f} | {r['ratio_of_medians']:.2f} | "
                     f"{r['ratio_of_mins']:.2f} | {r['eval_loss_diff']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batches, 1 + 3 steps (~1 min): a smoke test")
    parser.add_argument("--steps", type=int, help="timed rounds (default 7, quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed steps per contender first (default 1)")
    parser.add_argument("--only", nargs="*", help="run only these cases (gpt gpt-256 bert elmo-lstm)")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"torch threads (default {THREADS})")
    parser.add_argument("--profile", action="store_true", help="also print each contender's top ops (one step)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results", help="folder for the results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")  # said in the README
    quick = args.quick
    settings = {"quick": quick, "threads": args.threads, "steps": args.steps or (3 if quick else 7), "warmup": args.warmup or 1}
    builders = {
        "gpt": lambda: gpt_case("gpt", [], *((8, 64) if quick else (32, 128))),
        "gpt-256": lambda: gpt_case("gpt-256", ["model.hidden=256"], *((4, 64) if quick else (16, 128))),
        "bert": lambda: bert_case(*((8, 64) if quick else (32, 128))),
        "elmo-lstm": lambda: lstm_case(*((8, 20) if quick else (32, 40))),
    }
    info, rows, begun = machine(), [], time.perf_counter()
    for name in args.only or builders:
        started = time.perf_counter()
        case = builders[name]()
        rows += run_case(case, settings["warmup"], settings["steps"])
        if args.profile:
            print(profile_case(case))
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    info["load_average_end"] = os.getloadavg()
    info["wall_s"] = round(time.perf_counter() - begun)
    report = markdown(info, rows, settings)
    print(report)
    stem = ("train_speed-quick" if quick else "train_speed") + ("" if args.threads == THREADS else f"-{args.threads}thread")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps({"machine": info, "settings": settings, "rows": rows}, indent=1))
    (args.out / f"{stem}.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
