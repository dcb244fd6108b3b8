"""Incremental decoding (the KV cache): the same logits and the same tokens as recomputing the
context, for every causal encoder plmkit ships (learned and rotary positions, LSTM state, a
plugin's score bias), and the same tokens as transformers' ``generate``."""

from __future__ import annotations

import pytest
import torch

import plmkit
from plmkit.generation import generate_ids, next_token
from plmkit.models.decoding import NextLogits, greedy
from plmkit.modules import SelfAttention, TransformerBlock
from conftest import RECIPES

SMALL = ["model.hidden=32", "model.max_positions=24", "model.vocab_size=53", "train.seq_len=24"]
ATOL = 1e-5


def scrambled(model: torch.nn.Module, seed: int = 2) -> torch.nn.Module:
    """Weights far from their init, so that a token depends on the whole context."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            gain = name.endswith(("ln_1.weight", "ln_2.weight")) or "final_norms" in name
            p.copy_((1.0 if gain else 0.0) + torch.randn_like(p) * 0.3)
    return model.eval()


def build(recipe: str, *overrides: str) -> torch.nn.Module:
    return scrambled(plmkit.build_model(plmkit.load_recipe(RECIPES / recipe, [*SMALL, *overrides])))


MODELS = {
    "gpt (learned positions)": lambda: build("gpt.yaml", "model.attention.heads=4"),
    "gpt-rotary": lambda: build("gpt-rotary.yaml", "model.attention.heads=4"),
    "gpt-lstm (LSTM state)": lambda: build("gpt-lstm.yaml", "model.recurrent.cell_dim=48"),
}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, one_thread):
    return MODELS[request.param]()


def full_logits(model, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    model.reset_states()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)


def recomputed_ids(model, prompt: list[int], n: int, temperature: float = 0.0, seed: int = 0, **filters) -> list[int]:
    """What generation did before the cache: the whole context through the model for every token."""
    generator = torch.Generator().manual_seed(seed)
    ids = list(prompt)
    for _ in range(n):
        logits = full_logits(model, torch.tensor([ids[-24:]]))[:, -1]
        ids.append(int(next_token(logits, temperature, generator=generator, **filters)[0]))
    return ids[len(prompt):]


def test_cached_logits_equal_the_full_forward_at_every_position(model):
    ids = torch.randint(0, 53, (3, 14), generator=torch.Generator().manual_seed(0))
    expected = full_logits(model, ids)
    cache = model.new_cache()
    assert cache is not None and cache.length == 0
    # a prompt of 5, a chunk of 4 (queries after a past: the offset causal mask), then one at a time
    with torch.no_grad():
        steps = [(0, 5), (5, 9)] + [(t, t + 1) for t in range(9, 14)]
        for start, end in steps:
            got = model.next_logits(ids[:, start:end], cache)  # (B, V) at position end - 1
            assert (got - expected[:, end - 1]).abs().max() < ATOL, (start, end)
    assert cache.length == 14


def test_forward_with_a_cache_gives_every_new_position_and_padding_is_respected(model):
    ids = torch.randint(0, 53, (2, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, :3] = 0  # row 1 is left-padded: its first three keys are hidden
    expected = full_logits(model, ids, mask)
    cache = model.new_cache()
    with torch.no_grad():
        first = model(input_ids=ids[:, :6], attention_mask=mask[:, :6], cache=cache).logits  # (2, 6, V)
        second = model(input_ids=ids[:, 6:], attention_mask=mask, cache=cache).logits  # (2, 4, V)
    got = torch.cat([first, second], dim=1)
    real = mask.bool()
    assert (got - expected)[real].abs().max() < ATOL


def test_one_position_steps_with_left_padding_give_the_full_forwards_logits(model):
    """Generation's per-token path (rows through each block's bound step) under a padding mask."""
    ids = torch.randint(0, 53, (2, 11), generator=torch.Generator().manual_seed(3))
    mask = torch.ones(2, 11, dtype=torch.long)
    mask[1, :4] = 0  # row 1 is left-padded, as a batch of unequal prompts is
    expected = full_logits(model, ids, mask)
    cache = model.new_cache()
    with torch.no_grad():
        model.next_logits(ids[:, :6], cache, attention_mask=mask[:, :6])
        for end in range(7, 12):
            got = model.next_logits(ids[:, end - 1:end], cache, attention_mask=mask[:, :end])  # (2, V)
            assert (got - expected[:, end - 1]).abs().max() < ATOL, end
    one_position_steps = model.encoder_kind == "attention"  # an LSTM's state takes the general path
    assert bool(cache.steps) == one_position_steps and len(cache.steps or []) in (0, len(model.encoder[0]))


@pytest.mark.parametrize("name", ["gpt (learned positions)", "gpt-rotary"])
def test_new_weights_are_used_by_the_next_generation(name, one_thread):
    """The decoding steps keep (in, out) copies of the weights: a change (training, a load) must
    reach the next generation."""
    model = MODELS[name]()
    prompt = [4, 9, 16, 25]
    before = generate_ids(model, prompt, max_tokens=10, temperature=0, max_positions=24)
    scrambled(model, seed=5)  # new weights, copied in place as an optimiser step or a load does
    after = generate_ids(model, prompt, max_tokens=10, temperature=0, max_positions=24)
    assert after == recomputed_ids(model, prompt, 10) and after != before


class ForwardOnlyMLP(torch.nn.Module):
    """A plugin's MLP with only ``forward`` (no ``decode``/``decoder``)."""

    def __init__(self, mlp: torch.nn.Module) -> None:
        super().__init__()
        self.inner = mlp

    def forward(self, x):
        return self.inner(x)


