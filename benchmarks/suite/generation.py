"""Greedy generation with the KV cache: plmkit vs transformers ``generate``, same model, same prompt,
identical tokens asserted, at batch 1 and 8 and prompts of 16 and 200 tokens.

The model is recipes/gpt.yaml's (a transformers GPT-2 with sdpa attention, and plmkit's
``from_hf`` of it). Contenders: transformers ``generate(do_sample=False)``; plmkit's
``plmkit.models.decoding.greedy`` (batched, the cache); at batch 1 also ``generate_ids`` with
temperature 0 (what ``plmkit generate`` and ``Run.generate`` run: the sampling pipeline with its
per-token Python) and, for the short prompt, plmkit recomputing the context for every token (the
path before the cache, and what a plugin block without a cache still gets).
"""

from __future__ import annotations

from typing import Any

import torch

from .common import ROOT, SEED, Contender, interleaved, load, ratios, top_ops

TARGET = 2.0  # tokens/s over transformers generate at batch 1


def build_models(quick: bool) -> tuple[Any, Any, dict]:
    import plmkit
    import transformers
    from plmkit.interop.hf import from_hf

    overrides = ["model.hidden=32", "model.layers=2", "tokenizer.vocab_size=300"] if quick else []
    recipe = plmkit.load_recipe(ROOT / "recipes/gpt.yaml", overrides)
    m, block = recipe.model, recipe.model.attention.params
    config = transformers.GPT2Config(
        vocab_size=recipe.tokenizer.params.vocab_size, n_positions=m.max_positions, n_embd=m.hidden,
        n_layer=m.layers, n_head=block.heads, n_inner=block.ffn, layer_norm_epsilon=block.eps,
        activation_function="gelu_pytorch_tanh", bos_token_id=0, eos_token_id=0, attn_implementation="sdpa")
    torch.manual_seed(SEED)
    hf = transformers.GPT2LMHeadModel(config).eval()
    ours = from_hf(hf).eval()
    shape = f"hidden {m.hidden}, {m.layers} layers, vocab {config.vocab_size}, {m.max_positions} positions"
    return hf, ours, {"shape": shape, "max_positions": m.max_positions, "vocab": config.vocab_size}


def run_case(B: int, prompt_len: int, new: int, hf: Any, ours: Any, info: dict, warmup: int, rounds: int,
             profile: bool | None = None) -> dict:
    from plmkit.generation import generate_ids
    from plmkit.models.decoding import greedy

    load_before = load()
    prompt = torch.randint(1, info["vocab"], (B, prompt_len), generator=torch.Generator().manual_seed(B + prompt_len))
    mask = torch.ones_like(prompt)
    settings = dict(max_new_tokens=new, do_sample=False, eos_token_id=None, pad_token_id=0, attention_mask=mask)

    def theirs() -> torch.Tensor:
        with torch.inference_mode():
            return hf.generate(prompt, **settings)[:, prompt_len:]

    expected = theirs()
    contenders = [Contender("transformers generate", theirs), Contender("plmkit greedy (cache)", lambda: greedy(ours, prompt, new))]
    if B == 1:
        contenders.append(Contender("plmkit generate_ids", lambda: generate_ids(ours, prompt[0].tolist(), new, temperature=0)))
        if prompt_len <= 16:
            contenders.append(Contender("plmkit, no cache", lambda: _recompute(ours, prompt, new)))
    same = {c.name: _as_tensor(c.run(), B) for c in contenders}
    for name, tokens in same.items():
        assert torch.equal(tokens, expected), f"generation B={B} T={prompt_len}: {name} differs from transformers"
    times = interleaved(contenders, warmup, rounds)
    stats = ratios(times, "transformers generate")
    for st in stats.values():
        st["tokens_per_s"] = B * new / st["median_s"]
        st["ms_per_token"] = 1e3 * st["median_s"] / new
    result = {"case": f"generate B={B} prompt={prompt_len}", "batch": B, "prompt": prompt_len, "new_tokens": new,
              "shape": info["shape"], "identical_tokens": True, "contenders": stats, "load": [load_before, load()]}
    if B == 1:
        speedup = 1 / stats["plmkit greedy (cache)"]["ratio_paired"]
        api = 1 / stats["plmkit generate_ids"]["ratio_paired"]
        result["target"] = {"goal": f">= {TARGET}x transformers generate at batch 1", "speedup": speedup,
                            "speedup_generate_ids": api, "met": min(speedup, api) >= TARGET}
        if (not result["target"]["met"]) if profile is None else profile:
            result["profile"] = {"plmkit generate_ids": top_ops(contenders[2].run, rows=10)}
    return result


def _as_tensor(out: Any, B: int) -> torch.Tensor:
    return out if torch.is_tensor(out) else torch.tensor([out]).view(B, -1)


@torch.inference_mode()
def _recompute(model: Any, prompt: torch.Tensor, new: int) -> torch.Tensor:
    ids = prompt
    for _ in range(new):
        ids = torch.cat([ids, model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[:, prompt.shape[1]:]
