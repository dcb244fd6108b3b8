"""ELMo's parts against their equations: character ids, char CNN + highway, LSTM with projection,
the biLM loss, the scalar mix, and which positions each direction may see (models.md §3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from plmkit.modules import Highway
from plmkit.components.embedding.char_cnn import CharCNNParams
from plmkit.components.embedding.char_cnn import build as build_char_cnn
from plmkit.components.recurrent.lstm import LstmProjectionParams
from plmkit.components.recurrent.lstm import build as build_lstm
from plmkit.data.chars import BOS_WORD, EOS_WORD, N_CHARACTERS, char_ids
from plmkit.errors import RecipeError
from plmkit.models.build import build_model
from plmkit.models.context import BuildContext
from plmkit.models.elmo_family import elmo_recipe
from plmkit.recipe.validate import recipe_from_dict

V = 30


def context(**changes) -> BuildContext:
    base = BuildContext(hidden=8, vocab_size=V, max_positions=64, num_layers=2, direction="bilm")
    return base.but(**changes)


def tiny_elmo(vocab_size: int = V, **kwargs):
    torch.manual_seed(0)
    recipe = recipe_from_dict(elmo_recipe("test", vocab_size=vocab_size, **kwargs))
    return build_model(recipe, vocab_size=vocab_size).eval()


def sentence_ids(sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """char_ids (B, T, 50) and attention_mask (B, T), right-padded, no boundaries added."""
    T = max(len(s) for s in sentences)
    ids = torch.zeros(len(sentences), T, 50, dtype=torch.long)
    for row, words in enumerate(sentences):
        ids[row, : len(words)] = torch.tensor(char_ids(words))
    mask = (ids.sum(-1) > 0).long()
    return ids, mask


def recipe_problems(data: dict) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(data)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


# -- character ids ------------------------------------------------------------------------------
def test_char_ids_wrap_bytes_in_word_marks_shifted_by_one():
    (row,) = char_ids(["ab"])
    assert row == [259, 98, 99, 260] + [261] * 46  # [BOW, 'a', 'b', EOW, PAD...] each + 1
    assert char_ids(["é"], max_chars=6) == [[259, 0xC3 + 1, 0xA9 + 1, 260, 261, 261]]  # UTF-8 bytes
    assert N_CHARACTERS == 262


def test_sentence_boundaries_have_their_own_rows():
    bos, eos = char_ids([BOS_WORD, EOS_WORD])
    assert bos[:4] == [259, 257, 260, 261] and eos[:4] == [259, 258, 260, 261]
    assert char_ids(["S"])[0][:3] == [259, ord("S") + 1, 260]  # plain words are not boundaries


def test_long_words_keep_their_first_48_bytes_and_the_end_mark():
    (row,) = char_ids(["x" * 60])
    assert len(row) == 50 and row[1:49] == [ord("x") + 1] * 48 and row[49] == 260


# -- char CNN and highway ----------------------------------------------------------------------
def test_highway_gate_from_w_carry_multiplies_the_nonlinear_branch():
    torch.manual_seed(0)
    highway, x = Highway(6), torch.randn(5, 6)
    with torch.no_grad():
        highway.carry.bias.fill_(-40.0)  # g = 0: the input passes through unchanged
        assert torch.allclose(highway(x), x)
        highway.carry.bias.fill_(40.0)  # g = 1: only relu(x W_transform + b_transform)
        assert torch.allclose(highway(x), torch.relu(highway.transform(x)))
        highway.carry.bias.zero_()
        g = torch.sigmoid(x @ highway.carry.weight.T)
        want = g * torch.relu(x @ highway.transform.weight.T + highway.transform.bias) + (1 - g) * x
        assert torch.allclose(highway(x), want, atol=1e-6)


def test_highway_and_char_cnn_initialisation():
    torch.manual_seed(0)
    cnn = build_char_cnn(CharCNNParams(filters=[(1, 100), (3, 156)], highway=2, char_dim=16), context())
    D = 256
    for highway in cnn.highways:
        assert torch.all(highway.carry.bias == -2.0) and torch.all(highway.transform.bias == 0)
        assert highway.carry.weight.std().item() == pytest.approx(math.sqrt(1 / D), rel=0.05)
    table = cnn.char_embed.weight
    assert torch.all(table[0] == 0) and table.abs().max() <= 1 and table[1:].std() > 0.5  # U(-1, 1)
    assert all(conv.weight.abs().max() <= 0.05 and torch.all(conv.bias == 0) for conv in cnn.convolutions)
    assert cnn.projection.weight.std().item() == pytest.approx(math.sqrt(1 / D), rel=0.05)
    tanh = build_char_cnn(CharCNNParams(filters=[(4, 200)], highway=0, activation="tanh"), context())
    assert tanh.convolutions[0].weight.std().item() == pytest.approx(math.sqrt(1 / (4 * 16)), rel=0.05)


def test_char_cnn_encodes_each_word_on_its_own():
    torch.manual_seed(0)
    cnn = build_char_cnn(CharCNNParams(filters=[(1, 4), (2, 8)], highway=1, char_dim=4), context())
    assert cnn.output_dim == 8 and cnn.token_embedding is None and cnn.rotary is None
    alone, _ = sentence_ids([["word"]])
    together, _ = sentence_ids([["other", "word", "here"]])
    out = cnn(char_ids=together)
    assert out.shape == (1, 3, 8)
    assert torch.allclose(out[0, 1], cnn(char_ids=alone)[0, 0], atol=1e-6)
    out.sum().backward()
    assert torch.all(cnn.char_embed.weight.grad[0] == 0)  # the padded-token row never learns


def test_repeated_words_are_encoded_once_with_the_same_values_and_gradients():
    torch.manual_seed(0)
    cnn = build_char_cnn(CharCNNParams(filters=[(1, 4), (2, 8)], highway=1, char_dim=4), context())
    ids, _ = sentence_ids([["a", "b", "a"], ["a", "c"]])  # "a" three times, one padded token
    weight = torch.randn(2, 3, 8)
    (cnn(char_ids=ids) * weight).sum().backward()
    deduplicated = cnn.char_embed.weight.grad.clone()
    cnn.zero_grad()
    every_row = cnn.encode(ids.view(6, 50)).view(2, 3, 8)  # one row per token, no sharing
    (every_row * weight).sum().backward()
    assert torch.allclose(cnn(char_ids=ids), every_row, atol=1e-6)
    assert torch.allclose(cnn.char_embed.weight.grad, deduplicated, atol=1e-6)


def test_no_projection_when_the_filters_already_have_the_model_width():
    cnn = build_char_cnn(CharCNNParams(filters=[(1, 4), (2, 4)], highway=0, char_dim=4), context())
    assert cnn.projection is None and cnn.output_dim == 8


def test_char_cnn_check_reports_bad_filters():
    data = elmo_recipe("test")
    data["model"]["embedding"].update(filters=[[1, 4], [9, 8]], max_chars=6)
    assert any(p.startswith("model.embedding.max_chars:") and "9" in p for p in recipe_problems(data))
    data["model"]["embedding"].update(filters=[], max_chars=50)
    assert any(p.startswith("model.embedding.filters:") for p in recipe_problems(data))


# -- LSTM with projection ----------------------------------------------------------------------
def lstm_layer(layer: int = 0, **params):
    torch.manual_seed(0)
    values = dict(cell_dim=5, projection_dim=4, cell_clip=0.5, proj_clip=0.3, dropout=0.0) | params
    return build_lstm(LstmProjectionParams(**values), context(input_dim=4, layer=layer))


def reference_step(layer, x, h, c, cell_clip, proj_clip):
    """models.md 3.4 written out, gates in the layer's order i, f, o, g."""
    z = x @ layer.input_linearity.weight.T + layer.input_linearity.bias + h @ layer.state_linearity.weight.T
    i, f, o, g = z.chunk(4, dim=-1)
    c = torch.clamp(torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g), -cell_clip, cell_clip)
    h = torch.clamp((torch.sigmoid(o) * torch.tanh(c)) @ layer.state_projection.weight.T, -proj_clip, proj_clip)
    return h, c


