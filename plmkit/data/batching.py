"""Batches per objective: the layout comes from the recipe's heads (each head's ``batch`` ClassVar).

Layouts (every batch has ``input_ids`` and ``attention_mask`` (B, T), right-padded with the pad id):

* ``pairs`` (a ``next_sentence`` head): google-research/bert's ``create_instances_from_document``:
  ``[CLS] A [SEP] B [SEP]`` with ``token_type_ids`` and ``next_sentence_label`` (0 = B really
  follows A, 1 = B starts at a random sentence of another document), truncated to seq_len.
* ``segments`` (``masked_lm`` alone): ``[CLS] sentences of one document [SEP]`` up to seq_len.
  Both BERT layouts get MLM masking when there is a ``masked_lm`` head: ``mask_tokens`` is
  HF ``DataCollatorForLanguageModeling.torch_mask_tokens`` (same RNG calls, bit for bit).
* ``causal`` (``causal_lm``): contiguous chunks of seq_len tokens over the documents joined by the
  separator (``<|endoftext|>`` before every document); ``labels`` = ``input_ids`` (the head shifts).
* ``bilm`` (``bidirectional_lm``): a sentence (or a window of seq_len - 2 of its words) as
  ``<S> words </S>``: word ``input_ids``, ``char_ids`` (B, T, 50) from ``plmkit.data.chars``
  (all-zero rows at padding), ``labels`` = word ids with -100 at padding.

The train stream is infinite and deterministic: epoch e is built from ``random.Random`` seeded
by (seed, e); micro-batch k holds instances k*B .. (k+1)*B-1 of the epochs laid end to end, and
its masking uses a ``torch.Generator`` seeded by (seed, k). So ``stream(start=k)`` is exactly the
tail of ``stream(start=0)``: a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..errors import RecipeError
from .layouts import COMBINATIONS, layout_for

__all__ = [
    "Layout", "layout_of", "mask_tokens", "CausalBatcher", "PairBatcher", "SegmentBatcher", "BiLMBatcher",
    "train_stream", "eval_batches",
]

SHORT_SEQ_PROB = 0.1  # google-research/bert: a shorter target length 10% of the time


@dataclass(frozen=True)
class Layout:
    """How batches look: ``name`` in pairs/segments/causal/bilm, and MLM rates when masking."""

    name: str
    mask_prob: float | None = None  # None: no MLM masking
    mask_token_prob: float = 0.8
    random_token_prob: float = 0.1


def layout_of(recipe) -> Layout:
    """The layout the recipe's heads ask for (their Params' ``batch`` class variables)."""
    wanted: dict[str, Any] = {}
    for spec in recipe.model.head.values():
        if spec is not None and spec.params.objective:
            wanted[spec.params.objective] = spec.params
    mlm = wanted.get("masked_lm")
    rates = {} if mlm is None else {"mask_prob": mlm.mask_prob, "mask_token_prob": getattr(mlm, "mask_token_prob", 0.8),
                                    "random_token_prob": getattr(mlm, "random_token_prob", 0.1)}
    name = layout_for(wanted)
    if name is None:
        raise RecipeError(f"model.head: the heads ask for batches of kinds {sorted(wanted) or 'none'}; plmkit "
                          f"batches {COMBINATIONS}")
    return Layout(name, **(rates if name in ("pairs", "segments") else {}))


def mask_tokens(input_ids: torch.Tensor, special: torch.Tensor, generator: torch.Generator, vocab_size: int,
                mask_id: int, mask_prob: float, mask_token_prob: float = 0.8, random_token_prob: float = 0.1):
    """HF ``DataCollatorForLanguageModeling.torch_mask_tokens``: (inputs, labels), both (B, T).

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


