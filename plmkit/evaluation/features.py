"""A model's vectors for a task's examples, from every layer: what probes and fine-tuning read.

Every model family reads the same texts through its own tokenizer and batch layout
(``Run.encode``: ``plmkit.data.batching.TextBatch``); where an example's vector is taken is the
task's ``read``:

* ``"text"``  the mean over the text's own tokens (special tokens excluded), per layer;
* ``"words"`` one vector per whitespace word, at the word's last token (``word_ends``);
* ``"next"``  one vector for the word after the text: a bidirectional model with a mask token
  reads a mask appended in the word's place; causal and bilm models read the text's last word
  (the state from which they predict the next one).

Layer 0 is the embedding output. For a ``bilm`` model the encoder layers are [forward; backward]
(2D wide) and the embedding output x is read as [x; x], as ELMo's scalar mix does, so every
layer has the same width.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import DataError

__all__ = ["Reading", "encode_for", "gather", "extract", "random_features", "rows_per_example"]


@dataclass
class Reading:
    """Model inputs for some texts and, per text, the token positions its vector(s) are read from."""

    batch: dict[str, torch.Tensor]
    positions: list[list[int]]
    pooled: bool  # "text": one vector per text, the mean over its positions


def uses_mask(run: Any) -> bool:
    return run.recipe.model.direction == "bidirectional" and run.tokenizer.mask_id is not None


def encode_for(run: Any, texts: list[str], read: str) -> Reading:
    """Inputs for ``texts`` laid out as ``run`` reads text, and where to read each one."""
    if read == "next" and uses_mask(run):
        mask = run.tokenizer.id_to_token(run.tokenizer.mask_id)
        texts = [f"{t} {mask}" for t in texts]
    encoded = run.encode(texts)
    if read == "text":
        positions = [list(range(start, end)) for start, end in encoded.spans]
    elif read == "words":
        positions = encoded.word_ends
        for text, ends in zip(texts, positions):
            if len(ends) != len(text.split()):
                raise DataError(f"the {run.recipe.name} tokenizer gives {len(ends)} word ends for the "
                                f"{len(text.split())} words of {text[:60]!r}")
    else:
        positions = [[ends[-1]] if ends else [0] for ends in encoded.word_ends]
    width = encoded.batch["input_ids"].shape[1] if "input_ids" in encoded.batch else 0
    limit = run.recipe.model.max_positions
    if run.recipe.model.direction != "bilm" and width > limit:
        raise DataError(f"a text of {width} tokens is longer than {run.recipe.name} reads (model.max_positions "
                        f"{limit}): {texts[0][:60]!r}...; use shorter texts")
    return Reading(encoded.batch, positions, read == "text")


def gather(hidden: torch.Tensor, reading: Reading) -> torch.Tensor:
    """(B, T, D) states -> (N, D): one row per text ("text": mean over its positions) or per position."""
    if reading.pooled:
        weights = torch.zeros(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)  # (B, T)
        for row, positions in enumerate(reading.positions):
            weights[row, positions] = 1.0 / max(len(positions), 1)
        return torch.einsum("bt,btd->bd", weights, hidden)
    rows = torch.tensor([r for r, ps in enumerate(reading.positions) for _ in ps], device=hidden.device)
    cols = torch.tensor([p for ps in reading.positions for p in ps], device=hidden.device)
    return hidden[rows, cols]


def _layers(hidden_states: tuple) -> list[torch.Tensor]:
    """Every layer at the width of the top one ([x; x] for bilm's embedding output)."""
    width = hidden_states[-1].shape[-1]
    out = []
    for h in hidden_states:
        if h.shape[-1] * 2 == width:
            h = torch.cat([h, h], dim=-1)
        elif h.shape[-1] < width:
            h = torch.nn.functional.pad(h, (0, width - h.shape[-1]))
        out.append(h)
    return out


@torch.no_grad()
def extract(run: Any, texts: list[str], read: str, batch_size: int = 64) -> torch.Tensor:
    """(L+1, N, D) float32 features of every layer for ``texts`` (N rows: texts, or words for "words")."""
    model = run.model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(texts), batch_size):
        reading = encode_for(run, texts[start: start + batch_size], read)
        model.reset_states()
        out = model(**{k: v.to(device) for k, v in reading.batch.items()}, output_hidden_states=True)
        chunks.append(torch.stack([gather(h.float(), reading) for h in _layers(out.hidden_states)]).cpu())
    return torch.cat(chunks, dim=1)


def random_features(texts: list[str], read: str, dim: int, seed: int) -> torch.Tensor:
    """(1, N, dim): a fixed random vector per word type (seeded by the word and ``seed``); "text" and
    "next" read the mean of the text's word vectors (a bag of words), "words" each word's own."""
    cache: dict[str, torch.Tensor] = {}

    def vector(word: str) -> torch.Tensor:
        if word not in cache:
            g = torch.Generator().manual_seed(zlib.crc32(word.encode("utf-8")) * 7919 + seed)
            cache[word] = torch.randn(dim, generator=g)
        return cache[word]

    rows = []
    for text in texts:
        vectors = [vector(w) for w in text.split()] or [torch.zeros(dim)]
        rows.extend(vectors if read == "words" else [torch.stack(vectors).mean(0)])
    return torch.stack(rows).unsqueeze(0)


def rows_per_example(labels: list[Any]) -> list[int]:
    """How many feature rows each example has: its word count for word-level labels, else 1."""
    return [len(x) if isinstance(x, list) else 1 for x in labels]
