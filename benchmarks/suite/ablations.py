"""Each optimisation on and off, measured in the same run (paired rounds): what it buys.

* ``adamw``: plmkit's optimiser (torch's fused AdamW kernel) vs the default for-loop AdamW, in a
  whole GPT training step (recipes/gpt.yaml's model and batch);
* ``fused_loss``: GPT's softmax projection fused with the cross-entropy (``fused_loss: true``,
  recipes/gpt.yaml) vs projection then cross-entropy over kept (B, T, V) logits, in a whole step;
* ``mlm``: BERT's masked-LM head decoding only the labelled rows (``predict: masked``) vs every
  position (``predict: all``, what BertForPreTraining does), in a whole training step;
* ``char_cnn``: ELMo's character CNN encoding each distinct word of a real batch once vs every
  token, forward + backward.

The KV cache's effect is in the generation section (the "no cache" contender).
"""

from __future__ import annotations

import copy

import torch

from .common import SEED, Contender, interleaved, load, ratios


def _compare(name: str, shape: str, contenders: dict, baseline: str, warmup: int, rounds: int) -> dict:
    load_before = load()
    stats = ratios(interleaved([Contender(n, f) for n, f in contenders.items()], warmup, rounds), baseline)
    other = next(n for n in contenders if n != baseline)
    return {"case": name, "shape": shape, "contenders": stats, "baseline": baseline, "optimised": other,
            "speedup": 1 / stats[other]["ratio_paired"], "load": [load_before, load()]}


def _train_step(model, optimizer, batch):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()
    return step


def adamw(quick: bool, rounds: int) -> dict:
    from plmkit.training.optim import make_optimizer, parameter_groups

    from .training import build_case

    case = build_case("gpt", quick, only="plmkit")
    model = case.models["plmkit"].train()
    other = copy.deepcopy(model)
    train = type("Train", (), dict(lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8))
    fused = make_optimizer(model, train)
    loop = torch.optim.AdamW(parameter_groups(other, 0.1), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    assert fused.defaults["fused"]
    steps = {"for-loop AdamW": _train_step(other, loop, case.batch), "fused AdamW (plmkit)": _train_step(model, fused, case.batch)}
    return _compare("adamw", f"GPT train step, {case.shape}", steps, "for-loop AdamW", 1, rounds)


def fused_loss(quick: bool, rounds: int) -> dict:
    from .training import build_case

    case = build_case("gpt", quick, only="plmkit")
    fused = case.models["plmkit"].train()
    plain = copy.deepcopy(fused)
    plain.heads["lm"].fused_loss = False
    assert fused.heads["lm"].fused_loss
    steps = {n: _train_step(m, torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True), case.batch)
             for n, m in (("logits, then cross-entropy", plain), ("fused_loss (gpt.yaml)", fused))}
    return _compare("fused_loss", f"GPT train step, {case.shape}", steps, "logits, then cross-entropy", 1, rounds)


def mlm(quick: bool, rounds: int) -> dict:
    from plmkit.interop.hf import from_hf

    from .training import build_case

    case = build_case("bert", quick, only="transformers sdpa")
    hf = case.models["transformers sdpa"]
    models = {"predict: all": from_hf(hf).train(), "predict: masked (bert.yaml)": from_hf(hf, overrides=["model.head.mlm.predict=masked"]).train()}
    steps = {n: _train_step(m, torch.optim.AdamW(m.parameters(), lr=1e-4, fused=True), case.batch) for n, m in models.items()}
    return _compare("mlm", f"BERT train step, {case.shape}", steps, "predict: all", 1, rounds)


def char_cnn(quick: bool, rounds: int) -> dict:
    from .elmo import elmo_batch

    model, batch = elmo_batch(quick)
    cnn = model.embedding.train()
    chars = batch["char_ids"]
    B, T, L = chars.shape

    def every_token() -> None:
        cnn.zero_grad(set_to_none=True)
        cnn.encode(chars.view(B * T, L)).sum().backward()

    def distinct() -> None:
        cnn.zero_grad(set_to_none=True)
        cnn(char_ids=chars).sum().backward()

    with torch.no_grad():
        diff = float((cnn.encode(chars.view(B * T, L)).view(B, T, -1) - cnn(char_ids=chars)).abs().max())
    assert diff < 1e-5, f"char CNN: distinct-word encoding differs by {diff}"
    words = len(torch.unique(chars.view(B * T, L), dim=0))
    steps = {"every token": every_token, "each distinct word once (plmkit)": distinct}
    return _compare("char_cnn", f"ELMo char CNN forward + backward, batch {B} x {T} ({words} distinct words)",
                    steps, "every token", 1, rounds)


def run(quick: bool, rounds: int) -> list[dict]:
    torch.manual_seed(SEED)
    return [adamw(quick, rounds), fused_loss(quick, rounds), mlm(quick, rounds), char_cnn(quick, rounds)]
