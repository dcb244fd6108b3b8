"""The optimiser's parameter groups and the learning-rate schedule, value by value."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from plmkit.training.optim import learning_rate, make_optimizer, parameter_groups


def _train(**changes):
    base = dict(lr=1e-3, min_lr_ratio=0.1, warmup_steps=10, schedule="cosine", steps=110,
                weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
    return SimpleNamespace(**{**base, **changes})


def test_warmup_rises_linearly_to_the_peak():
    t = _train()
    assert learning_rate(0, t) == pytest.approx(1e-4)
    assert learning_rate(4, t) == pytest.approx(5e-4)
    assert learning_rate(9, t) == pytest.approx(1e-3)


def test_cosine_decays_to_the_floor_at_the_last_step():
    t = _train()
    assert learning_rate(10, t) == pytest.approx(1e-3)
    # half-way through the 100 decay steps: the mean of peak and floor
    assert learning_rate(60, t) == pytest.approx(1e-4 + 0.9e-3 * 0.5)
    assert learning_rate(35, t) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert learning_rate(110, t) == pytest.approx(1e-4)
    assert learning_rate(500, t) == pytest.approx(1e-4)  # past the end: stays at the floor


def test_linear_and_constant_schedules():
    t = _train(schedule="linear", min_lr_ratio=0.0, warmup_steps=0, steps=100)
    assert [learning_rate(s, t) for s in (0, 25, 50, 99)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 1e-5])
    c = _train(schedule="constant", warmup_steps=2)
    assert [learning_rate(s, c) for s in (0, 1, 2, 109)] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])


def test_weight_decay_only_on_matrices_and_tied_tensors_once():
    embed = nn.Embedding(10, 4)
    decoder = nn.Linear(4, 10)
    decoder.weight = embed.weight  # tied, like GPT's softmax
    model = nn.ModuleDict({"embed": embed, "norm": nn.LayerNorm(4), "proj": nn.Linear(4, 4), "decoder": decoder})
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(embed.weight), id(model["proj"].weight)}
    assert {id(p) for p in no_decay["params"]} == {id(model["norm"].weight), id(model["norm"].bias),
                                                  id(model["proj"].bias), id(decoder.bias)}
    optimizer = make_optimizer(model, _train())
    assert optimizer.defaults["betas"] == (0.9, 0.95)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 6


def test_decoupled_decay_shrinks_weights_not_biases():
    lin = nn.Linear(3, 3)
    before_w, before_b = lin.weight.detach().clone(), lin.bias.detach().clone()
    optimizer = make_optimizer(lin, _train(weight_decay=0.5, lr=0.1))
    lin.weight.grad = torch.zeros_like(lin.weight)
    lin.bias.grad = torch.zeros_like(lin.bias)
    optimizer.step()
    # zero gradient: AdamW's update is pure decay, w <- w * (1 - lr * wd)
    assert torch.allclose(lin.weight, before_w * (1 - 0.1 * 0.5))
    assert torch.equal(lin.bias, before_b)
