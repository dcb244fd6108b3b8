"""bf16 on the CPU and opt-in ``torch.compile``, each against plain fp32 plmkit training.

*bf16*: the same model and batches trained under ``device: {precision: bf16}`` (CPU autocast, fp32
master weights) and in fp32: the step-time ratio, and the loss curves of 200 steps from the same
initial weights, batches and dropout seeds (recipe lr, warm-up and schedule, plmkit's AdamW):
how far bf16's losses drift from fp32's. The CPU's flags say whether it has bf16 instructions
(AVX512-BF16, AMX); without them bf16 matmuls are emulated (~100x slower than fp32 here), fp32
stays the default, and the drift is measured on a smaller model of the same shape (hidden 64,
2 layers, 4 x 64 tokens) so that 200 steps finish.

*compile*: ``device: {compile: true}`` (``Placement.prepare``: ``nn.Module.compile``, inductor)
against the same model uncompiled (recipes/gpt.yaml: no dropout, so the first steps' losses must
be equal): the compile time (the first step, minus a steady step; with a cold compiler cache, as
a first run has) and the speed-up of the steps after it. ``--quick``
compiles with the ``aot_eager`` backend (tracing without code generation) to keep CI short.
"""

from __future__ import annotations

import copy
import itertools
import os
import tempfile
import time
from typing import Any

import torch

from .common import ROOT, SEED, Contender, cpu_flags, interleaved, load, ratios

RECIPES = {"gpt": "gpt", "bert": "bert"}


TINY = ["model.hidden=32", "model.layers=2", "tokenizer.vocab_size=300", "train.seq_len=32"]
# bf16 without bf16 instructions runs matmuls ~100x slower than fp32: 200 steps of the recipe's
# model would take hours, so such a CPU trains a smaller model of the same shape
SMALL = ["model.hidden=64", "model.layers=2", "train.seq_len=64"]


def _setup(family: str, quick: bool, batch_size: int, n_batches: int, sizes: list[str] = ()) -> tuple[Any, Any, list[dict]]:
    import plmkit
    from plmkit.data.prepare import prepare

    overrides = [f"train.batch_size={batch_size}", "data.documents=1500" if not quick else "data.documents=200"]
    overrides += TINY if quick else list(sizes)
    recipe = plmkit.load_recipe(ROOT / f"recipes/{RECIPES[family]}.yaml", overrides)
    prepared = prepare(recipe)
    batches = list(itertools.islice(prepared.train_batches(), n_batches))
    torch.manual_seed(SEED)
    model = plmkit.build_model(recipe, vocab_size=prepared.tokenizer.vocab_size, pad_id=prepared.tokenizer.pad_id)
    return recipe, model, batches


def run_bf16(family: str, quick: bool, drift_steps: int, warmup: int, rounds: int) -> dict:
    from plmkit.training.device import make_placement

    load_before = load()
    flags = cpu_flags()
    native = flags["avx512_bf16"] or flags["amx_bf16"]
    B = 8 if native and not quick else 4
    sizes = [] if native else SMALL
    recipe, model, batches = _setup(family, quick, B, drift_steps, sizes)
    placements = {"fp32": make_placement("cpu", "fp32"), "bf16": make_placement("cpu", "bf16")}
    models = {name: copy.deepcopy(model).train() for name in placements}
    curves = {name: _train(recipe, models[name], placements[name], batches) for name in placements}
    speed = {name: _steps(recipe, copy.deepcopy(model).train(), placements[name], batches) for name in placements}
    stats = ratios(interleaved([Contender(n, s) for n, s in speed.items()], warmup, rounds), "fp32")
    diffs = [abs(a - b) for a, b in zip(curves["fp32"], curves["bf16"])]
    tail = max(1, drift_steps // 10)
    m = recipe.model
    shape = f"hidden {m.hidden}, {m.layers} layers" + ("" if native or quick else " (reduced: no bf16 instructions)")
    return {"case": f"bf16 {family}", "family": family, "shape": shape, "batch": f"{B} x {recipe.train.seq_len}",
            "steps": drift_steps,
            "contenders": stats, "speedup": 1 / stats["bf16"]["ratio_paired"], "native_bf16": native,
            "loss_fp32": curves["fp32"], "loss_bf16": curves["bf16"], "max_abs_drift": max(diffs),
            "final_fp32": sum(curves["fp32"][-tail:]) / tail, "final_bf16": sum(curves["bf16"][-tail:]) / tail,
            "load": [load_before, load()]}


def _train(recipe: Any, model: Any, placement: Any, batches: list[dict]) -> list[float]:
    """Losses of ``len(batches)`` plmkit training steps (its AdamW, lr schedule over that many steps)."""
    from plmkit.training.optim import learning_rate, make_optimizer, set_learning_rate

    train = recipe.train.model_copy(update={"steps": len(batches), "warmup_steps": max(1, len(batches) // 10)})
    optimizer = make_optimizer(model, train)
    losses = []
    for step, batch in enumerate(batches):
        set_learning_rate(optimizer, learning_rate(step, train))
        torch.manual_seed(SEED + step)  # the same dropout masks on both sides
        optimizer.zero_grad(set_to_none=True)
        with placement.autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        losses.append(loss.item())
    return losses


def _steps(recipe: Any, model: Any, placement: Any, batches: list[dict]):
    """One training step per call (cycling over a few batches); returns the step's loss."""
    from plmkit.training.optim import make_optimizer

    optimizer = make_optimizer(model, recipe.train)
    cycle = itertools.cycle(batches[:4])

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with placement.autocast():
            loss = model(**next(cycle)).loss
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def run_compile(family: str, quick: bool, warmup: int, rounds: int) -> dict:
    from plmkit.training.device import make_placement

    load_before = load()
    B = 4 if quick else 32
    recipe, model, batches = _setup(family, quick, B, 4)
    plain = copy.deepcopy(model).train()
    compiled = copy.deepcopy(model).train()
    cache = tempfile.mkdtemp(prefix="plmkit-inductor-")  # a cold compiler cache, as a first run has
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        if quick:
            compiled.compile(backend="aot_eager")
        else:
            make_placement("cpu", "fp32", compile=True).prepare(compiled)
        steps = {"plain": _steps(recipe, plain, make_placement("cpu", "fp32"), batches),
                 "compiled": _steps(recipe, compiled, make_placement("cpu", "fp32"), batches)}
        start = time.perf_counter()
        compiled_loss = steps["compiled"]()  # compiles (the training graph), then runs the first step
        first = time.perf_counter() - start
        diff = abs(float(compiled_loss) - float(steps["plain"]()))  # the same first step, uncompiled
        assert diff < 1e-4, f"compile: the compiled model's first loss differs from the plain model's by {diff}"
        stats = ratios(interleaved([Contender(n, s) for n, s in steps.items()], warmup, rounds), "plain")
    finally:
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    return {"case": f"compile {family}", "family": family, "backend": "aot_eager" if quick else "inductor",
            "batch": f"{B} x {recipe.train.seq_len}", "first_step_s": first,
            "compile_s": first - stats["compiled"]["median_s"], "contenders": stats,
            "speedup": 1 / stats["compiled"]["ratio_paired"], "eval_loss_diff": diff, "load": [load_before, load()]}