def test_a_block_whose_mlp_has_no_decoder_takes_the_general_path(one_thread):
    model = build("gpt.yaml", "model.attention.heads=4")
    reference = recomputed_ids(model, [5, 6, 7], 10)
    for block in model.encoder[0]:
        block.mlp = ForwardOnlyMLP(block.mlp)
    assert all(block.decoder() is None for block in model.encoder[0])
    assert generate_ids(model, [5, 6, 7], max_tokens=10, temperature=0, max_positions=24) == reference


class DoubledScoresAttention(SelfAttention):
    """A plugin's attention that changes ``forward`` (not only ``score_bias``): the one-position
    step, which knows only SelfAttention's maths, must not stand in for it."""

    def forward(self, x, attention_mask, rope=None, cache=None):
        return 2 * super().forward(x, attention_mask, rope, cache)


def test_a_subclass_with_its_own_forward_is_decoded_by_its_forward(one_thread):
    model = build("gpt.yaml", "model.attention.heads=4")
    for block in model.encoder[0]:
        doubled = DoubledScoresAttention(32, 4, causal=True)
        doubled.load_state_dict(block.attn.state_dict())
        block.attn = doubled
    assert model.new_cache() is not None and all(block.decoder() is None for block in model.encoder[0])
    prompt = [3, 1, 4, 1, 5]
    assert generate_ids(model, prompt, max_tokens=10, temperature=0, max_positions=24) == recomputed_ids(model, prompt, 10)


def test_greedy_tokens_are_those_of_recomputing_the_context(model):
    prompt = [3, 14, 15, 9, 2]
    new = generate_ids(model, prompt, max_tokens=12, temperature=0, max_positions=24)
    assert new == recomputed_ids(model, prompt, 12)
    assert len(set(new)) > 1  # the scrambled model does not just repeat one token


def test_sampled_tokens_are_those_of_recomputing_the_context_for_the_same_seed(model):
    prompt = [7, 1, 30]
    settings = dict(temperature=1.3, top_k=20, top_p=0.9)
    new = generate_ids(model, prompt, max_tokens=15, seed=11, max_positions=24, **settings)
    assert new == recomputed_ids(model, prompt, 15, seed=11, **settings)


