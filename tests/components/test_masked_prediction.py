"""masked_lm with ``predict: masked`` gives the same loss and gradients as predicting everywhere."""

from __future__ import annotations

import torch

import plmkit

from conftest import RECIPES

NO_DROPOUT = ["model.attention.dropout=0", "model.attention.attn_dropout=0", "model.embedding.dropout=0",
              "model.hidden=32", "model.attention.heads=2", "model.layers=1", "train.seq_len=16"]


def loss_and_grads(predict, training=True):
    recipe = plmkit.load_recipe(RECIPES / "bert.yaml", [f"model.head.mlm.predict={predict}", *NO_DROPOUT])
    torch.manual_seed(0)
    model = plmkit.build_model(recipe, vocab_size=100).train(training)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 100, (4, 16), generator=g)
    labels = torch.where(torch.rand(4, 16, generator=g) < 0.2, ids, torch.full_like(ids, -100))
    out = model(input_ids=ids, labels=labels, next_sentence_label=torch.zeros(4, dtype=torch.long))
    out.losses["mlm"].backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_same_loss_and_gradients_while_training():
    everywhere, grads_all = loss_and_grads("all")
    masked, grads_masked = loss_and_grads("masked")
    assert torch.allclose(everywhere.losses["mlm"], masked.losses["mlm"], atol=1e-6)
    assert grads_all.keys() == grads_masked.keys()
    for name in grads_all:
        assert torch.allclose(grads_all[name], grads_masked[name], atol=1e-6), name
    assert masked.logits is None and masked.mlm["masked_logits"].shape[1] == 100  # (labelled rows, V)


def test_evaluation_still_sees_every_position():
    out, _ = loss_and_grads("masked", training=False)
    assert out.logits.shape == (4, 16, 100)
