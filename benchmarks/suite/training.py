"""Training steps of GPT and BERT, plmkit vs transformers (sdpa and eager), with their model FLOP
utilisation, peak memory and, where a target is missed, the profile.

Each case builds the transformers model first; plmkit's is ``plmkit.interop.hf.from_hf`` of it
(so both hold the same weights), with the overrides that make it train as plmkit's recipes do:
GPT ``model.head.lm.fused_loss=true`` (recipes/gpt.yaml: the softmax projection fused with the
loss, no (B, T, V) logits kept), BERT ``model.head.mlm.predict=masked`` (recipes/bert.yaml: the
masked-LM head decodes only the labelled rows). Before timing, every
contender's eval-mode loss must equal the baseline's within 1e-4, and plmkit's *training-mode*
loss with dropout off must equal transformers' (the masked path is the one being timed).

Step = ``zero_grad`` + forward with labels + backward + ``AdamW(fused=True).step()`` (what
plmkit's optimiser and transformers' Trainer (torch >= 2.8) both use), fp32, dropout as each
recipe configures it, the same on every side. FLOPs are counted with torch's FlopCounterMode:
*model* FLOPs on the baseline (the standard computation: every position decoded), *executed*
FLOPs on each contender.
"""

from __future__ import annotations

import copy
import gc
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .common import ROOT, SEED, TOLERANCE, Contender, TensorHighWater, interleaved, load, ratios, top_ops

GPT_TARGET, BERT_TARGET, MFU_TARGET = 1.25, 1.5, 0.85  # speed-ups over transformers sdpa; share of the peak

# name -> (recipe, overrides, batch, seq_len); quick sizes are tiny versions of the same shapes
SIZES = {
    "gpt": ("gpt", [], 32, 128),
    "gpt-256": ("gpt", ["model.hidden=256", "tokenizer.vocab_size=8192"], 16, 128),
    "gpt-512x6": ("gpt", ["model.hidden=512", "model.layers=6", "model.attention.heads=8",
                          "tokenizer.vocab_size=8192"], 16, 128),
    "bert": ("bert", [], 32, 128),
    "bert-256": ("bert", ["model.hidden=256", "tokenizer.vocab_size=8192"], 16, 128),
    "bert-512x6": ("bert", ["model.hidden=512", "model.layers=6", "model.attention.heads=8",
                            "tokenizer.vocab_size=8192"], 16, 128),
}
QUICK = {"gpt": (["model.hidden=32", "model.layers=2", "tokenizer.vocab_size=300"], 4, 32),
         "gpt-256": (["model.hidden=64", "model.layers=2", "tokenizer.vocab_size=512"], 4, 32),
         "gpt-512x6": (["model.hidden=64", "model.layers=3", "tokenizer.vocab_size=512"], 4, 32)}


@dataclass
class TrainCase:
    name: str
    family: str  # gpt | bert
    shape: str
    models: dict[str, nn.Module]  # contender name -> model; the first is the baseline
    batch: dict[str, torch.Tensor]
    parameters: int
    checks: dict[str, float] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.batch["input_ids"].numel()

    def step_fn(self, name: str, optimizer: torch.optim.Optimizer):
        model = self.models[name]

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            model(**self.batch).loss.backward()
            optimizer.step()
        return step


def sizes(name: str, quick: bool) -> tuple[str, list[str], int, int]:
    recipe, overrides, B, T = SIZES[name]
    if quick:
        overrides, B, T = QUICK.get(name.replace("bert", "gpt"), QUICK["gpt"])
        overrides = [*overrides, *(["train.seq_len=32"] if recipe == "bert" else [])]
    return recipe, overrides, B, T


def build_case(name: str, quick: bool, only: str | None = None) -> TrainCase:
    """The case's models with the same weights and its batch; ``only``: build just that contender."""
    import plmkit

    recipe_name, overrides, B, T = sizes(name, quick)
    recipe = plmkit.load_recipe(ROOT / f"recipes/{recipe_name}.yaml", overrides)
    family = "gpt" if recipe_name == "gpt" else "bert"
    build = _gpt if family == "gpt" else _bert
    models, s = build(recipe, only)
    batch = _gpt_batch(B, T, s["vocab"]) if family == "gpt" else _bert_batch(B, T, s["vocab"])
    anyone = next(iter(models.values()))
    shape = (f"hidden {s['hidden']}, {s['layers']} layers, {s['heads']} heads, vocab {s['vocab']}, dropout "
             f"{s['dropout']}; batch {B} x {T}" + (", right-padded, 15% labelled" if family == "bert" else ""))
    params = sum(p.numel() for p in anyone.parameters())
    return TrainCase(name, family, shape, models, batch, params)


