"""The transformer parts on their own: position embeddings, padding, attention masks, init, ties, checks."""

from __future__ import annotations

import math

import pytest
import torch

from plmkit.modules import TransformerBlock, attention_bias
from plmkit.modules import RotaryTable, SinusoidalPosition, TokenEmbedding, apply_rotary
from plmkit.errors import RecipeError
from plmkit.models.build import build_model
from plmkit.models.families import bert_recipe, gpt2_recipe
from plmkit.recipe.validate import recipe_from_dict

TINY = dict(vocab_size=50, hidden=32, layers=2, heads=4, max_positions=16)


def block(norm="post", causal=False, hidden=32, heads=4, dropout=0.0) -> TransformerBlock:
    torch.manual_seed(0)
    b = TransformerBlock(hidden, heads, 4 * hidden, norm, "gelu", 1e-12, dropout, dropout, True, causal)
    b.init_weights(0.02, None)
    return b.eval()


# -- positions ------------------------------------------------------------------------------
def test_rotary_matches_transformers_llama_rope():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = LlamaConfig(hidden_size=64, num_attention_heads=4, rope_theta=10000.0)
    positions = torch.arange(12).unsqueeze(0)
    q, k = torch.randn(2, 4, 12, 16), torch.randn(2, 4, 12, 16)
    cos_hf, sin_hf = LlamaRotaryEmbedding(config)(q, positions)
    cos, sin = RotaryTable(16, 10000.0)(positions)
    q_hf, k_hf = apply_rotary_pos_emb(q, k, cos_hf, sin_hf)
    assert torch.allclose(cos, cos_hf, atol=1e-7) and torch.allclose(sin, sin_hf, atol=1e-7)
    assert torch.allclose(apply_rotary(q, cos, sin), q_hf, atol=1e-6)
    assert torch.allclose(apply_rotary(k, cos, sin), k_hf, atol=1e-6)


