"""Text generation from causal models: greedy, temperature, top-k and top-p sampling.

The sampling pipeline follows transformers (generation/logits_process.py), in its order:
temperature (``logits / T``) -> top-k (every logit below the k-th largest set to -inf; ties
kept) -> top-p (sort ascending, cumulative softmax, drop tokens whose cumulative mass is
<= 1 - p, always keep one: the smallest set with mass >= p, including the token that crosses p)
-> softmax -> multinomial. Temperature 0 means greedy (argmax). OpenAI's sample.py keeps the
tokens whose descending cumulative mass is <= p instead, i.e. one token fewer at the boundary;
plmkit follows transformers.

There is no KV cache: each new token recomputes the (at most ``max_positions``) context. For the
small models plmkit trains this costs little and keeps the model contract simple.
"""

from __future__ import annotations

from typing import Iterable

import torch

from .errors import RecipeError, RunError

__all__ = ["top_k_filter", "top_p_filter", "next_token", "generate_ids"]


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (B, V) and ties with the k-th; the rest -> -inf."""
    k = min(max(k, 1), logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability mass reaches ``p`` (at least one)."""
    sorted_logits, sorted_index = torch.sort(logits, descending=False, dim=-1)  # (B, V) ascending
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - p)
    remove_sorted[..., -1:] = False  # the most likely token always stays
    remove = remove_sorted.scatter(-1, sorted_index, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token id (B,) from the last position's logits (B, V)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def check_sampling(temperature: float, top_k: int | None, top_p: float | None, max_tokens: int) -> None:
    """Reject impossible sampling settings with one line each (exit 2: the command line is wrong)."""
    if temperature < 0:
        raise RecipeError(f"--temperature: {temperature} is negative; use 0 (greedy) or more")
    if top_k is not None and top_k < 0:
        raise RecipeError(f"--top-k: {top_k} is negative; use 0 (off) or a positive count")
    if top_p is not None and not 0 < top_p <= 1:
        raise RecipeError(f"--top-p: {top_p} is outside (0, 1]")
    if max_tokens < 0:
        raise RecipeError(f"--max-tokens: {max_tokens} is negative")


@torch.inference_mode()
def generate_ids(
    model: torch.nn.Module,
    prompt_ids: list[int],
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: Iterable[int] = (),
    max_positions: int | None = None,
) -> list[int]:
    """Continue ``prompt_ids`` by up to ``max_tokens`` ids; stop after any id in ``stop_ids``.

    Only the new ids are returned (a stop id, if reached, included). The context is cut to the
    last ``max_positions`` tokens, the longest sequence the model's position table accepts.
    """
    if getattr(model, "direction", "causal") != "causal":
        raise RunError(f"generate needs a causal model (model.direction: causal); this model is "
                       f"{model.direction}: use plmkit embed or plmkit eval instead")
    check_sampling(temperature, top_k, top_p, max_tokens)
    if not prompt_ids:
        raise RecipeError("--prompt: the prompt encodes to no tokens; give some text")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else seed)
    stop, ids, new = set(stop_ids), list(prompt_ids), []
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_tokens):
            context = ids[-max_positions:] if max_positions else ids
            input_ids = torch.tensor([context], dtype=torch.long, device=device)  # (1, T)
            model.reset_states()  # the whole context is fed again at every step
            logits = model(input_ids=input_ids).logits[:, -1, :]  # (1, V)
            token = int(next_token(logits, temperature, top_k, top_p, generator)[0])
            ids.append(token)
            new.append(token)
            if token in stop:
                break
    finally:
        model.train(was_training)
    return new
