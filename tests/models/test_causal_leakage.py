"""A causal model's logits at position t depend only on tokens 0..t; a bidirectional one's do not."""

from __future__ import annotations

import pytest
import torch

from plmkit.models.build import build_model
from plmkit.models.families import bert_recipe, gpt2_recipe
from plmkit.recipe.validate import recipe_from_dict

SIZES = dict(vocab_size=60, hidden=32, layers=2, heads=4, max_positions=16)


def gpt(positions: str):
    data = gpt2_recipe(**SIZES)
    data["model"]["embedding"]["parts"] = [{"type": "token"}, {"type": positions}]
    return data


def changed_after(model, t: int, T: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for a batch and for the same batch with every token after position t replaced."""
    torch.manual_seed(0)
    ids = torch.randint(1, 60, (2, T))
    other = ids.clone()
    other[:, t + 1:] = (ids[:, t + 1:] + 7) % 59 + 1
    with torch.no_grad():
        return model(input_ids=ids).logits, model(input_ids=other).logits


@pytest.mark.parametrize("positions", ["learned_position", "rotary", "sinusoidal_position"])
def test_gpt_logits_at_t_ignore_the_future(positions):
    torch.manual_seed(0)
    model = build_model(recipe_from_dict(gpt(positions))).eval()
    for t in (0, 4, 8):
        a, b = changed_after(model, t)
        assert torch.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-6), f"position <= {t} saw the future"
        assert not torch.allclose(a[:, t + 1:], b[:, t + 1:], atol=1e-4)  # the changed tokens do count


def test_gpt_in_training_mode_ignores_the_future_too():
    torch.manual_seed(0)
    model = build_model(recipe_from_dict(gpt2_recipe(**SIZES, dropout=0.0, attn_dropout=0.0))).train()
    a, b = changed_after(model, 5)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)


def test_bert_logits_at_t_do_see_the_future():
    """The same check on a bidirectional model must fail: it proves the check can catch a leak."""
    torch.manual_seed(0)
    model = build_model(recipe_from_dict(bert_recipe(**SIZES))).eval()
    a, b = changed_after(model, 4)
    assert not torch.allclose(a[:, :5], b[:, :5], atol=1e-4)
