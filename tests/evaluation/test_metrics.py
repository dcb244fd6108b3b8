"""Held-out metrics: which targets count, and bits per word from summed token NLL."""

from __future__ import annotations

import math

import torch

from plmkit.evaluation.metrics import _Totals, _finish, _shifted_nll

IGNORE = -100


def test_only_real_positions_predict_and_each_target_counts_once():
    # two rows: <S> a b </S> and <S> a </S> <pad>; labels carry -100 at padding
    labels = torch.tensor([[1, 5, 6, 2], [1, 5, 2, IGNORE]])
    mask = (labels != IGNORE).long()
    logits = torch.zeros(2, 4, 8)  # uniform: every target costs ln 8
    forward = _shifted_nll(logits, labels, 1, mask)
    backward = _shifted_nll(logits, labels, -1, mask)
    # forward predicts a b </S> and a </S>; backward predicts <S> a b and <S> a: 3 + 2 each
    assert forward[1] == 5 and abs(forward[0] - 5 * math.log(8)) < 1e-5
    assert backward[1] == 5  # the padded position does not "predict" row 2's </S>
    assert abs(backward[0] - 5 * math.log(8)) < 1e-5


def test_bits_per_word_is_summed_nll_over_words_in_bits():
    totals = _Totals()
    totals.add("loss", 2.0)
    totals.add("loss_lm", 2.0)
    totals.add("nll_forward", 100.0, 40)  # 100 nats over 40 tokens
    metrics = _finish(totals, words=25, lm_head="lm")
    assert metrics["perplexity"] == math.exp(2.0)
    assert metrics["nll_per_token_forward"] == 2.5
    assert abs(metrics["bits_per_word"] - 100.0 / 25 / math.log(2)) < 1e-12
    assert "bits_per_word" not in _finish(totals, words=None, lm_head="lm")