def _sizes(recipe: Any) -> dict:
    m, block = recipe.model, recipe.model.attention.params
    return dict(vocab=recipe.tokenizer.params.vocab_size, hidden=m.hidden, layers=m.layers, heads=block.heads,
                ffn=block.ffn or 4 * m.hidden, positions=m.max_positions, eps=block.eps, dropout=block.dropout,
                attn_dropout=block.attn_dropout, embedding_dropout=m.embedding.params.dropout)


def _gpt(recipe: Any, only: str | None) -> tuple[dict[str, nn.Module], dict]:
    import transformers
    from plmkit.interop.hf import from_hf

    s = _sizes(recipe)
    hf = {}
    for impl in ("sdpa", "eager"):
        config = transformers.GPT2Config(
            vocab_size=s["vocab"], n_positions=s["positions"], n_embd=s["hidden"], n_layer=s["layers"],
            n_head=s["heads"], n_inner=s["ffn"], layer_norm_epsilon=s["eps"], resid_pdrop=s["dropout"],
            embd_pdrop=s["embedding_dropout"], attn_pdrop=s["attn_dropout"], bos_token_id=0, eos_token_id=0,
            activation_function="gelu_pytorch_tanh",  # the kernel of plmkit's gelu_tanh (gelu_new is a Python composite)
            attn_implementation=impl)
        torch.manual_seed(SEED)
        hf[impl] = transformers.GPT2LMHeadModel(config)
    fused = ["model.head.lm.fused_loss=true"]  # as recipes/gpt.yaml trains
    return _contenders(hf, lambda m: from_hf(m, overrides=fused), only), s


def _bert(recipe: Any, only: str | None) -> tuple[dict[str, nn.Module], dict]:
    import transformers
    from plmkit.interop.hf import from_hf

    s = _sizes(recipe)
    hf = {}
    for impl in ("sdpa", "eager"):
        config = transformers.BertConfig(
            vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
            num_attention_heads=s["heads"], intermediate_size=s["ffn"], hidden_act="gelu",
            hidden_dropout_prob=s["dropout"], attention_probs_dropout_prob=s["attn_dropout"],
            max_position_embeddings=s["positions"], type_vocab_size=2, layer_norm_eps=s["eps"], pad_token_id=0,
            attn_implementation=impl)
        torch.manual_seed(SEED)
        hf[impl] = transformers.BertForPreTraining(config)
    masked = ["model.head.mlm.predict=masked"]  # as recipes/bert.yaml trains
    return _contenders(hf, lambda m: from_hf(m, overrides=masked), only), s


def _contenders(hf: dict[str, nn.Module], convert, only: str | None) -> dict[str, nn.Module]:
    hf["eager"].load_state_dict(hf["sdpa"].state_dict())
    models = {"transformers sdpa": hf["sdpa"], "plmkit": convert(hf["sdpa"]), "transformers eager": hf["eager"]}
    return models if only is None else {only: models[only]}


