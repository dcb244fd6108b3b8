"""plmkit's optimiser runs torch's fused AdamW kernel and trains exactly as the plain for-loop AdamW:
the same losses, step by step, and the same weights (to float rounding)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import torch

import plmkit
from plmkit.training.optim import make_optimizer, parameter_groups
from conftest import RECIPES

TRAIN = SimpleNamespace(lr=3e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)


def test_the_cpu_optimiser_is_fused_and_trains_as_the_for_loop_adamw(one_thread):
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", ["model.hidden=32", "model.vocab_size=50", "train.seq_len=16"])
    torch.manual_seed(0)
    model = plmkit.build_model(recipe)
    reference = copy.deepcopy(model)
    fused = make_optimizer(model, TRAIN)
    assert fused.defaults["fused"] is True
    plain = torch.optim.AdamW(parameter_groups(reference, TRAIN.weight_decay), lr=TRAIN.lr, betas=TRAIN.betas,
                              eps=TRAIN.eps, foreach=False)
    g = torch.Generator().manual_seed(0)
    for step in range(25):
        ids = torch.randint(0, 50, (4, 16), generator=g)
        losses = []
        for m, opt in ((model, fused), (reference, plain)):
            opt.zero_grad(set_to_none=True)
            loss = m(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) < 1e-5, (step, losses)
    # 25 steps apart, the weights differ by a few percent of one step's update (lr 3e-3): Adam
    # divides by sqrt(v), which magnifies last-bit gradient differences where gradients are tiny
    for (name, a), b in zip(model.named_parameters(), reference.parameters()):
        assert (a - b).abs().max() < 1e-4, name


def test_one_fused_step_equals_one_for_loop_step_to_float_rounding(one_thread):
    torch.manual_seed(0)
    weights = [torch.randn(64, 32, requires_grad=True), torch.randn(32, requires_grad=True)]
    copies = [w.detach().clone().requires_grad_() for w in weights]
    fused = torch.optim.AdamW(weights, lr=1e-3, fused=True)
    plain = torch.optim.AdamW(copies, lr=1e-3, foreach=False)
    for _ in range(5):
        grads = [torch.randn_like(w) for w in weights]
        for ws, opt in ((weights, fused), (copies, plain)):
            for w, g in zip(ws, grads):
                w.grad = g.clone()
            opt.step()
        assert all((a - b).abs().max() < 1e-6 for a, b in zip(weights, copies))
