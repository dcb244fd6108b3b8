"""Generation: greedy decoding and the sampling filters, against transformers."""

from __future__ import annotations

import pytest
import torch

from plmkit.errors import RecipeError
from plmkit.generation import generate_ids, next_token, top_k_filter, top_p_filter

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def gpt2_pair():
    """A random tiny transformers GPT-2 and the same weights as a plmkit model."""
    from plmkit.interop.hf import from_hf

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=61, n_positions=24, n_embd=32, n_layer=2, n_head=4,
                                     attn_implementation="eager")
    hf = transformers.GPT2LMHeadModel(config).eval()
    return hf, from_hf(hf).eval()


def test_greedy_equals_transformers_generate_and_an_argmax_loop(gpt2_pair):
    hf, ours = gpt2_pair
    prompt = [5, 17, 42, 8]
    new = generate_ids(ours, prompt, max_tokens=12, temperature=0)
    expected = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, eos_token_id=None,
                           pad_token_id=0, attention_mask=torch.ones(1, 4, dtype=torch.long))
    assert new == expected[0, len(prompt):].tolist()
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            ids.append(int(ours(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    assert new == ids[len(prompt):]


def test_generation_stops_at_a_stop_id_and_keeps_to_the_position_table(gpt2_pair):
    _, ours = gpt2_pair
    free = generate_ids(ours, [1, 2, 3], max_tokens=30, temperature=0, max_positions=24)  # 33 > 24 positions
    assert len(free) == 30
    stop = free[4]
    stopped = generate_ids(ours, [1, 2, 3], max_tokens=30, temperature=0, stop_ids=[stop], max_positions=24)
    assert stopped == free[: free.index(stop) + 1]


def test_sampling_is_reproducible_by_seed(gpt2_pair):
    _, ours = gpt2_pair
    a = generate_ids(ours, [3, 4], max_tokens=15, temperature=1.5, top_k=20, top_p=0.95, seed=7)
    b = generate_ids(ours, [3, 4], max_tokens=15, temperature=1.5, top_k=20, top_p=0.95, seed=7)
    c = generate_ids(ours, [3, 4], max_tokens=15, temperature=1.5, top_k=20, top_p=0.95, seed=8)
    assert a == b and a != c


@pytest.mark.parametrize("k", [1, 3, 10, 100])
def test_top_k_matches_transformers(k):
    from transformers.generation.logits_process import TopKLogitsWarper

    torch.manual_seed(k)
    logits = torch.randn(6, 50)
    logits[0, :5] = 3.0  # ties at the boundary are kept, as in transformers
    expected = TopKLogitsWarper(top_k=k)(None, logits.clone())
    assert torch.equal(top_k_filter(logits, k), expected)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9, 0.999])
def test_top_p_matches_transformers(p):
    from transformers.generation.logits_process import TopPLogitsWarper

    torch.manual_seed(int(p * 1000))
    logits = torch.randn(6, 50) * 3
    expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
    assert torch.equal(top_p_filter(logits, p), expected)


def test_the_pipeline_samples_only_tokens_that_survive_both_filters():
    from transformers.generation.logits_process import (LogitsProcessorList, TemperatureLogitsWarper,
                                                       TopKLogitsWarper, TopPLogitsWarper)

    torch.manual_seed(3)
    logits = torch.randn(1, 40)
    hf = LogitsProcessorList([TemperatureLogitsWarper(0.7), TopKLogitsWarper(8), TopPLogitsWarper(0.8)])
    allowed = set(torch.nonzero(torch.isfinite(hf(None, logits.clone()))[0]).flatten().tolist())
    generator = torch.Generator().manual_seed(0)
    drawn = {int(next_token(logits, 0.7, 8, 0.8, generator)) for _ in range(300)}
    assert drawn <= allowed and len(drawn) > 1


def test_bad_settings_and_non_causal_models_are_refused(gpt2_pair):
    _, ours = gpt2_pair
    with pytest.raises(RecipeError) as info:  # named after the library's parameter; the CLI names the flag
        generate_ids(ours, [1], max_tokens=3, top_p=1.5)
    assert info.value.lines() == ["top_p: 1.5 is outside (0, 1]"]
    with pytest.raises(RecipeError, match="^temperature: -1 is not a finite number"):
        generate_ids(ours, [1], max_tokens=3, temperature=-1)
    ours.direction = "bidirectional"
    try:
        with pytest.raises(RecipeError, match="needs a causal model"):
            generate_ids(ours, [1], max_tokens=3)
    finally:
        ours.direction = "causal"
