"""plmkit's BERT and GPT-2 against transformers: same weights in, same numbers out (fp32, eval)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from plmkit.errors import RunError  # noqa: E402
from plmkit.interop.hf import from_hf, to_hf  # noqa: E402
from plmkit.models.build import build_model  # noqa: E402
from plmkit.models.families import bert_recipe, gpt2_recipe  # noqa: E402
from plmkit.recipe.validate import recipe_from_dict  # noqa: E402

ATOL = 1e-5
V = 97


def scrambled(model):
    """Every weight moved far from its init (LayerNorms away from 1/0, biases non-zero, activations
    in their curved range), so that a wrong copy, transpose or activation changes the numbers."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 if "LayerNorm.weight" in name or ".ln_" in name else 0.0) + torch.randn_like(p) * 0.2)
    return model.eval()


def tiny_bert(**overrides):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        max_position_embeddings=24, attn_implementation="eager", **overrides,
    )
    return scrambled(transformers.BertForPreTraining(config))


def tiny_gpt2(**overrides):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=24, bos_token_id=V - 1, eos_token_id=V - 1,
        attn_implementation="eager", **overrides,
    )
    return scrambled(transformers.GPT2LMHeadModel(config))


def batch(B, T, seed=1):
    """Ids, a right-padded mask (row 1 shorter, row 2 shorter still), segments, labels."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    for row, length in zip(range(1, B), (T - 2, max(2, T // 2))):
        mask[row, length:] = 0
    segments = (torch.arange(T) >= T // 2).long().expand(B, T).clone() * mask
    labels = torch.where(torch.rand(B, T, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    labels[:, 0] = ids[:, 0]  # at least one label per row
    return ids, mask, segments, labels


def close(a, b):
    return (a - b).abs().max().item() < ATOL


@pytest.mark.parametrize("B,T", [(1, 5), (3, 11), (2, 24)])
def test_bert_matches_transformers(B, T):
    hf = tiny_bert()
    model = from_hf(hf).eval()
    ids, mask, segments, labels = batch(B, T)
    nsp = torch.arange(B) % 2
    kw = dict(input_ids=ids, attention_mask=mask, token_type_ids=segments, labels=labels, next_sentence_label=nsp)
    with torch.no_grad():
        theirs = hf(**kw, output_hidden_states=True)
        ours = model(**kw, output_hidden_states=True)
    assert close(ours.logits, theirs.prediction_logits)
    assert close(ours.nsp["logits"], theirs.seq_relationship_logits)
    assert len(ours.hidden_states) == len(theirs.hidden_states) == 3
    assert all(close(a, b) for a, b in zip(ours.hidden_states, theirs.hidden_states))
    assert abs(ours.loss.item() - theirs.loss.item()) < ATOL


def test_bert_segments_matter_and_default_to_zero():
    hf = tiny_bert()
    model = from_hf(hf).eval()
    ids, mask, segments, _ = batch(2, 9)
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=mask).logits
        b = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
        c = model(input_ids=ids, attention_mask=mask, token_type_ids=segments).logits
        theirs = hf(input_ids=ids, attention_mask=mask).prediction_logits
    assert torch.equal(a, b) and not close(a, c) and close(a, theirs)


@pytest.mark.parametrize("B,T", [(1, 6), (3, 13), (2, 24)])
def test_gpt2_matches_transformers(B, T):
    hf = tiny_gpt2()
    model = from_hf(hf).eval()
    ids, mask, _, _ = batch(B, T)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        theirs = hf(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
        ours = model(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    assert close(ours.logits, theirs.logits)
    assert all(close(a, b) for a, b in zip(ours.hidden_states, theirs.hidden_states))
    assert abs(ours.loss.item() - theirs.loss.item()) < ATOL


def test_gpt2_from_bare_state_dict_without_aliases():
    hf = tiny_gpt2()
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    model = from_hf(hf.config, bare).eval()
    ids = batch(2, 8)[0]
    with torch.no_grad():
        assert close(model(input_ids=ids).logits, hf(input_ids=ids).logits)


def test_gpt2_untied_and_relu():
    hf = tiny_gpt2(tie_word_embeddings=False, activation_function="relu")
    assert hf.lm_head.weight is not hf.transformer.wte.weight
    model = from_hf(hf).eval()
    ids = batch(2, 8)[0]
    with torch.no_grad():
        assert close(model(input_ids=ids).logits, hf(input_ids=ids).logits)
        assert close(to_hf(model)(input_ids=ids).logits, hf(input_ids=ids).logits)


def test_bert_untied_decoder_and_its_own_bias():
    hf = tiny_bert(tie_word_embeddings=False)
    with torch.no_grad():
        hf.cls.predictions.decoder.bias.normal_()  # untied, transformers computes with this bias
    model = from_hf(hf).eval()
    assert model.heads["mlm"].decoder_weight is not model.embedding.token_embedding.weight
    ids, mask, segments, _ = batch(2, 7)
    kw = dict(input_ids=ids, attention_mask=mask, token_type_ids=segments)
    with torch.no_grad():
        assert close(model(**kw).logits, hf(**kw).prediction_logits)
        assert close(to_hf(model)(**kw).prediction_logits, hf(**kw).prediction_logits)


def test_bert_for_masked_lm_has_no_next_sentence_head():
    torch.manual_seed(0)
    hf = scrambled(transformers.BertForMaskedLM(tiny_bert().config))
    model = from_hf(hf).eval()
    assert list(model.heads) == ["mlm"]
    ids, mask, segments, _ = batch(2, 7)
    with torch.no_grad():
        assert close(model(input_ids=ids, attention_mask=mask).logits, hf(input_ids=ids, attention_mask=mask).logits)


def test_from_a_saved_folder(tmp_path):
    hf = tiny_gpt2()
    hf.save_pretrained(tmp_path)
    model = from_hf(tmp_path).eval()
    ids = batch(1, 5)[0]
    with torch.no_grad():
        assert close(model(input_ids=ids).logits, hf(input_ids=ids).logits)


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_to_hf_round_trip_of_a_fresh_plmkit_model(family):
    torch.manual_seed(3)
    sizes = dict(vocab_size=V, hidden=32, layers=3, heads=4, ffn=40, max_positions=20)
    recipe = recipe_from_dict(bert_recipe(**sizes) if family == "bert" else gpt2_recipe(**sizes))
    model = build_model(recipe).eval()
    with torch.no_grad():  # move every weight off its init value so that a missed copy shows
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    hf = to_hf(model)
    assert type(hf).__name__ == ("BertForPreTraining" if family == "bert" else "GPT2LMHeadModel")
    ids, mask, segments, _ = batch(3, 12)
    kw = dict(input_ids=ids, attention_mask=mask)
    if family == "bert":
        kw["token_type_ids"] = segments
    with torch.no_grad():
        ours, theirs = model(**kw), hf(**kw)
        back = from_hf(hf).eval()(**kw)
    theirs_logits = theirs.prediction_logits if family == "bert" else theirs.logits
    assert close(ours.logits, theirs_logits) and torch.equal(back.logits, ours.logits)
    if family == "bert":
        assert close(ours.nsp["logits"], theirs.seq_relationship_logits)


def test_to_hf_refuses_a_model_that_is_not_bert_or_gpt2_shaped():
    data = gpt2_recipe(vocab_size=V, hidden=32, layers=1, heads=4, max_positions=16)
    data["model"]["embedding"]["parts"] = [{"type": "token"}, {"type": "rotary"}]
    with pytest.raises(RunError, match="rotary positions have no BERT/GPT-2 equivalent"):
        to_hf(build_model(recipe_from_dict(data)))


def test_from_hf_refuses_what_plmkit_does_not_implement():
    with pytest.raises(RunError, match="attention scaled other than"):
        from_hf(tiny_gpt2(scale_attn_by_inverse_layer_idx=True))
    hf = tiny_gpt2()
    partial = {k: v for k, v in hf.state_dict().items() if ".h.1." not in k}
    with pytest.raises(RunError, match="the weights lack 12 tensors"):
        from_hf(hf.config, partial)