def test_lstm_steps_follow_the_cell_equations_with_clipping():
    layer = lstm_layer()
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(6.0)  # large weights so that both clips are reached
        x = torch.randn(3, 2, 4)
        out = layer(x, torch.ones(3, 2))
        h, c = torch.zeros(3, 4), torch.zeros(3, 5)
        clipped = []
        for t in range(2):
            h, c = reference_step(layer, x[:, t], h, c, 0.5, 0.3)
            assert torch.allclose(out[:, t], h, atol=1e-6)
            clipped.append(bool((c.abs() == 0.5).any() and (h.abs() == 0.3).any()))
    assert any(clipped)


def test_lstm_initialisation_remembers():
    layer = lstm_layer(cell_dim=8)
    bias = layer.input_linearity.bias
    assert torch.all(bias[8:16] == 1.0) and torch.all(bias[:8] == 0) and torch.all(bias[16:] == 0)
    limit = math.sqrt(6 / (4 + 4 + 32))
    assert layer.state_linearity.weight.abs().max() <= limit


def test_residual_adds_the_input_from_the_second_layer_on():
    plain, residual = lstm_layer(layer=1, residual=False), lstm_layer(layer=1, residual=True)
    assert not lstm_layer(layer=0, residual=True).residual  # layer 0 reads the embedding: no skip
    residual.load_state_dict(plain.state_dict())
    x, mask = torch.randn(2, 3, 4), torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = residual(x, mask)
    assert torch.allclose(out, (plain(x, mask) + x) * mask.unsqueeze(-1), atol=1e-6)
    assert torch.all(out[1, 2] == 0)  # padded steps output 0


