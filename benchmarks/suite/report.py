"""RESULTS.md from the results of one run: the targets first, then each section's tables, then, for
every missed target, the profile of the miss and the next change to try."""

from __future__ import annotations

from typing import Any

# The next change to try when a target is missed (printed only for a miss, beside its profile).
NEXT = {
    "gpt": "The step is matmul-bound, and the LM head is already fused with the cross-entropy (gpt.yaml's "
           "fused_loss: row chunks, no (B*T, V) logits or log-softmax): in the profiles plmkit's GEMMs take "
           "the time transformers' take on the same kernels, so only the non-GEMM remainder (layer norms, "
           "bias + GELU, the attention's q/k/v split, SDPA and their backward: at most the share of the step "
           "not spent at the matmul peak, 1 - MFU) is left to win without executing fewer FLOPs. To try: fuse "
           "bias + GELU and the q/k/v split into the GEMMs' epilogues (torch.compile does both, see the compile section, but does not "
           "pay yet on this CPU), which is also the way to the 85%-of-peak alternative.",
    "bert": "After decoding only the labelled rows, the step is the encoder's GEMMs and attention on padded "
            "rows: next, drop the padding (pack the rows' real tokens, varlen attention) and fuse bias + GELU.",
    "generation": "Per-token time is Python and dispatch overhead (dozens of small ops per layer at batch 1): "
                  "next, a preallocated static cache with one fused qkv-to-cache write per layer, and capturing "
                  "the decode step as one graph (torch.compile with a static cache, or CUDA graphs on a GPU).",
    "elmo": "The LSTM recurrence is a Python loop of small matmuls: next, a fused LSTM-with-projection cell "
            "(one kernel per step for gates, clip and projection) or running both directions' stacks in one batch.",
    "data": "Tokenization is the slower stage: next, tokenize in parallel worker processes and cache the "
            "encoded records on disk.",
    "memory": "The gap is the logits: next, the chunked LM-head + cross-entropy (see gpt) so that no (B*T, V) "
              "float32 logits, log-softmax and gradient are alive at once.",
    "cli": "Startup imports: next, defer more imports (pydantic model construction, omegaconf) until needed.",
}


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _load(entry: dict) -> str:
    a, b = entry.get("load", (None, None))
    return f"load {a} -> {b}"


def targets(results: dict) -> list[list[Any]]:
    """One row per target: what, goal, measured, met."""
    s = results["sections"]
    rows = []
    for r in s.get("training", []):
        t = r["target"]
        rows.append([f"{r['case']} training step", t["goal"], f"{t['speedup']:.2f}x, MFU {t['mfu']:.0%}", _met(t["met"])])
    for r in s.get("generation", []):
        if "target" in r:
            t = r["target"]
            rows.append([r["case"], t["goal"], f"greedy {t['speedup']:.2f}x, generate_ids {t['speedup_generate_ids']:.2f}x",
                         _met(t["met"])])
    for r in s.get("elmo", []):
        if "target" in r:
            rows.append([r["case"], r["target"]["goal"], f"{r['target']['speedup']:.2f}x", _met(r["target"]["met"])])
    for r in s.get("data", []):
        rows.append([r["case"], r["target"]["goal"], f"{r['ratio']:.1f}x", _met(r["target"]["met"])])
    for r in s.get("training", []):
        m = memory_target(r)
        if m:
            rows.append([f"{r['case']} peak memory", "<= transformers (tensors and RSS)", m["text"], _met(m["met"])])
    if "cli" in s:
        c = s["cli"]
        rows.append(["CLI latency", c["target"]["goal"], f"--help {c['help_ratio']:.2f}x, validate {c['validate_ratio']:.2f}x",
                     _met(c["target"]["met"])])
    return rows


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def memory_target(r: dict) -> dict | None:
    mem = r.get("memory")
    if not mem:
        return None
    ours = mem["plmkit"]
    theirs = {k: v for k, v in mem.items() if k != "plmkit"}
    tensors = min(v["tensor_peak_mb"] for v in theirs.values())
    rss = min(v["rss_step_mb"] for v in theirs.values())
    met = ours["tensor_peak_mb"] <= tensors * 1.001 and ours["rss_step_mb"] <= max(rss, 0) + 8  # 8 MiB: allocator noise
    return {"met": met, "text": f"tensors {ours['tensor_peak_mb']:.0f} vs {tensors:.0f} MiB, "
                                f"step RSS {ours['rss_step_mb']:.0f} vs {rss:.0f} MiB"}


