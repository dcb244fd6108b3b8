"""Text generation from causal models: greedy, temperature, top-k and top-p sampling.

The sampling pipeline follows transformers (generation/logits_process.py), in its order:
temperature (``logits / T``) -> top-k (every logit below the k-th largest set to -inf; ties
kept) -> top-p (sort ascending, cumulative softmax, drop tokens whose cumulative mass is
<= 1 - p, always keep one: the smallest set with mass >= p, including the token that crosses p)
-> softmax -> multinomial. Temperature 0 means greedy (argmax). OpenAI's sample.py keeps the
tokens whose descending cumulative mass is <= p instead, i.e. one token fewer at the boundary;
plmkit follows transformers.

Decoding is incremental (``plmkit.models.decoding.NextLogits``): the model's cache keeps every
block's past keys and values, so each new token computes one position and projects only it to
the vocabulary; a model whose blocks keep no cache, or a text longer than ``max_positions``
(whose window slides), recomputes the context. The logits, and so the tokens, are the same.

Generation streams: ``stream_ids`` yields each id as it is drawn and ``stream_text`` each piece of
text as soon as it is complete (a character split across tokens is held back until its last
byte), decoding only a window of the latest tokens, so a step costs the same however long the
output grows. There is no cap on the number of tokens: past ``max_positions`` the context slides.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import torch

from .errors import Problem, RecipeError

__all__ = ["top_k_filter", "top_p_filter", "next_token", "generate_ids", "stream_ids", "stream_text",
           "check_sampling", "check_causal"]


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


def check_sampling(temperature: float, top_k: int | None, top_p: float | None, max_tokens: int,
                   seed: int | None = None) -> None:
    """Reject impossible sampling settings with one line each (exit 2: the command line is wrong)."""
    if not math.isfinite(temperature) or temperature < 0:
        raise _wrong("temperature", f"{temperature} is not a finite number >= 0; use 0 (greedy) or more")
    if top_k is not None and top_k < 0:
        raise _wrong("top_k", f"{top_k} is negative; use 0 (off) or a positive count")
    if top_p is not None and not 0 < top_p <= 1:
        raise _wrong("top_p", f"{top_p} is outside (0, 1]")
    if max_tokens < 0:
        raise _wrong("max_tokens", f"{max_tokens} is negative")
    if seed is not None and not 0 <= seed < 2**64:
        raise _wrong("seed", f"{seed} is outside 0 .. 2**64 - 1")


def _wrong(parameter: str, message: str) -> RecipeError:
    """A usage mistake named after the parameter (the command line re-keys it to its flag)."""
    return RecipeError(problems=[Problem(parameter, message)])


def check_causal(model: torch.nn.Module) -> None:
    """Only a causal model continues text; anything else is a usage mistake (exit 2)."""
    direction = getattr(model, "direction", "causal")
    if direction != "causal":
        raise RecipeError(f"generate needs a causal model (model.direction: causal); this model is "
                          f"{direction}: use plmkit embed or plmkit eval instead")


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
    return list(stream_ids(model, prompt_ids, max_tokens, temperature, top_k, top_p, seed, stop_ids, max_positions))


def stream_ids(
    model: torch.nn.Module,
    prompt_ids: list[int],
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: Iterable[int] = (),
    max_positions: int | None = None,
) -> Iterator[int]:
    """``generate_ids``, one id at a time as each is drawn (the settings are checked at once)."""
    check_causal(model)
    check_sampling(temperature, top_k, top_p, max_tokens, seed)
    if not prompt_ids:
        raise _wrong("prompt", "the prompt encodes to no tokens; give some text")
    return _draw(model, list(prompt_ids), max_tokens, temperature, top_k, top_p, seed, set(stop_ids), max_positions)


def _draw(model: torch.nn.Module, ids: list[int], max_tokens: int, temperature: float, top_k: int | None,
          top_p: float | None, seed: int | None, stop: set[int], max_positions: int | None) -> Iterator[int]:
    from .models.decoding import NextLogits

    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else seed)
    was_training = model.training
    model.eval()
    try:
        next_logits = NextLogits(model, max_positions)  # feeds only the new ids (the model's cache)
        for _ in range(max_tokens):
            with torch.inference_mode():  # per step: grad mode must not leak to the caller between yields
                logits = next_logits(ids)  # (1, V) at the last position
                token = int(next_token(logits, temperature, top_k, top_p, generator)[0])
            ids.append(token)
            yield token
            if token in stop:
                break
    finally:
        model.train(was_training)


def stream_text(run: Any, prompt: str, max_tokens: int = 50, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, seed: int | None = None) -> Iterator[str]:
    """The prompt continued by a run's causal model, as pieces of text: the prompt first, then
    each new piece as it is complete (stops at the end-of-document token). The pieces joined are
    exactly the decoded prompt and continuation."""
    tok = run.tokenizer
    check_causal(run.model)
    start = [tok.bos_id] if tok.bos_id is not None else []  # training put it before every document
    prompt_ids = start + tok.encode(prompt)
    stop = {i for i in (tok.eos_id, tok.sep_id) if i is not None}
    new = stream_ids(run.model, prompt_ids, max_tokens, temperature, top_k, top_p, seed, stop,
                     max_positions=run.recipe.model.max_positions)
    text = _IncrementalText(tok, prompt_ids[len(start):])
    yield text.add()
    for token in new:
        if token not in stop:
            yield text.add(token)
    yield text.finish()


class _IncrementalText:
    """The text of a growing list of ids, a piece at a time. Only a window of the latest ids is
    decoded (restarted, keeping ``KEEP`` ids of context, once it passes ``WINDOW``), and a piece
    ending in an unfinished character (U+FFFD) is held back until the character completes."""

    WINDOW, KEEP = 64, 8

    def __init__(self, tokenizer: Any, ids: list[int]) -> None:
        self.tokenizer, self.window, self.shown = tokenizer, list(ids), ""

    def add(self, token: int | None = None) -> str:
        if token is not None:
            self.window.append(token)
        text = self.tokenizer.decode(self.window)
        if not text.startswith(self.shown):  # a decoder that rewrote earlier text: show only what is new
            self.shown = text[: len(_common_prefix(text, self.shown))]
        complete = text.rstrip("\ufffd")
        piece = complete[len(self.shown):] if len(complete) > len(self.shown) else ""
        self.shown += piece
        if len(self.window) > self.WINDOW and complete == text:
            self.window = self.window[-self.KEEP:]
            self.shown = self.tokenizer.decode(self.window)
        return piece

    def finish(self) -> str:
        """What was held back (an unfinished character at the very end)."""
        text = self.tokenizer.decode(self.window)
        return text[len(self.shown):] if text.startswith(self.shown) else ""


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
