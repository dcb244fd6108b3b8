"""plmkit's ELMo reproduces the original biLM's outputs (allennlp test fixtures, models.md §4).

The fixtures hold a tiny biLM in the released TF weight layout and the top-layer outputs the
original implementation computed for three lists of ten sentences. Batch i is [list0[i],
list1[i], list2[i]], processed for i = 0..9 in order with each row's LSTM state carried over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from conftest import REPO

h5py = pytest.importorskip("h5py", reason="the ELMo fixtures are .hdf5 files: pip install h5py")

FIXTURES = Path(os.environ.get("PLMKIT_ELMO_FIXTURES", REPO.parent / "shared" / "reference" / "elmo-fixtures"))
if not (FIXTURES / "lm_weights.hdf5").is_file():
    pytest.skip(f"ELMo reference fixtures not found in {FIXTURES} (set PLMKIT_ELMO_FIXTURES)", allow_module_level=True)

from plmkit.interop.elmo import batch_to_ids, elmo_layers, from_hdf5, recipe_from_options  # noqa: E402

TOLERANCE = 1e-5  # measured: 1.2e-6 (allennlp's own test uses 1e-6)


@pytest.fixture(scope="module")
def model():
    return from_hdf5(FIXTURES / "options.json", FIXTURES / "lm_weights.hdf5")


@pytest.fixture(scope="module")
def reference():
    """[(batch of 3 tokenised sentences, [expected (n_tokens, 2P) per row])] for i = 0..9."""
    lists = json.loads((FIXTURES / "sentences.json").read_text())
    files = [h5py.File(FIXTURES / f"lm_embeddings_{k}.hdf5", "r") for k in range(len(lists))]
    batches = []
    for i in range(len(lists[0])):
        expected = [torch.cat(tuple(torch.from_numpy(f[str(i)][...])), dim=-1) for f in files]  # fwd ; bwd
        batches.append(([lists[k][i].split() for k in range(len(lists))], expected))
    for f in files:
        f.close()
    return batches


def top_layer_errors(model, reference, carry_state: bool) -> list[float]:
    """Max abs error of concat(forward top, backward top) against each expected output."""
    model.reset_states()
    errors = []
    for sentences, expected in reference:
        if not carry_state:
            model.reset_states()
        with torch.no_grad():
            layers, mask = elmo_layers(model, sentences)
        for row, want in enumerate(expected):
            n = len(sentences[row])
            assert want.shape == (n, layers[-1].shape[-1])
            assert int(mask[row].sum()) == n
            errors.append((layers[-1][row, :n] - want).abs().max().item())
    return errors


def test_reproduces_every_reference_output(model, reference):
    errors = top_layer_errors(model, reference, carry_state=True)
    assert len(errors) == 30
    assert max(errors) < TOLERANCE, f"max abs error {max(errors):.3g} over the 30 reference outputs"


def test_carried_state_is_what_makes_it_match(model, reference):
    errors = top_layer_errors(model, reference, carry_state=False)
    assert errors[:3] == pytest.approx([0, 0, 0], abs=TOLERANCE)  # first batch starts from zeros anyway
    assert max(errors) > 0.5  # measured 2.6: without the carried state the outputs are wrong


def test_every_weight_in_the_file_is_used(model):
    """The model's parameters are exactly the file's arrays (+ the padded-token row, + the mix)."""
    with h5py.File(FIXTURES / "lm_weights.hdf5", "r") as f:
        sizes = []
        f.visititems(lambda name, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
    char_dim = model.embedding.char_embed.embedding_dim
    mix = sum(p.numel() for p in model.heads["mix"].parameters())
    assert sum(p.numel() for p in model.parameters()) == sum(sizes) + char_dim + mix
    assert torch.equal(model.embedding.char_embed.weight[0], torch.zeros(char_dim))


def test_options_become_a_stateful_recipe():
    options = json.loads((FIXTURES / "options.json").read_text())
    recipe = recipe_from_options(options)
    m = recipe["model"]
    assert (m["hidden"], m["layers"], m["direction"]) == (16, 2, "bilm")
    assert m["recurrent"]["cell_dim"] == 64 and m["recurrent"]["stateful"] is True
    assert m["embedding"]["filters"] == [[1, 4], [2, 8], [3, 16], [4, 32], [5, 64]]
    assert m["embedding"]["highway"] == 2 and m["embedding"]["char_dim"] == 4
    assert list(m["head"]) == ["mix"]  # the released files have no softmax


def test_batch_to_ids_puts_eos_after_each_rows_last_word():
    ids, mask = batch_to_ids([["a", "b", "c"], ["x"]])
    assert ids.shape == (2, 5, 50) and mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    bos, eos = ids[0, 0, :3].tolist(), ids[0, 4, :3].tolist()
    assert bos == [259, 257, 260] and eos == [259, 258, 260]
    assert ids[1, 2].tolist() == eos + [261] * 47  # row 1: </S> right after "x"
    assert ids[1, 3:].abs().sum() == 0  # padded tokens are all zeros


def test_elmo_layers_give_three_layers_without_boundaries(model, reference):
    model.reset_states()
    sentences = reference[0][0]
    with torch.no_grad():
        layers, mask = elmo_layers(model, sentences)
        char_ids, attention_mask = batch_to_ids(sentences)
        full = model(char_ids=char_ids, attention_mask=attention_mask, output_hidden_states=True)
    model.reset_states()
    T = max(len(s) for s in sentences)
    assert len(layers) == 3 and all(a.shape == (3, T, 32) for a in layers)
    x = full.hidden_states[0][0, 1 : len(sentences[0]) + 1]  # token representations of row 0's words
    assert torch.equal(layers[0][0, : len(sentences[0])], torch.cat([x, x], dim=-1))
    short = min(range(3), key=lambda r: len(sentences[r]))
    assert layers[2][short, len(sentences[short]) :].abs().sum() == 0  # past the row's end: 0
    assert full.representation.shape == full.hidden_states[-1].shape  # the scalar_mix head
