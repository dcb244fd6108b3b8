"""plmkit-alibi's own tests: it is found as a plugin, keeps plmkit's contracts and works in a recipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import plmkit
from plmkit.testing import check_component

HERE = Path(__file__).resolve().parent.parent
RECIPE = HERE / "plmkit_alibi" / "recipes" / "gpt-alibi.yaml"


def plmkit_cli(*args):
    env = {**os.environ, "PLMKIT_PLUGINS": "alibi"}
    return subprocess.run([sys.executable, "-m", "plmkit", *args], capture_output=True, text=True, env=env)


def test_listed_by_plmkit_plugins():
    result = plmkit_cli("plugins")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("alibi ")]
    assert "plmkit-alibi 0.1.0" in line and "loaded" in line and "2 components" in line


def test_components_shows_where_they_come_from():
    result = plmkit_cli("components", "attention")
    assert "alibi  [plmkit-alibi 0.1.0]" in result.stdout


@pytest.mark.parametrize("kind,name,params", [
    ("attention", "alibi", {"heads": 2, "dropout": 0.0}),
    ("head", "smoothed_lm", {"smoothing": 0.1}),
])
def test_keeps_plmkit_contracts(kind, name, params):
    check_component(kind, name, **params)


def test_recipe_validates_and_reports_errors_like_a_builtin(tmp_path):
    assert plmkit_cli("validate", str(RECIPE)).returncode == 0
    result = plmkit_cli("validate", str(RECIPE), "model.attention.heads=3")
    assert result.returncode == 2
    assert "model.attention.heads: 3 heads do not divide model.hidden 128" in result.stderr


def test_alibi_penalises_distance():
    from plmkit_alibi.blocks import alibi_slopes

    slopes = alibi_slopes(8)
    assert slopes[0] == pytest.approx(0.5) and slopes[-1] == pytest.approx(2 ** -8)
    assert torch.all(slopes[1:] < slopes[:-1])


def test_attention_adds_the_distance_penalty_to_the_scores():
    """The block's attention equals softmax(q k^T / sqrt(d) - slope * |i - j|, causal) v, written out."""
    from plmkit_alibi.blocks import AlibiAttention

    torch.manual_seed(0)
    attention = AlibiAttention(hidden=8, heads=2, dropout=0.0, causal=True).eval()
    x = torch.randn(1, 5, 8)
    q, k, v = attention.c_attn(x).split(8, dim=-1)
    q, k, v = (t.view(1, 5, 2, 4).transpose(1, 2) for t in (q, k, v))  # (1, 2, 5, 4)
    distance = (torch.arange(5)[None, :] - torch.arange(5)[:, None]).abs()
    scores = q @ k.transpose(-1, -2) / 2.0 - attention.slopes[:, None, None] * distance
    scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    expected = attention.c_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(1, 5, 8))
    assert torch.allclose(attention(x, None), expected, atol=1e-6)


def test_label_smoothing_loss_matches_its_definition():
    recipe = plmkit.load_recipe(RECIPE, ["model.layers=1", "model.hidden=16", "model.attention.heads=2"])
    model = plmkit.build_model(recipe, vocab_size=30).eval()
    ids = torch.randint(0, 30, (2, 7))
    out = model(input_ids=ids, labels=ids)
    logp = out.logits[:, :-1].log_softmax(-1)
    targets = ids[:, 1:]
    nll = -logp.gather(-1, targets[..., None]).squeeze(-1)
    smooth = -logp.mean(-1)
    expected = (0.9 * nll + 0.1 * smooth).mean()
    assert torch.allclose(out.loss, expected, atol=1e-5)
