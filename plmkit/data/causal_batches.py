"""Batches for causal language models (GPT): contiguous chunks across documents.

Every document is preceded by the separator (the tokenizer's end-of-text token, ``<|endoftext|>``
for byte-level BPE); the documents of an epoch are shuffled, joined, cut at a random offset into
``seq_len``-token chunks, and the chunks shuffled. ``labels`` = ``input_ids`` (the head shifts).
Held-out text is read in windows that overlap by one token, so every token after the first is
predicted exactly once.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import numpy as np
import torch

from .batching import Batcher, Batching, Encoded, TextBatch, pad_rows
from .tokenize import word_ends, word_last_tokens

__all__ = ["CausalBatching", "CausalBatcher"]


class CausalBatching(Batching):
    """``causal``: a record per document is (token ids, word-end counts per token)."""

    def encode(self, documents: list[list[str]], tokenizer: Any) -> list[Encoded]:
        texts = [" ".join(doc) for doc in documents]
        out = []
        for text, enc in zip(texts, tokenizer.encodings(texts)):
            ids = np.asarray(enc.ids, dtype=np.int32)
            ends = word_ends(text, enc.offsets).astype(np.uint8)  # words whose last character is in each token
            out.append(Encoded((ids, ends), len(text.split()), len(ids)))
        return out

    def batcher(self, records: list[Encoded], tokenizer: Any) -> "CausalBatcher":
        sep = tokenizer.eos_id if tokenizer.eos_id is not None else tokenizer.pad_id
        return CausalBatcher([r.data[0] for r in records], [r.data[1] for r in records], sep, self.seq_len)

    def encode_texts(self, texts: list[str], tokenizer: Any) -> TextBatch:
        start = [tokenizer.bos_id] if tokenizer.bos_id is not None else []  # training puts it before every document
        encodings = tokenizer.encodings(texts)
        ids, mask = pad_rows([start + list(enc.ids) for enc in encodings], tokenizer.pad_id)
        return TextBatch(
            {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)},
            tokens=[[tokenizer.token_text(i) for i in enc.ids] for enc in encodings],
            spans=[(len(start), len(start) + len(enc.ids)) for enc in encodings],
            word_ends=[[len(start) + p for p in word_last_tokens(t, enc.offsets)] for t, enc in zip(texts, encodings)],
        )


class CausalBatcher(Batcher):
    """Chunks over ``<sep> doc <sep> doc ...``; ``docs`` are 1-D id arrays, ``ends`` their word-end counts."""

    def __init__(self, docs: list[np.ndarray], ends: list[np.ndarray], sep_id: int, seq_len: int):
        self.docs, self.ends, self.sep, self.seq_len = docs, ends, sep_id, seq_len

    def joined(self, order) -> np.ndarray:
        parts = []
        for i in order:
            parts += [np.array([self.sep], dtype=np.int32), self.docs[i]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def epoch(self, rng: random.Random) -> list[np.ndarray]:
        order = list(range(len(self.docs)))
        rng.shuffle(order)
        stream = self.joined(order)
        offset = rng.randrange(self.seq_len) if len(stream) >= 2 * self.seq_len else 0
        n = (len(stream) - offset) // self.seq_len
        chunks = list(stream[offset: offset + n * self.seq_len].reshape(n, self.seq_len))
        rng.shuffle(chunks)
        return chunks

    def collate(self, chunks: list[np.ndarray], generator: torch.Generator | None = None) -> dict:
        ids, mask = pad_rows(chunks, self.sep)
        labels = np.where(mask == 1, ids, -100)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                "labels": torch.from_numpy(labels)}

    def heldout(self, seed: int) -> list[tuple[np.ndarray, int]]:
        """Windows overlapping by one token, each with the number of words whose last token it predicts.

        Every separator ends one "word" (the document end), the first one excepted: it is never predicted.
        """
        stream = self.joined(range(len(self.docs)))
        stream = np.concatenate([stream, np.array([self.sep], dtype=np.int32)])
        if self.ends:
            ends = np.concatenate([np.concatenate([[1], e]) for e in self.ends] + [np.ones(1)])
        else:
            ends = np.ones(1)
        out, step = [], self.seq_len - 1
        for start in range(0, max(len(stream) - 1, 0), step):
            window = stream[start: start + self.seq_len]
            out.append((window, int(ends[start + 1: start + len(window)].sum())))
        return out

    def targets(self) -> Iterator[np.ndarray]:
        """Token ids the LM predicts: each document's tokens and its closing separator."""
        for doc in self.docs:
            yield np.concatenate([doc, np.array([self.sep], dtype=np.int32)])

    def target_words(self) -> int:
        """The documents' words, plus one per document end (the separator the LM predicts)."""
        return sum(int(e.sum()) for e in self.ends) + len(self.docs)
