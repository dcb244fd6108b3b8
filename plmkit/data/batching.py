"""How documents become batches: the contract of ``batching`` components, and the parts they share.

A ``batching`` component (registered like any other; see plmkit/components/batching/) builds a
``Batching``: the strategy for one family of objectives. plmkit's data pipeline
(``plmkit.data.prepare``) calls it without knowing which one it is:

1. ``encode(documents, tokenizer) -> [Encoded]``: a group of documents (each a list of sentence
   strings) tokenized into whatever compact record this batching keeps per document;
2. ``batcher(records, tokenizer) -> Batcher``: the batches of one split (training or held-out),
   from that split's ``Encoded`` records in source order;
3. ``encode_texts(texts, tokenizer) -> TextBatch``: standalone texts as model inputs, with the
   position of every word's last token (``plmkit embed``, feature extraction in ``plmkit compare``).

A ``Batcher`` makes instances and batches:

* ``epoch(rng) -> list``: one shuffled epoch of training instances (``rng`` a ``random.Random``);
* ``collate(instances, generator) -> dict``: model inputs (torch tensors, right-padded); random
  corruption (MLM masking) draws only from ``generator``;
* ``heldout(seed) -> [(instance, words)]``: every held-out instance, in a fixed order, with the
  number of words its predicted tokens spell (for bits per word);
* ``targets() -> iterator of id arrays`` and ``target_words() -> int``: the tokens a language
  model predicts and the words they spell (the unigram baseline).

The train stream is infinite and deterministic: epoch e is built from ``random.Random`` seeded by
(seed, e); micro-batch k holds instances k*B .. (k+1)*B-1 of the epochs laid end to end, and its
``collate`` generator is seeded by (seed, k). So ``train_stream(start=k)`` is exactly the tail of
``train_stream(start=0)``: a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch

__all__ = [
    "Batching", "Batcher", "Encoded", "TextBatch", "mask_tokens", "pad_rows", "train_stream", "eval_batches",
]


@dataclass
class Encoded:
    """One tokenized document as a batching keeps it: ``data`` (its own format) and its size."""

    data: Any
    words: int  # whitespace-separated words of the document's text
    tokens: int  # tokens it was encoded into


@dataclass
class TextBatch:
    """Standalone texts as model inputs (``Batching.encode_texts``)."""

    batch: dict[str, torch.Tensor]  # model inputs (B, T), right-padded
    tokens: list[list[str]] = field(default_factory=list)  # per text: its own tokens (no special tokens)
    spans: list[tuple[int, int]] = field(default_factory=list)  # per text: [start, end) of those tokens in its row
    word_ends: list[list[int]] = field(default_factory=list)  # per text: position of each word's last token


class Batcher:
    """The batches of one split; see the module docstring for the contract."""

    def epoch(self, rng: random.Random) -> list:
        raise NotImplementedError

    def collate(self, instances: list, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def heldout(self, seed: int) -> list[tuple[Any, int]]:
        raise NotImplementedError

    def targets(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def target_words(self) -> int:
        raise NotImplementedError


class Batching:
    """What a ``batching`` component builds; see the module docstring for the contract.

    ``seq_len`` is ``train.seq_len``; ``chars_per_token`` is set when the model reads characters
    (ELMo's char CNN), else None.
    """

    def __init__(self, seq_len: int, chars_per_token: int | None = None) -> None:
        self.seq_len, self.chars_per_token = seq_len, chars_per_token

    def encode(self, documents: list[list[str]], tokenizer: Any) -> list[Encoded]:
        raise NotImplementedError

    def batcher(self, records: list[Encoded], tokenizer: Any) -> Batcher:
        raise NotImplementedError

    def encode_texts(self, texts: list[str], tokenizer: Any) -> TextBatch:
        raise NotImplementedError


def pad_rows(rows: list, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad 1-D int sequences: (ids (B, T), attention_mask (B, T)), int64."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, generator: torch.Generator | None, vocab_size: int,
                mask_id: int, mask_prob: float, mask_token_prob: float = 0.8, random_token_prob: float = 0.1):
    """HF ``DataCollatorForLanguageModeling.torch_mask_tokens`` (same RNG calls): (inputs, labels), both (B, T).

    Each non-special token is chosen with ``mask_prob``; labels are -100 elsewhere; of the chosen,
    ``mask_token_prob`` become [MASK], ``random_token_prob`` a uniformly random id, the rest stay.
    """
    inputs, labels = input_ids.clone(), input_ids.clone()
    probability = torch.full(labels.shape, mask_prob).masked_fill_(special, 0.0)
    masked = torch.bernoulli(probability, generator=generator).bool()
    labels[~masked] = -100
    replaced = torch.bernoulli(torch.full(labels.shape, mask_token_prob), generator=generator).bool() & masked
    inputs[replaced] = mask_id
    if mask_token_prob == 1 or random_token_prob == 0:
        return inputs, labels
    scaled = random_token_prob / (1 - mask_token_prob)  # of the chosen-but-not-[MASK] tokens
    randomised = torch.bernoulli(torch.full(labels.shape, scaled), generator=generator).bool() & masked & ~replaced
    words = torch.randint(vocab_size, labels.shape, dtype=torch.long, generator=generator)
    inputs[randomised] = words[randomised]
    return inputs, labels


def _mix(seed: int, index: int, salt: int) -> int:
    """A 63-bit seed for (seed, index): distinct streams for distinct runs, batches and purposes."""
    return (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt) % (2**63 - 1)


def train_stream(batcher: Batcher, micro_batch: int, seed: int, start: int = 0) -> Iterator[dict]:
    """Micro-batches ``start``, ``start + 1``, ... of the infinite training stream (see module doc)."""
    skip, epoch, k = start * micro_batch, 0, start
    pending: list = []
    while True:
        instances = batcher.epoch(random.Random(_mix(seed, epoch, 1)))
        epoch += 1
        if not instances:
            raise ValueError("an epoch of the training data produced no instance")
        if skip >= len(instances):  # resuming: this whole epoch was seen before
            skip -= len(instances)
            continue
        pending, skip = pending + instances[skip:], 0
        full = len(pending) // micro_batch
        for b in range(full):
            group = pending[b * micro_batch: (b + 1) * micro_batch]
            yield batcher.collate(group, torch.Generator().manual_seed(_mix(seed, k, 2)))
            k += 1
        pending = pending[full * micro_batch:]


def eval_batches(instances: list[tuple[Any, int]], collate: Callable, micro_batch: int, n_batches: int,
                 seed: int) -> tuple[list[dict], list[int]]:
    """The first ``n_batches`` held-out batches and the words each covers; masking fixed by seed."""
    batches, words = [], []
    for b in range(min(n_batches, -(-len(instances) // micro_batch))):
        group = instances[b * micro_batch: (b + 1) * micro_batch]
        batches.append(collate([g[0] for g in group], torch.Generator().manual_seed(_mix(seed, b, 3))))
        words.append(sum(g[1] for g in group))
    return batches, words
