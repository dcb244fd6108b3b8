"""Every registered model component, plugins' included, keeps the contract in plmkit.testing."""

from __future__ import annotations

import pytest

from plmkit.plugins import get_registry
from plmkit.testing import check_batching, check_component, check_params

# extra parameters or a direction some components need to stand in a tiny model
SETUPS = {
    ("embedding", "sum"): dict(parts=[{"type": "token"}, {"type": "learned_position"}]),
    ("embedding", "char_cnn"): dict(direction="bilm", filters=[[1, 4], [2, 4]], highway=1, char_dim=4),
    ("head", "scalar_mix"): dict(direction="bilm"),
    ("recurrent", "lstm_projection"): dict(cell_dim=24, dropout=0.0),
    ("attention", "transformer"): dict(heads=2, dropout=0.0, attn_dropout=0.0),
}
PARTS_ONLY = {"token", "segment", "learned_position", "sinusoidal_position", "rotary"}  # pieces of `sum`


def model_components():
    registry = get_registry()
    for kind in ("embedding", "attention", "recurrent", "head"):
        for component in registry.of_kind(kind):
            if kind == "embedding" and component.name in PARTS_ONLY:
                continue
            yield pytest.param(kind, component.name, id=f"{kind}-{component.name}")


@pytest.mark.parametrize("kind,name", list(model_components()))
def test_component_keeps_the_contract(kind, name):
    check_component(kind, name, **SETUPS.get((kind, name), {}))


@pytest.mark.parametrize("parts", [["token", "sinusoidal_position"], ["token", "rotary"], ["token", "segment", "learned_position"]])
def test_sum_of_parts_keeps_the_contract(parts):
    check_component("embedding", "sum", parts=[{"type": p} for p in parts])


def test_every_component_documents_its_parameters():
    for component in get_registry().all():
        check_params(component.kind, component.name)


@pytest.mark.parametrize("name", get_registry().names("batching"))
def test_batching_keeps_the_contract(name):
    check_batching(name)


def test_the_cache_check_catches_a_block_that_forgets_its_past():
    """The incremental-decoding check can fail: a block whose forward drops the cache it is given
    decodes each new token without its context."""
    import torch

    from plmkit.models.build import build_model
    from plmkit.modules import TransformerBlock
    from plmkit.recipe.validate import recipe_from_dict
    from plmkit.testing import VOCAB, _batch, _check_cached_decoding, tiny_recipe

    class Forgetful(TransformerBlock):
        def forward(self, x, attention_mask=None, rope=None, cache=None):
            return super().forward(x, None if cache is not None else attention_mask, rope)

    recipe = recipe_from_dict(tiny_recipe("attention", "transformer", heads=2, dropout=0.0, attn_dropout=0.0))
    model = build_model(recipe, vocab_size=VOCAB).eval()
    batch = _batch(recipe, torch)
    _check_cached_decoding(model, batch, torch)  # the real block passes
    for block in model.encoder[0]:
        block.__class__ = Forgetful
    with pytest.raises(AssertionError, match="cached decoding of 1 sequence"):
        _check_cached_decoding(model, batch, torch)