def _gpt_batch(B: int, T: int, vocab: int) -> dict:
    ids = torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(SEED))
    # plmkit's causal batches are contiguous chunks: every position is a token (mask all ones)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def _bert_batch(B: int, T: int, vocab: int) -> dict:
    """[CLS] A [SEP] B [SEP] pairs, right-padded to T (lengths T/2..T), 15% of tokens labelled."""
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(5, vocab, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    lengths[0] = T  # one full row
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
    token_type_ids = ((torch.arange(T)[None, :] >= (lengths // 2)[:, None]) & mask.bool()).long()
    labelled = (torch.rand(B, T, generator=g) < 0.15) & mask.bool()
    labelled[:, 1] = True  # every row has a label
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": token_type_ids,
            "labels": torch.where(labelled, ids, torch.full_like(ids, -100)),
            "next_sentence_label": torch.randint(0, 2, (B,), generator=g)}


# -- checks -----------------------------------------------------------------------------------
def check_same_loss(case: TrainCase) -> None:
    """Eval mode: every loss equals the baseline's; train mode without dropout: plmkit's too."""
    losses = {}
    for name, model in case.models.items():
        model.eval()
        with torch.no_grad():
            losses[name] = float(model(**case.batch).loss)
    reference = next(iter(losses.values()))
    for name, value in losses.items():
        case.checks[name] = abs(value - reference)
        assert case.checks[name] < TOLERANCE, f"{case.name}: {name} loss {value} != {reference}"
    quiet = _without_dropout(case.models["plmkit"]).train()
    with torch.no_grad():
        trained = float(quiet(**case.batch).loss)  # the training path (fused loss; BERT: masked rows only)
    case.checks["plmkit (train path)"] = abs(trained - reference)
    assert case.checks["plmkit (train path)"] < TOLERANCE, f"{case.name}: plmkit's training loss {trained} != {reference}"


def _without_dropout(model: nn.Module) -> nn.Module:
    quiet = copy.deepcopy(model)
    for module in quiet.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if hasattr(module, "attn_dropout"):
            module.attn_dropout = 0.0
    return quiet


def counted_flops(model: nn.Module, batch: dict) -> int:
    """Matmul FLOPs of one forward + backward (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as counter:
        model(**batch).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


# -- running ----------------------------------------------------------------------------------
def run_case(name: str, quick: bool, peak_gflops: float, warmup: int, rounds: int, memory: bool,
             profile: bool | None = None) -> dict[str, Any]:
    """One case; ``profile``: the top ops of plmkit and the baseline (default: when the target is missed)."""
    load_before = load()
    case = build_case(name, quick)
    check_same_loss(case)
    model_flops = counted_flops(case.models["transformers sdpa"], case.batch)
    executed = {n: counted_flops(m, case.batch) for n, m in case.models.items()}
    torch.manual_seed(SEED)
    steps = {n: case.step_fn(n, torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True)) for n, m in case.models.items()}
    for model in case.models.values():
        model.train()
    times = interleaved([Contender(n, s) for n, s in steps.items()], warmup, rounds)
    stats = ratios(times, "transformers sdpa")
    for n, st in stats.items():
        st["tokens_per_s"] = case.tokens / st["median_s"]
        st["executed_gflop"] = executed[n] / 1e9
        st["model_gflops_per_s"] = model_flops / st["median_s"] / 1e9
        st["mfu"] = st["model_gflops_per_s"] / peak_gflops
        st["mfu_best"] = model_flops / st["min_s"] / 1e9 / peak_gflops
        st["eval_loss_diff"] = case.checks[n]
    result = {"case": name, "family": case.family, "shape": case.shape, "parameters": case.parameters,
              "tokens": case.tokens, "model_gflop": model_flops / 1e9, "contenders": stats,
              "train_path_loss_diff": case.checks["plmkit (train path)"], "load": [load_before, load()]}
    result["target"] = _target(result)
    if (not result["target"]["met"]) if profile is None else profile:
        result["profile"] = {"plmkit": top_ops(steps["plmkit"]), "transformers sdpa": top_ops(steps["transformers sdpa"])}
    if memory:  # quick: in this process (the RSS numbers then mean little), else each contender alone
        result["memory"] = ({n: measure_memory(case.models[n], steps[n]) for n in case.models} if quick
                            else {n: probe_memory(name, n, quick) for n in case.models})
    del case, steps
    gc.collect()
    return result


def _target(result: dict) -> dict:
    ours = result["contenders"]["plmkit"]
    speedup = 1 / ours["ratio_paired"]
    if result["family"] == "gpt":
        met = speedup >= GPT_TARGET or ours["mfu"] >= MFU_TARGET
        text = f">= {GPT_TARGET}x transformers sdpa or >= {MFU_TARGET:.0%} of the matmul peak"
    else:
        met = speedup >= BERT_TARGET
        text = f">= {BERT_TARGET}x BertForPreTraining (sdpa)"
    return {"goal": text, "speedup": speedup, "mfu": ours["mfu"], "met": met}


# -- memory, in a fresh process per contender -------------------------------------------------------
def probe_memory(name: str, contender: str, quick: bool) -> dict[str, float]:
    """Peak RSS and the tensors' high-water mark of one training step, measured in a subprocess."""
    cmd = [sys.executable, str(ROOT / "benchmarks/run.py"), "--probe-memory", name, contender]
    cmd += ["--quick"] if quick else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {name} / {contender} failed: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_probe_main(name: str, contender: str, quick: bool) -> dict[str, float]:
    """One contender alone: warm-up step, then the peak RSS of one step (VmHWM reset first) and the
    high-water mark of tensors created during another (forward, backward, optimiser)."""
    case = build_case(name, quick, only=contender)
    model = case.models[contender].train()
    step = case.step_fn(contender, torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True))
    step()
    return measure_memory(model, step)


def measure_memory(model: nn.Module, step) -> dict[str, float]:
    """Peak RSS of one ``step`` (the high-water mark reset first) and the tensors' high-water mark of another."""
    gc.collect()
    before = _status("VmRSS")
    reset = _reset_peak_rss()
    step()
    peak = _status("VmHWM") if reset else float("nan")
    with TensorHighWater() as meter:
        step()
    return {"rss_before_mb": before, "rss_peak_mb": peak, "rss_step_mb": peak - before,
            "tensor_peak_mb": meter.peak / 2**20, "weights_mb": sum(p.numel() for p in model.parameters()) * 4 / 2**20}


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak RSS (Linux >= 4.0)
            f.write("5")
        return True
    except OSError:
        return False


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")