def _pad(rows: list, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad 1-D int sequences: (ids (B, T), attention_mask (B, T))."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


# ---------------------------------------------------------------------------------------------
# causal LM


class CausalBatcher:
    """Contiguous chunks over ``<sep> doc <sep> doc ...``; ``docs`` are 1-D int arrays of token ids."""

    def __init__(self, docs: list[np.ndarray], sep_id: int, seq_len: int):
        self.docs, self.sep, self.seq_len = docs, sep_id, seq_len

    def joined(self, order) -> np.ndarray:
        parts = []
        for i in order:
            parts += [np.array([self.sep], dtype=np.int32), self.docs[i]]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)

    def epoch(self, rng: random.Random) -> list[np.ndarray]:
        """Documents shuffled, joined, cut at a random offset into seq_len chunks, chunks shuffled."""
        order = list(range(len(self.docs)))
        rng.shuffle(order)
        stream = self.joined(order)
        offset = rng.randrange(self.seq_len) if len(stream) >= 2 * self.seq_len else 0
        n = (len(stream) - offset) // self.seq_len
        chunks = list(stream[offset: offset + n * self.seq_len].reshape(n, self.seq_len))
        rng.shuffle(chunks)
        return chunks

    def collate(self, chunks: list[np.ndarray], generator=None) -> dict:
        ids, mask = _pad(chunks, self.sep)
        labels = np.where(mask == 1, ids, -100)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                "labels": torch.from_numpy(labels)}

    def eval_instances(self, word_ends: list[np.ndarray]) -> list[tuple[np.ndarray, int]]:
        """Held-out windows overlapping by one token, so every token after the first is predicted
        exactly once; each with the number of words whose last token it predicts.

        ``word_ends[i]`` flags the tokens of document i that end a whitespace word; every
        separator ends one "word" (the document end), the first one excepted: it is never predicted.
        """
        stream = self.joined(range(len(self.docs)))
        stream = np.concatenate([stream, np.array([self.sep], dtype=np.int32)])
        ends = np.concatenate([np.concatenate([[1], e]) for e in word_ends] + [np.ones(1)]) if word_ends else np.ones(1)
        out, step = [], self.seq_len - 1
        for start in range(0, max(len(stream) - 1, 0), step):
            window = stream[start: start + self.seq_len]
            out.append((window, int(ends[start + 1: start + len(window)].sum())))
        return out

    def targets(self) -> Iterator[np.ndarray]:
        """Token ids the LM predicts: each document's tokens and its closing separator."""
        for doc in self.docs:
            yield np.concatenate([doc, np.array([self.sep], dtype=np.int32)])


# ---------------------------------------------------------------------------------------------
# BERT: pairs for next-sentence prediction, single segments for MLM alone


class _BertBatcher:
    """Shared by the two BERT layouts: ``docs`` are lists of sentences, each a list of token ids."""

    def __init__(self, docs: list[list[list[int]]], tokenizer, seq_len: int, layout: Layout):
        self.docs, self.tok, self.seq_len, self.layout = docs, tokenizer, seq_len, layout

    def collate(self, instances: list[tuple], generator: torch.Generator | None = None) -> dict:
        ids, mask = _pad([i[0] for i in instances], self.tok.pad_id)
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if self.layout.name == "pairs":
            types, _ = _pad([i[1] for i in instances], 0)
            batch["token_type_ids"] = torch.from_numpy(types)
            batch["next_sentence_label"] = torch.tensor([i[2] for i in instances], dtype=torch.long)
        if self.layout.mask_prob is not None:
            special = torch.isin(batch["input_ids"], torch.tensor(sorted(self.tok.special_ids)))
            batch["input_ids"], batch["labels"] = mask_tokens(
                batch["input_ids"], special, generator, self.tok.vocab_size, self.tok.mask_id,
                self.layout.mask_prob, self.layout.mask_token_prob, self.layout.random_token_prob)
        return batch

    def eval_instances(self, seed: int) -> list[tuple[tuple, int]]:
        instances = self.epoch(random.Random(f"eval:{seed}"), shuffle=False)
        return [(inst, inst[-1]) for inst in instances]

    def targets(self) -> Iterator[list[int]]:
        for doc in self.docs:
            for sentence in doc:
                yield sentence


