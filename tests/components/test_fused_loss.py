"""``linear_cross_entropy`` and the causal LM head's ``fused_loss``: the loss and the gradients of the
projection + cross-entropy they replace, without keeping the (B, T, V) logits."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import plmkit
from plmkit.modules import IGNORE, linear_cross_entropy
from conftest import RECIPES


@pytest.mark.parametrize("max_elements", [1 << 24, 7 * 50, 1])  # one chunk, chunks of 7 rows, one row at a time
def test_loss_and_gradients_equal_projection_then_cross_entropy(max_elements):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(40, 16, generator=g, requires_grad=True)
    weight = torch.randn(50, 16, generator=g, requires_grad=True)
    labels = torch.randint(0, 50, (40,), generator=g)
    labels[::3] = IGNORE
    expected = F.cross_entropy(h @ weight.t(), labels, ignore_index=IGNORE)
    grads = torch.autograd.grad(expected * 2.5, (h, weight))  # an upstream gradient other than 1
    loss = linear_cross_entropy(h, weight, labels, max_elements=max_elements)
    got = torch.autograd.grad(loss * 2.5, (h, weight))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-6)
    assert all((a - b).abs().max() < 1e-6 for a, b in zip(got, grads))


def test_no_label_to_predict_is_a_zero_loss_with_zero_gradients():
    h = torch.randn(4, 8, requires_grad=True)
    weight = torch.randn(10, 8, requires_grad=True)
    loss = linear_cross_entropy(h, weight, torch.full((4,), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and h.grad.abs().max() == 0 and weight.grad.abs().max() == 0


def test_the_gpt_recipe_trains_with_the_same_losses_fused_or_not(one_thread):
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", ["model.hidden=32", "model.vocab_size=60", "train.seq_len=16"])
    assert recipe.model.head["lm"].params.fused_loss is True  # gpt.yaml trains this way
    torch.manual_seed(0)
    fused = plmkit.build_model(recipe)
    plain = copy.deepcopy(fused)
    plain.heads["lm"].fused_loss = False
    optimizers = [torch.optim.AdamW(m.parameters(), lr=3e-3) for m in (fused, plain)]
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        ids = torch.randint(0, 60, (4, 16), generator=g)
        outs = []
        for model, opt in zip((fused, plain), optimizers):
            opt.zero_grad()
            out = model(input_ids=ids, labels=ids)
            out.loss.backward()
            opt.step()
            outs.append(out)
        assert outs[0].logits is None and outs[1].logits.shape == (4, 16, 60)
        assert abs(outs[0].loss.item() - outs[1].loss.item()) < 1e-5
    fused.eval()  # evaluation still gets the logits
    with torch.no_grad():
        assert fused(input_ids=ids, labels=ids).logits.shape == (4, 16, 60)
