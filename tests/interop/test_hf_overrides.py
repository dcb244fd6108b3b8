"""``from_hf(model, overrides=[...])``: a transformers checkpoint loaded into a faster plmkit variant
of the same model, which computes the same numbers."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from plmkit.errors import RecipeError, RunError  # noqa: E402
from plmkit.interop.hf import from_hf  # noqa: E402
from test_hf import batch, tiny_bert, tiny_gpt2  # noqa: E402


def test_masked_prediction_gives_transformers_loss_and_gradients_while_training():
    hf = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # train mode, no randomness
    plain, masked = from_hf(hf), from_hf(hf, overrides=["model.head.mlm.predict=masked"])
    assert plain.heads["mlm"].predict == "all" and masked.heads["mlm"].predict == "masked"
    assert masked.recipe.model.head["mlm"].params.predict == "masked"  # the recipe says what the model does
    ids, mask, segments, labels = batch(3, 11)
    kw = dict(input_ids=ids, attention_mask=mask, token_type_ids=segments, labels=labels,
              next_sentence_label=torch.tensor([0, 1, 0]))
    losses = {}
    for name, model in (("transformers", hf), ("all", plain), ("masked", masked)):
        model.train()
        model.zero_grad()
        out = model(**kw)
        out.loss.backward()
        losses[name] = out.loss.item()
    assert abs(losses["masked"] - losses["transformers"]) < 1e-5 and abs(losses["all"] - losses["transformers"]) < 1e-5
    assert masked(**kw).logits is None  # only the labelled rows were projected
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for n, p in masked.named_parameters():
        assert (p.grad - grads[n]).abs().max() < 1e-5, n


def test_eval_outputs_are_unchanged_by_the_override():
    hf = tiny_bert()
    masked = from_hf(hf, overrides="model.head.mlm.predict=masked").eval()
    ids, mask, segments, _ = batch(2, 9)
    with torch.no_grad():
        theirs = hf(input_ids=ids, attention_mask=mask, token_type_ids=segments).prediction_logits
        ours = masked(input_ids=ids, attention_mask=mask, token_type_ids=segments).logits
    assert (ours - theirs).abs().max() < 1e-5


def test_overrides_are_validated_like_a_recipe():
    with pytest.raises(RecipeError, match=r"model\.head\.mlm\.predict"):
        from_hf(tiny_bert(), overrides=["model.head.mlm.predict=sometimes"])


def test_an_override_that_changes_the_shapes_is_one_line():
    with pytest.raises(RunError, match=r"overrides \['model.hidden=64'\] make a model these weights do not fit"):
        from_hf(tiny_gpt2(), overrides=["model.hidden=64"])
