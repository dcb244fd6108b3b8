"""Batches for ELMo's biLM: a sentence (or a window of seq_len - 2 of its words) as ``<S> words </S>``.

``input_ids`` are word ids (the softmax's vocabulary), ``char_ids`` (B, T, chars_per_token) the
characters of each word in plmkit.data.chars' convention (all-zero rows at padding), ``labels``
the word ids with -100 at padding: the forward LM predicts word t+1, the backward LM word t-1.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import numpy as np
import torch

from ..errors import DataError
from .batching import Batcher, Batching, Encoded, TextBatch, pad_rows
from .chars import BOS_WORD, EOS_WORD, char_ids

__all__ = ["BiLMBatching", "BiLMBatcher"]

DEFAULT_CHARS = 50  # characters per word when the model reads none (word ids only)


class BiLMBatching(Batching):
    """``bilm``: a record per document is its sentences as (word ids, words) pairs."""

    def encode(self, documents: list[list[str]], tokenizer: Any) -> list[Encoded]:
        ids = iter(tokenizer.encode_batch([s for doc in documents for s in doc]))
        out = []
        for doc in documents:
            sentences = [_words(next(ids), s) for s in doc]
            out.append(Encoded(sentences, sum(len(w) for _, w in sentences), sum(len(i) for i, _ in sentences)))
        return out

    def batcher(self, records: list[Encoded], tokenizer: Any) -> "BiLMBatcher":
        sentences = [s for r in records for s in r.data]
        return BiLMBatcher(sentences, tokenizer, self.seq_len, self.chars_per_token or DEFAULT_CHARS)

    def encode_texts(self, texts: list[str], tokenizer: Any) -> TextBatch:
        rows, chars = [], []
        width = self.chars_per_token or DEFAULT_CHARS
        for text in texts:
            words = text.split()
            rows.append([tokenizer.bos_id, *[_word_id(tokenizer, w) for w in words], tokenizer.eos_id])
            chars.append(char_ids([BOS_WORD, *words, EOS_WORD], width))
        ids, mask = pad_rows(rows, tokenizer.pad_id)
        char_array = np.zeros((*ids.shape, width), dtype=np.int64)  # padded tokens: all zeros
        for r, row in enumerate(chars):
            char_array[r, : len(row)] = row
        words = [text.split() for text in texts]
        return TextBatch(
            {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
             "char_ids": torch.from_numpy(char_array)},
            tokens=words,
            spans=[(1, 1 + len(w)) for w in words],
            word_ends=[list(range(1, 1 + len(w))) for w in words],
        )


def _words(ids: list[int], sentence: str) -> tuple[np.ndarray, list[str]]:
    words = sentence.split()
    if len(ids) != len(words):
        raise DataError(f"the tokenizer gave {len(ids)} ids for {len(words)} words in {sentence[:60]!r}; "
                        f"bilm batches need one id per whitespace-separated word (tokenizer type: word)")
    return np.asarray(ids, dtype=np.int64), words


def _word_id(tokenizer: Any, word: str) -> int:
    index = tokenizer.token_to_id(word)
    return index if index is not None else tokenizer.unk_id


class BiLMBatcher(Batcher):
    """``<S> words </S>`` windows; ``sentences`` are (word ids array, words) pairs."""

    def __init__(self, sentences: list[tuple[np.ndarray, list[str]]], tokenizer: Any, seq_len: int,
                 chars_per_token: int = DEFAULT_CHARS) -> None:
        self.tok, self.max_chars = tokenizer, chars_per_token
        room = max(seq_len - 2, 1)
        self.windows = [(ids[k: k + room], words[k: k + room])
                        for ids, words in sentences for k in range(0, len(words), room)]

    def epoch(self, rng: random.Random, shuffle: bool = True) -> list[int]:
        order = list(range(len(self.windows)))
        if shuffle:
            rng.shuffle(order)
        return order

    def collate(self, order: list[int], generator: torch.Generator | None = None) -> dict:
        rows = [np.concatenate([[self.tok.bos_id], self.windows[i][0], [self.tok.eos_id]]) for i in order]
        ids, mask = pad_rows(rows, self.tok.pad_id)
        chars = np.zeros((*ids.shape, self.max_chars), dtype=np.int64)  # padded tokens: all zeros
        for r, i in enumerate(order):
            words = [BOS_WORD, *self.windows[i][1], EOS_WORD]
            chars[r, : len(words)] = char_ids(words, self.max_chars)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                "char_ids": torch.from_numpy(chars), "labels": torch.from_numpy(np.where(mask == 1, ids, -100))}

    def heldout(self, seed: int) -> list[tuple[int, int]]:
        """Every held-out window in order, with its words + 1 (the forward LM also predicts </S>)."""
        return [(i, len(w) + 1) for i, (_, w) in enumerate(self.windows)]

    def targets(self) -> Iterator[np.ndarray]:
        for ids, _ in self.windows:
            yield np.concatenate([ids, [self.tok.eos_id]])

    def target_words(self) -> int:
        return sum(len(w) + 1 for _, w in self.windows)