def markdown(results: dict) -> str:
    m, st = results["machine"], results["settings"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    lines = [
        "# plmkit benchmarks" + (" (--quick: tiny sizes, a smoke test; not results)" if st["quick"] else ""),
        "",
        f"`python benchmarks/run.py{' --quick' if st['quick'] else ''}` on {m['date']}: {m['cpu']}, {m['logical_cpus']} "
        f"logical CPUs ({flags}); torch {m['torch']} with {m['torch_threads']} threads, transformers "
        f"{m['transformers']}, Python {m['python']}, plmkit {m['plmkit_commit']}. **Load average {m['load_start']} at "
        f"the start, {m.get('load_end')} at the end** (each section below gives its own); {m.get('wall_s')} s in all. "
        f"{st['warmup']} warm-up + {st['rounds']} timed rounds per comparison, contenders interleaved; ratio = time / "
        "the baseline's (< 1 is faster): *paired* = median over rounds of the ratio within the round (the robust one "
        "on a shared machine), then the ratio of the medians and of the minima. This file is the run's output, unedited"
        + (f" (rendered again from its results.json by `run.py --render` at plmkit {results['rendered_at']})."
           if results.get("rendered_at") else "."),
        "",
    ]
    rows = targets(results)
    if rows:
        lines += ["## Targets", ""] + _table(["what", "target", "measured", ""], rows)
    s = results["sections"]
    for name, render in SECTIONS:
        if name in s:
            lines += render(s[name], results)
    lines += misses(results)
    return "\n".join(lines) + "\n"


def peak_section(p: dict, results: dict) -> list[str]:
    return ["## Matmul peak", "",
            f"{p['fp32']['n']}x{p['fp32']['n']} matmul at {p['threads']} threads: fp32 **{p['fp32']['best_gflops']:.0f} "
            f"GFLOP/s** (best of 10; median {p['fp32']['median_gflops']:.0f}); bf16 ({p['bf16']['n']}x{p['bf16']['n']}) "
            f"{p['bf16']['best_gflops']:.1f} GFLOP/s. MFU below = model FLOP/s over the fp32 best.", ""]


def training_section(cases: list[dict], results: dict) -> list[str]:
    lines = ["## Training steps vs transformers", "",
             "Same weights (`from_hf`), same batch, eval losses equal (last column) and plmkit's training path equal "
             "with dropout off; AdamW(fused) on every side. Model GFLOP = counted on the baseline (every position "
             "decoded); executed GFLOP = counted on each contender. MFU = model GFLOP/s / the fp32 matmul peak "
             "(median step; best step in brackets).", ""]
    for r in cases:
        lines += [f"### {r['case']}: {r['shape']}; {r['parameters']:,} parameters, {r['model_gflop']:.1f} model GFLOP/step "
                  f"({_load(r)})", ""]
        rows = [[n, _f(1e3 * c["median_s"], 1), _f(1e3 * c["min_s"], 1), f"{c['tokens_per_s']:,.0f}", _f(c["ratio_paired"]),
                 _f(c["ratio_of_medians"]), _f(c["ratio_of_mins"]), _f(c["executed_gflop"], 1),
                 f"{c['model_gflops_per_s']:.0f}", f"{c['mfu']:.0%} ({c['mfu_best']:.0%})", f"{c['eval_loss_diff']:.1e}"]
                for n, c in r["contenders"].items()]
        lines += _table(["contender", "median ms", "min ms", "tokens/s", "paired", "of medians", "of mins", "executed GFLOP",
                         "model GFLOP/s", "MFU", "eval loss diff"], rows)
        if r.get("memory"):
            rows = [[n, _f(v["tensor_peak_mb"], 1), _f(v["rss_step_mb"], 1), _f(v["rss_peak_mb"], 0), _f(v["weights_mb"], 1)]
                    for n, v in r["memory"].items()]
            lines += ["Peak memory of one step, each contender alone in a fresh process:", ""]
            lines += _table(["contender", "tensors high-water MiB", "RSS rise in the step MiB", "process peak RSS MiB",
                             "weights MiB"], rows)
    return lines


def generation_section(cases: list[dict], results: dict) -> list[str]:
    lines = ["## Generation (greedy, KV cache) vs transformers generate", "",
             f"{cases[0]['shape']}; identical tokens asserted for every contender.", ""]
    for r in cases:
        lines += [f"### batch {r['batch']}, prompt {r['prompt']}, {r['new_tokens']} new tokens ({_load(r)})", ""]
        rows = [[n, _f(c["ms_per_token"], 2), f"{c['tokens_per_s']:,.0f}", _f(c["ratio_paired"]), _f(c["ratio_of_medians"]),
                 _f(c["ratio_of_mins"])] for n, c in r["contenders"].items()]
        lines += _table(["contender", "ms per token", "tokens/s", "paired", "of medians", "of mins"], rows)
    return lines


def elmo_section(cases: list[dict], results: dict) -> list[str]:
    lines = ["## ELMo", ""]
    for r in cases:
        lines += [f"### {r['case']}: {r['shape']} ({_load(r)})", ""]
        if "checks" in r:
            lines += ["Eval-mode differences (max abs): " + ", ".join(f"{k} {v:.1e}" for k, v in r["checks"].items()), ""]
        rows = [[n, _f(1e3 * c["median_s"], 1), _f(1e3 * c["min_s"], 1), f"{c['tokens_per_s']:,.0f}", _f(c["ratio_paired"]),
                 _f(c["ratio_of_medians"]), _f(c["ratio_of_mins"])] for n, c in r["contenders"].items()]
        lines += _table(["contender", "median ms", "min ms", "tokens/s", "paired", "of medians", "of mins"], rows)
    return lines


def data_section(cases: list[dict], results: dict) -> list[str]:
    rows = [[r["layout"], r["recipe"], r["documents"], f"{r['tokenize_tokens_per_s']:,.0f}", f"{r['batch_tokens_per_s']:,.0f}",
             f"{r['pipeline_tokens_per_s']:,.0f}", f"{r['train_tokens_per_s']:,.0f}", _f(r["ratio"], 1), str(r["load"])]
            for r in cases]
    return ["## Data pipeline vs training throughput (tokens/s)", ""] + _table(
        ["layout", "recipe", "documents", "tokenize", "batch", "pipeline", "train", "pipeline / train", "load"], rows)


def cli_section(c: dict, results: dict) -> list[str]:
    rows = [[name, _f(t, 3), _f(t / c["median_s"]['python -c "import torch"'])] for name, t in c["median_s"].items()]
    rows.append(["`plmkit run recipes/gpt.yaml` to its first step", _f(c["first_step_median_s"], 2), ""])
    return [f"## CLI latency ({_load(c)})", ""] + _table(["command", "median s", "/ import torch"], rows)


def bf16_section(cases: list[dict], results: dict) -> list[str]:
    flags = results["machine"]["cpu_flags"]
    native = flags.get("avx512_bf16") or flags.get("amx_bf16")
    lines = ["## bf16 on the CPU", "",
             ("This CPU has bf16 instructions (AVX512-BF16/AMX)." if native else
              "This CPU has **no bf16 instructions** (no AVX512-BF16, no AMX): bf16 is emulated in fp32 arithmetic "
              "with conversions, so it is expected to be slower; fp32 stays the default."), ""]
    rows = [[f"{r['family']}, {r['shape']}", r["batch"], _f(1e3 * r["contenders"]["fp32"]["median_s"], 1), _f(1e3 * r["contenders"]["bf16"]["median_s"], 1),
             f"{r['speedup']:.2f}x", r["steps"], f"{r['max_abs_drift']:.3f}", f"{r['final_fp32']:.3f} / {r['final_bf16']:.3f}",
             str(r["load"])] for r in cases]
    return lines + _table(["model", "batch", "fp32 ms", "bf16 ms", "bf16 speed-up", "steps", "max loss drift",
                           "mean loss of the last 10%: fp32 / bf16", "load"], rows)


def compile_section(cases: list[dict], results: dict) -> list[str]:
    rows = [[r["family"], r["backend"], r["batch"], _f(r["compile_s"], 1), _f(1e3 * r["contenders"]["plain"]["median_s"], 1),
             _f(1e3 * r["contenders"]["compiled"]["median_s"], 1), f"{r['speedup']:.2f}x", f"{r['eval_loss_diff']:.1e}",
             str(r["load"])] for r in cases]
    return ["## torch.compile (device: {compile: true})", "",
            "Compile time = the first step (cold compiler cache) minus a steady step.", ""] + _table(
        ["model", "backend", "batch", "compile s", "plain ms", "compiled ms", "speed-up", "loss diff", "load"], rows)


def ablations_section(cases: list[dict], results: dict) -> list[str]:
    rows = [[r["case"], r["shape"], f"{r['baseline']}: {1e3 * r['contenders'][r['baseline']]['median_s']:.1f} ms",
             f"{r['optimised']}: {1e3 * r['contenders'][r['optimised']]['median_s']:.1f} ms", f"{r['speedup']:.2f}x", str(r["load"])]
            for r in cases]
    return ["## Optimisations, on and off in this run", ""] + _table(["change", "measured on", "before", "after",
                                                                        "speed-up (paired)", "load"], rows)


def misses(results: dict) -> list[str]:
    s = results["sections"]
    lines = []
    for r in s.get("training", []):
        if not r["target"]["met"]:
            lines += _miss(f"{r['case']} training step: {r['target']['speedup']:.2f}x, MFU {r['target']['mfu']:.0%} "
                           f"({r['target']['goal']})", r.get("profile"), NEXT[r["family"]])
        m = memory_target(r)
        if m and not m["met"]:
            lines += _miss(f"{r['case']} peak memory: {m['text']}", None, NEXT["memory"])
    for r in s.get("generation", []):
        if "target" in r and not r["target"]["met"]:
            lines += _miss(f"{r['case']}: {r['target']['speedup']:.2f}x ({r['target']['goal']})", r.get("profile"), NEXT["generation"])
    for r in s.get("elmo", []):
        if "target" in r and not r["target"]["met"]:
            lines += _miss(f"{r['case']}: {r['target']['speedup']:.2f}x", r.get("profile"), NEXT["elmo"])
    for r in s.get("data", []):
        if not r["target"]["met"]:
            lines += _miss(f"{r['case']}: {r['ratio']:.1f}x", None, NEXT["data"])
    if "cli" in s and not s["cli"]["target"]["met"]:
        lines += _miss("CLI latency", None, NEXT["cli"])
    return (["## Missed targets: profiles and the next change", ""] + lines) if lines else []


def _miss(title: str, profile: dict | None, next_change: str) -> list[str]:
    lines = [f"### {title}", "", f"Next: {next_change}", ""]
    for who, ops in (profile or {}).items():
        lines += [f"torch.profiler, one step of {who}, top ops by self CPU time:", ""]
        lines += _table(["op", "input shapes", "calls", "self ms", "share"],
                        [[o["op"], o["shapes"], o["calls"], o["self_ms"], f"{o['share']:.0%}"] for o in ops])
    return lines


SECTIONS = [("peak", peak_section), ("training", training_section), ("generation", generation_section),
            ("elmo", elmo_section), ("data", data_section), ("cli", cli_section), ("bf16", bf16_section),
            ("compile", compile_section), ("ablations", ablations_section)]