def test_rotary_keeps_norms_and_scores_depend_only_on_distance():
    table = RotaryTable(8, 10000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def rotated(x, p):
        cos, sin = table(torch.tensor([[p]]))
        return apply_rotary(x, cos, sin)

    assert torch.allclose(rotated(q, 0), q)  # position 0 is the identity
    assert torch.allclose(rotated(q, 7).norm(), q.norm(), atol=1e-5)  # a rotation keeps the length
    score = lambda m, n: (rotated(q, m) * rotated(k, n)).sum()
    assert torch.allclose(score(3, 1), score(10, 8), atol=1e-5)  # same distance, same score
    assert not torch.allclose(score(3, 1), score(3, 2), atol=1e-3)  # another distance, another score


def test_sinusoidal_follows_vaswani_and_learns_nothing():
    pe_module = SinusoidalPosition(6, 10000.0)
    ids = torch.zeros(2, 5, dtype=torch.long)
    pe = pe_module(input_ids=ids)
    assert pe.shape == (2, 5, 6) and list(pe_module.parameters()) == []
    for p in range(5):
        for i in range(3):
            angle = p / 10000 ** (2 * i / 6)
            assert pe[0, p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[0, p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    shifted = pe_module(input_ids=ids, position_ids=torch.arange(3, 8).unsqueeze(0))
    assert torch.allclose(shifted[0, 0], pe[0, 3])


def test_token_padding_row_is_zero_and_gets_no_gradient():
    torch.manual_seed(0)
    token = TokenEmbedding(20, 8, 0.02, padding_idx=3)
    assert torch.count_nonzero(token.table.weight[3]) == 0
    assert token.table.weight[4].abs().sum() > 0
    token(torch.tensor([[3, 4, 3]])).sum().backward()
    assert torch.count_nonzero(token.table.weight.grad[3]) == 0
    assert torch.count_nonzero(token.table.weight.grad[4]) == 8


# -- attention masks ------------------------------------------------------------------------
@pytest.mark.parametrize("norm,causal", [("post", False), ("pre", True)])
def test_padded_positions_do_not_change_real_outputs(norm, causal):
    b = block(norm, causal)
    x = torch.randn(2, 7, 32)
    real = slice(3, 7) if causal else slice(0, 4)  # causal: left padding, so pads come before the tokens
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1] = 0
    mask[1, real] = 1
    noisy = x.clone()
    noisy[1, mask[1] == 0] = torch.randn(3, 32) * 5  # change only what sits in the padding
    y, y_noisy = b(x, mask), b(noisy, mask)
    assert torch.allclose(y[1, real], y_noisy[1, real], atol=1e-6)
    assert torch.equal(y[0], y_noisy[0])
    # the same change without the mask does reach the real positions: the test can fail
    ones = torch.ones_like(mask)
    assert not torch.allclose(b(x, ones)[1, real], b(noisy, ones)[1, real], atol=1e-3)


def test_boolean_bias_matches_eager_attention():
    b = block("post", False)
    x, mask = torch.randn(2, 5, 32), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    B, T, H, n = 2, 5, 32, 4
    q, k, v = b.attn.c_attn(x).split(H, dim=-1)
    q, k, v = (t.view(B, T, n, H // n).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(H // n) + (1 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
    a = b.ln_1(x + b.attn.c_proj(ctx))
    expected = b.ln_2(a + b.mlp(a))
    assert torch.allclose(b(x, mask), expected, atol=1e-5)


def test_fully_masked_rows_stay_finite():
    b = block("pre", causal=True)
    mask = torch.tensor([[0, 0, 1, 1, 1]])  # left padding: the first queries see no key at all
    assert torch.isfinite(attention_bias(mask, True, 5, torch.float32)).all()
    assert torch.isfinite(b(torch.randn(1, 5, 32), mask)).all()


def test_attention_dropout_only_in_training():
    b = block("post", False, dropout=0.5)
    x, mask = torch.randn(2, 6, 32), torch.ones(2, 6, dtype=torch.long)
    assert torch.equal(b(x, mask), b(x, mask))
    b.train()
    assert not torch.allclose(b(x, mask), b(x, mask))


# -- initialisation and ties -----------------------------------------------------------------
def test_init_statistics_and_gpt2_scaled_residual_projections():
    torch.manual_seed(0)
    model = build_model(recipe_from_dict(gpt2_recipe(vocab_size=500, hidden=256, layers=8, heads=4, max_positions=64)))
    blk = model.encoder[0][0]
    assert blk.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert blk.mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.03)
    residual = 0.02 / math.sqrt(2 * 8)  # 0.005
    assert blk.attn.c_proj.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert blk.mlp.c_proj.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert model.embedding.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert torch.count_nonzero(blk.attn.c_attn.bias) == 0 and torch.all(blk.ln_1.weight == 1)


def test_bert_init_has_no_scaled_projections_and_a_zero_pad_row():
    torch.manual_seed(0)
    model = build_model(recipe_from_dict(bert_recipe(vocab_size=500, hidden=256, layers=8, heads=4, max_positions=64)), pad_id=0)
    blk = model.encoder[0][0]
    assert blk.attn.c_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(model.embedding.token_embedding.weight[0]) == 0
    assert torch.count_nonzero(model.heads["mlm"].bias) == 0


@pytest.mark.parametrize("family", [bert_recipe, gpt2_recipe])
def test_tied_softmax_is_the_token_table(family):
    model = build_model(recipe_from_dict(family(**TINY)))
    head = model.heads["mlm" if family is bert_recipe else "lm"]
    table = model.embedding.token_embedding.weight
    assert head.decoder_weight is table
    assert sum(1 for k in model.state_dict() if k.endswith("table.weight") and model.state_dict()[k].shape == table.shape) == 1
    ids = torch.randint(1, 50, (2, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    assert table.grad is not None and table.grad.abs().sum() > 0


def test_untied_softmax_has_its_own_weight():
    model = build_model(recipe_from_dict(gpt2_recipe(**TINY, tie=False)))
    assert model.heads["lm"].decoder_weight is not model.embedding.token_embedding.weight


# -- rules across the recipe ----------------------------------------------------------------
def _problems(data) -> str:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(data)
    return str(info.value)


def test_checks_name_the_keys_and_say_what_is_allowed():
    assert "3 heads do not divide model.hidden 32" in _problems(bert_recipe(**{**TINY, "heads": 3}))
    gpt_masked = gpt2_recipe(**TINY)
    gpt_masked["model"]["head"] = {"mlm": {"type": "masked_lm"}}
    assert "but model.direction is 'causal'" in _problems(gpt_masked)
    bert_causal = bert_recipe(**TINY, next_sentence=False)
    bert_causal["model"]["head"] = {"lm": {"type": "causal_lm"}}
    assert "causal_lm works with model.direction causal, but model.direction is 'bidirectional'" in _problems(bert_causal)
    long = bert_recipe(**TINY)
    long["train"]["seq_len"] = 64
    message = _problems(long)
    assert "train.seq_len 64" in message and "model.max_positions 16" in message


def test_rotary_checks_head_size():
    data = gpt2_recipe(**{**TINY, "hidden": 36, "heads": 4})  # head size 9: odd
    data["model"]["embedding"]["parts"] = [{"type": "token"}, {"type": "rotary"}]
    assert "rotary needs an even head size" in _problems(data)