def test_past_the_position_table_the_window_slides_as_before(model):
    prompt = list(range(1, 21))  # 20 of 24 positions: the window slides after 4 new tokens
    new = generate_ids(model, prompt, max_tokens=10, temperature=0, max_positions=24)
    assert new == recomputed_ids(model, prompt, 10)


class NoCacheAttention(SelfAttention):
    """A plugin's attention that overrides forward without ``cache=``: it keeps no cache."""

    def forward(self, x, attention_mask, rope=None):
        return super().forward(x, attention_mask, rope)


def test_a_block_without_a_cache_falls_back_to_recomputing_and_gives_the_same_tokens(one_thread):
    model = build("gpt.yaml", "model.attention.heads=4")
    reference = recomputed_ids(model, [5, 6, 7], 10)
    for block in model.encoder[0]:
        plain = NoCacheAttention(32, 4, causal=True)
        plain.load_state_dict(block.attn.state_dict())
        block.attn = plain
    assert not any(block.supports_cache for block in model.encoder[0])
    assert model.new_cache() is None
    assert generate_ids(model, [5, 6, 7], max_tokens=10, temperature=0, max_positions=24) == reference


def test_a_score_bias_is_sliced_to_the_new_queries(one_thread):
    """ALiBi (the example plugin) subclasses SelfAttention: its bias follows the cache for free."""
    blocks = pytest.importorskip("plmkit_alibi.blocks")
    model = build("gpt.yaml", "model.attention.heads=4")
    for i, block in enumerate(model.encoder[0]):
        alibi = blocks.alibi_block(32, 4, "gelu_tanh", 0.0, 1e-5, causal=True)
        alibi.load_state_dict(block.state_dict())
        model.encoder[0][i] = alibi
    model.eval()
    assert model.new_cache() is not None
    prompt = [2, 4, 8, 16, 32]
    assert generate_ids(model, prompt, max_tokens=10, temperature=0, max_positions=24) == recomputed_ids(model, prompt, 10)


def test_only_causal_models_have_a_cache(one_thread):
    bert = plmkit.build_model(plmkit.load_recipe(RECIPES / "bert.yaml", ["model.hidden=32", "model.vocab_size=53", "train.seq_len=24"]))
    assert isinstance(bert.encoder[0][0], TransformerBlock) and bert.encoder[0][0].supports_cache
    assert bert.new_cache() is None  # its blocks could keep one, but a bidirectional model has no "next"


def test_next_logits_decodes_incrementally_and_restarts_for_a_new_text(one_thread):
    model = build("gpt.yaml", "model.attention.heads=4")
    step = NextLogits(model, max_positions=24)
    ids = [1, 2, 3]
    first = step(ids)
    assert step.fed == 3 and step.cache.length == 3
    ids.append(int(first.argmax()))
    step(ids)
    assert step.cache.length == 4  # one new position fed, not four
    again = step([1, 2, 3])  # a shorter list: a new text, a fresh cache
    assert torch.allclose(again, first, atol=ATOL)


transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("B", [1, 3])
def test_greedy_equals_transformers_generate(impl, B, one_thread):
    from plmkit.interop.hf import from_hf

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=61, n_positions=40, n_embd=32, n_layer=2, n_head=4,
                                     bos_token_id=0, eos_token_id=0, attn_implementation=impl)
    hf = scrambled(transformers.GPT2LMHeadModel(config))
    ours = from_hf(hf).eval()
    prompt = torch.randint(1, 61, (B, 6), generator=torch.Generator().manual_seed(B))
    expected = hf.generate(prompt, max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0,
                           attention_mask=torch.ones_like(prompt))[:, 6:]
    assert torch.equal(greedy(ours, prompt, 16), expected)
    assert generate_ids(ours, prompt[0].tolist(), max_tokens=16, temperature=0) == expected[0].tolist()