def test_padded_steps_do_not_advance_the_carried_state():
    batched, alone = lstm_layer(stateful=True), lstm_layer(stateful=True)
    x1, x2 = torch.randn(2, 4, 4), torch.randn(2, 3, 4)
    first = batched(x1, torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]))
    assert torch.all(first[1, 2:] == 0)
    alone(x1[1:, :2], torch.ones(1, 2))  # row 1 on its own, without the padded steps
    second = batched(x2, torch.ones(2, 3))
    assert torch.allclose(second[1], alone(x2[1:], torch.ones(1, 3))[0], atol=1e-6)


def test_stateful_layer_continues_where_it_stopped_until_reset():
    layer, stateless = lstm_layer(stateful=True), lstm_layer(stateful=False)
    x, ones = torch.randn(2, 6, 4), torch.ones(2, 6)
    whole = stateless(x, ones)
    halves = torch.cat([layer(x[:, :3], ones[:, :3]), layer(x[:, 3:], ones[:, 3:])], dim=1)
    assert torch.allclose(halves, whole, atol=1e-6)
    assert not torch.allclose(stateless(x[:, 3:], ones[:, 3:]), whole[:, 3:], atol=1e-3)
    layer.reset_state()
    assert torch.allclose(layer(x, ones), whole, atol=1e-6)


def test_dropout_only_while_training():
    layer = lstm_layer(dropout=0.5)
    x, ones = torch.randn(2, 3, 4), torch.ones(2, 3)
    layer.eval()
    assert torch.equal(layer(x, ones), layer(x, ones))
    layer.train()
    assert not torch.allclose(layer(x, ones), layer.eval()(x, ones))


def test_recurrent_and_bilm_head_need_a_left_to_right_model():
    data = elmo_recipe("test", heads={"mix": {"type": "scalar_mix"}})
    data["model"]["direction"] = "bidirectional"
    assert any(p.startswith("model.direction:") and "recurrent" in p for p in recipe_problems(data))
    data = elmo_recipe("test")
    data["model"]["direction"] = "causal"
    assert "model.head.lm: bidirectional_lm works with model.direction bilm, but model.direction is 'causal'" in \
        recipe_problems(data)


# -- the full biLM: directions, loss, scalar mix -----------------------------------------------
WORDS = ["the", "cat", "sat", "on", "a", "mat"]