class PairBatcher(_BertBatcher):
    """``[CLS] A [SEP] B [SEP]`` instances: (tokens, token types, is_random_next, n_words)."""

    def epoch(self, rng: random.Random, shuffle: bool = True) -> list[tuple]:
        order = list(range(len(self.docs)))
        if shuffle:
            rng.shuffle(order)
        out: list[tuple] = []
        for d in order:
            out += self._from_document(d, rng)
        if shuffle:
            rng.shuffle(out)
        return out

    def _from_document(self, d: int, rng: random.Random) -> list[tuple]:
        """google-research/bert ``create_instances_from_document`` (one pass, ``dupe_factor`` 1)."""
        document, max_tokens = self.docs[d], self.seq_len - 3
        target = rng.randint(2, max_tokens) if rng.random() < SHORT_SEQ_PROB else max_tokens
        out, chunk, length, i = [], [], 0, 0
        while i < len(document):
            chunk.append(document[i])
            length += len(document[i])
            if i == len(document) - 1 or length >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                a = [t for s in chunk[:a_end] for t in s]
                if len(chunk) == 1 or rng.random() < 0.5:
                    b, is_random = self._random_next(d, target - len(a), rng), 1
                    i -= len(chunk) - a_end  # put the unused sentences back
                else:
                    b, is_random = [t for s in chunk[a_end:] for t in s], 0
                _truncate_pair(a, b, max_tokens, rng)
                if a and b:
                    out.append(self._instance(a, b, is_random))
                chunk, length = [], 0
            i += 1
        return out

    def _random_next(self, d: int, target: int, rng: random.Random) -> list[int]:
        for _ in range(10):
            other = rng.randint(0, len(self.docs) - 1)
            if other != d:
                break
        doc, b = self.docs[other], []
        for sentence in doc[rng.randint(0, len(doc) - 1):]:
            b += sentence
            if len(b) >= target:
                break
        return b

    def _instance(self, a: list[int], b: list[int], is_random: int) -> tuple:
        cls, sep = self.tok.cls_id, self.tok.sep_id
        tokens = [cls, *a, sep, *b, sep]
        types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        return tokens, types, is_random, len(a) + len(b)


def _truncate_pair(a: list, b: list, max_tokens: int, rng: random.Random) -> None:
    """google-research/bert ``truncate_seq_pair``: drop from the longer, front or back at random."""
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        del longer[0 if rng.random() < 0.5 else -1]


class SegmentBatcher(_BertBatcher):
    """``[CLS] sentences [SEP]``: a document's consecutive sentences packed up to seq_len - 2 tokens."""

    def epoch(self, rng: random.Random, shuffle: bool = True) -> list[tuple]:
        out, room = [], self.seq_len - 2
        for doc in self.docs:
            segment: list[int] = []
            for sentence in doc:
                if segment and len(segment) + len(sentence) > room:
                    out.append(self._instance(segment))
                    segment = []
                segment += sentence
            if segment:
                out.append(self._instance(segment[:room]))
        if shuffle:
            rng.shuffle(out)
        return out

    def _instance(self, segment: list[int]) -> tuple:
        segment = segment[: self.seq_len - 2]
        return [self.tok.cls_id, *segment, self.tok.sep_id], len(segment)


# ---------------------------------------------------------------------------------------------
# ELMo biLM


class BiLMBatcher:
    """``<S> words </S>`` windows; ``sentences`` are (word ids array, words) pairs."""

    def __init__(self, sentences: list[tuple[np.ndarray, list[str]]], tokenizer, seq_len: int, max_chars: int = 50):
        from .chars import BOS_WORD, EOS_WORD

        self.tok, self.max_chars = tokenizer, max_chars
        self.bos, self.eos = BOS_WORD, EOS_WORD
        room = max(seq_len - 2, 1)
        self.windows = [(ids[k: k + room], words[k: k + room])
                        for ids, words in sentences for k in range(0, len(words), room)]

    def epoch(self, rng: random.Random, shuffle: bool = True) -> list[int]:
        order = list(range(len(self.windows)))
        if shuffle:
            rng.shuffle(order)
        return order

    def collate(self, order: list[int], generator=None) -> dict:
        from .chars import char_ids

        rows = [np.concatenate([[self.tok.bos_id], self.windows[i][0], [self.tok.eos_id]]) for i in order]
        ids, mask = _pad(rows, self.tok.pad_id)
        chars = np.zeros((*ids.shape, self.max_chars), dtype=np.int64)  # padded tokens: all zeros
        for r, i in enumerate(order):
            words = [self.bos, *self.windows[i][1], self.eos]
            chars[r, : len(words)] = char_ids(words, self.max_chars)
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                "char_ids": torch.from_numpy(chars), "labels": torch.from_numpy(np.where(mask == 1, ids, -100))}

    def eval_instances(self, seed: int) -> list[tuple[int, int]]:
        """Every held-out window in order, with its words + 1 (the forward LM also predicts </S>)."""
        return [(i, len(w) + 1) for i, (_, w) in enumerate(self.windows)]

    def targets(self) -> Iterator[np.ndarray]:
        for ids, _ in self.windows:
            yield np.concatenate([ids, [self.tok.eos_id]])


# ---------------------------------------------------------------------------------------------
# streams


def _mix(seed: int, index: int, salt: int) -> int:
    """A 63-bit seed for (seed, index): distinct streams for distinct runs, batches and purposes."""
    return (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt) % (2**63 - 1)


def train_stream(batcher, micro_batch: int, seed: int, start: int = 0) -> Iterator[dict]:
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
