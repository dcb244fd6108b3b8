"""Held-out metrics: which targets count, heads' own sums, and bits per word from summed token NLL."""

from __future__ import annotations

import math

import pytest
import torch

from plmkit.evaluation.metrics import Totals, finish
from plmkit.modules import shifted_nll

IGNORE = -100


def test_only_real_positions_predict_and_each_target_counts_once():
    # two rows: <S> a b </S> and <S> a </S> <pad>; labels carry -100 at padding
    labels = torch.tensor([[1, 5, 6, 2], [1, 5, 2, IGNORE]])
    mask = (labels != IGNORE).long()
    logits = torch.zeros(2, 4, 8)  # uniform: every target costs ln 8
    forward = shifted_nll(logits, labels, 1, mask)
    backward = shifted_nll(logits, labels, -1, mask)
    # forward predicts a b </S> and a </S>; backward predicts <S> a b and <S> a: 3 + 2 each
    assert forward[1] == 5 and abs(forward[0] - 5 * math.log(8)) < 1e-5
    assert backward[1] == 5  # the padded position does not "predict" row 2's </S>
    assert abs(backward[0] - 5 * math.log(8)) < 1e-5


def test_bits_per_word_is_the_lm_heads_summed_nll_over_words_in_bits():
    totals = Totals()
    totals.add("loss", 2.0)
    totals.add("loss_lm", 2.0)
    totals.add("lm_nll", 100.0, 40)  # 100 nats over 40 tokens
    totals.add("probe_accuracy", 3, 4)  # another head's own number
    metrics = finish(totals, words=25, lm_head="lm")
    assert metrics["perplexity"] == math.exp(2.0)
    assert metrics["lm_nll"] == 2.5 and metrics["probe_accuracy"] == 0.75
    assert abs(metrics["bits_per_word"] - 100.0 / 25 / math.log(2)) < 1e-12
    assert "bits_per_word" not in finish(totals, words=None, lm_head="lm")
    assert "bits_per_word" not in finish(totals, words=25, lm_head="probe")  # a head without nll


def test_heads_report_their_own_numbers_through_the_model():
    """A BERT's held-out numbers come from its masked-LM and next-sentence heads' metric_sums."""
    import plmkit
    from plmkit.evaluation.metrics import evaluate

    from conftest import RECIPES

    recipe = plmkit.load_recipe(RECIPES / "bert.yaml", ["model.layers=1", "model.hidden=16", "model.attention.heads=2"])
    torch.manual_seed(0)
    model = plmkit.build_model(recipe, vocab_size=40)
    ids = torch.randint(5, 40, (3, 9))
    labels = torch.full_like(ids, IGNORE)
    labels[:, 2] = ids[:, 2]
    batch = {"input_ids": ids, "labels": labels, "next_sentence_label": torch.tensor([0, 1, 1]),
             "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids)}
    metrics = evaluate(model, [batch])
    with torch.no_grad():
        out = model.eval()(**batch)
    mlm_hits = int((out.logits.argmax(-1)[:, 2] == ids[:, 2]).sum())
    nsp_hits = int((out.nsp["logits"].argmax(-1) == torch.tensor([0, 1, 1])).sum())
    assert metrics["mlm_accuracy"] == mlm_hits / 3 and metrics["nsp_accuracy"] == nsp_hits / 3
    assert metrics["loss"] == pytest.approx(float(out.loss)) and set(metrics) >= {"loss_mlm", "loss_nsp", "perplexity"}