def test_each_direction_sees_only_its_own_side():
    model, k = tiny_elmo(), 3
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    changed = ids.clone()
    changed[0, k] = torch.tensor(char_ids(["dog"])[0])
    with torch.no_grad():
        before = model(char_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        after = model(char_ids=changed, attention_mask=mask, output_hidden_states=True).hidden_states
    P, tolerance = 16, 1e-6  # unchanged up to float rounding; a real change is ~1e-2
    for a, b in zip(before[1:], after[1:]):  # every LSTM layer, [forward; backward]
        forward_same = (a[0, :, :P] - b[0, :, :P]).abs().amax(-1) < tolerance  # (T,)
        backward_same = (a[0, :, P:] - b[0, :, P:]).abs().amax(-1) < tolerance
        assert forward_same.tolist() == [t < k for t in range(6)]
        assert backward_same.tolist() == [t > k for t in range(6)]
        assert torch.allclose(a[1], b[1], atol=tolerance)  # the other row is untouched


def test_backward_stack_reads_each_row_within_its_own_length():
    model = tiny_elmo()
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    alone_ids, alone_mask = sentence_ids([WORDS[:4]])
    with torch.no_grad():
        batched = model(char_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        alone = model(char_ids=alone_ids, attention_mask=alone_mask, output_hidden_states=True).hidden_states[-1]
    assert torch.allclose(batched[1, :4], alone[0], atol=1e-6)
    assert torch.all(batched[1, 4:] == 0)


def test_bilm_loss_averages_next_and_previous_word_cross_entropies():
    model = tiny_elmo()
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    labels = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, 12, -100, -100]])
    with torch.no_grad():
        out = model(char_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    top, head = out.hidden_states[-1], model.heads["lm"]
    assert torch.allclose(out.logits, head.softmax(top[..., :16]))  # one softmax for both directions
    assert torch.allclose(out.backward_logits, head.softmax(top[..., 16:]))
    forward, backward = [], []
    for row, n in enumerate([6, 4]):
        forward += [F.cross_entropy(out.logits[row, t], labels[row, t + 1]) for t in range(n - 1)]
        backward += [F.cross_entropy(out.backward_logits[row, t], labels[row, t - 1]) for t in range(1, n)]
    forward_loss, backward_loss = torch.stack(forward).mean(), torch.stack(backward).mean()
    assert torch.allclose(out.heads["lm"]["forward_loss"], forward_loss, atol=1e-6)
    assert torch.allclose(out.heads["lm"]["backward_loss"], backward_loss, atol=1e-6)
    assert torch.allclose(out.loss, 0.5 * (forward_loss + backward_loss), atol=1e-6)


def test_bilm_training_step_reaches_both_stacks_and_the_shared_softmax():
    model = tiny_elmo().train()
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    labels = torch.randint(0, V, (2, 6)).masked_fill(mask == 0, -100)
    model(char_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    for stack in model.encoder:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stack.parameters())
    assert model.heads["lm"].softmax.weight.grad.abs().sum() > 0


def test_softmax_initialisation():
    model = tiny_elmo(vocab_size=500)
    softmax = model.heads["lm"].softmax
    assert softmax.weight.std().item() == pytest.approx(1 / math.sqrt(16), rel=0.05)
    assert torch.all(softmax.bias == 0)


def test_scalar_mix_starts_as_the_mean_of_the_layers():
    model = tiny_elmo()
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    with torch.no_grad():
        out = model(char_ids=ids, attention_mask=mask, output_hidden_states=True)
    x, *layers = out.hidden_states
    first = torch.cat([x, x], dim=-1) * mask.unsqueeze(-1)  # [x; x], padding zeroed
    assert torch.allclose(out.representation, (first + layers[0] + layers[1]) / 3, atol=1e-6)
    mix = model.heads["mix"]
    with torch.no_grad():
        mix.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
        mix.gamma.fill_(0.5)
        w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
        want = 0.5 * (w[0] * first + w[1] * layers[0] + w[2] * layers[1])
        got = mix(out.hidden_states, {"attention_mask": mask})["representation"]
    assert torch.allclose(got, want, atol=1e-6)


def test_scalar_mix_layer_norm_uses_one_mean_and_variance_over_unmasked_elements():
    model = tiny_elmo(heads={"mix": {"type": "scalar_mix", "do_layer_norm": True, "trainable": False}})
    assert not any(p.requires_grad for p in model.heads["mix"].parameters())
    ids, mask = sentence_ids([WORDS, WORDS[:4]])
    with torch.no_grad():
        out = model(char_ids=ids, attention_mask=mask, output_hidden_states=True)
    x, *layers = out.hidden_states
    keep = mask.bool()
    normed = []
    for a in [torch.cat([x, x], dim=-1) * mask.unsqueeze(-1), *layers]:
        values = a[keep]  # (tokens, 2P): only real tokens
        normed.append((a - values.mean()) / torch.sqrt(values.var(unbiased=False) + 1e-13))
    assert torch.allclose(out.representation, sum(normed) / 3, atol=1e-5)


def test_scalar_mix_initial_weights_need_one_per_layer():
    data = elmo_recipe("test", heads={"mix": {"type": "scalar_mix", "initial_weights": [0.0, 1.0]}})
    assert any(p.startswith("model.head.mix.initial_weights:") for p in recipe_problems(data))
