"""Batches for BERT's objectives: ``[CLS] A [SEP] B [SEP]`` pairs (next-sentence prediction) and
``[CLS] text [SEP]`` segments, both with optional masked-LM corruption.

* pairs: google-research/bert's ``create_instances_from_document`` (one pass, ``dupe_factor`` 1):
  ``token_type_ids`` mark A (0) and B (1); ``next_sentence_label`` is 0 when B really follows A and
  1 when B starts at a random sentence of another document; truncated to seq_len.
* segments: a document's consecutive sentences packed up to seq_len - 2 tokens.

Masking is HF ``DataCollatorForLanguageModeling.torch_mask_tokens`` (same RNG calls, bit for bit):
``labels`` hold the original id at the chosen positions and -100 elsewhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from .batching import Batcher, Batching, Encoded, TextBatch, mask_tokens, pad_rows
from .tokenize import word_last_tokens

__all__ = ["Masking", "SegmentBatching", "PairBatching", "SegmentBatcher", "PairBatcher"]


@dataclass(frozen=True)
class Masking:
    """MLM corruption: ``prob`` of the non-special tokens are chosen; of those ``mask_token_prob``
    become [MASK], ``random_token_prob`` a random id, the rest stay."""

    prob: float = 0.15
    mask_token_prob: float = 0.8
    random_token_prob: float = 0.1


class _BertBatching(Batching):
    """A record per document: its sentences as lists of token ids (empty sentences dropped)."""

    def __init__(self, seq_len: int, masking: Masking | None, chars_per_token: int | None = None) -> None:
        super().__init__(seq_len, chars_per_token)
        self.masking = masking if masking is not None and masking.prob > 0 else None

    def encode(self, documents: list[list[str]], tokenizer: Any) -> list[Encoded]:
        ids = iter(tokenizer.encode_batch([s for doc in documents for s in doc]))
        out = []
        for doc in documents:
            sentences = [next(ids) for _ in doc]
            out.append(Encoded([s for s in sentences if s], sum(len(s.split()) for s in doc),
                               sum(len(s) for s in sentences)))
        return out

    def encode_texts(self, texts: list[str], tokenizer: Any) -> TextBatch:
        encodings = tokenizer.encodings(texts)
        rows = [[tokenizer.cls_id, *enc.ids, tokenizer.sep_id] for enc in encodings]  # BERT sees [CLS] text [SEP]
        ids, mask = pad_rows(rows, tokenizer.pad_id)
        return TextBatch(
            {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
             "token_type_ids": torch.zeros_like(torch.from_numpy(ids))},
            tokens=[[tokenizer.token_text(i) for i in enc.ids] for enc in encodings],
            spans=[(1, 1 + len(enc.ids)) for enc in encodings],
            word_ends=[[1 + p for p in word_last_tokens(t, enc.offsets)] for t, enc in zip(texts, encodings)],
        )


class SegmentBatching(_BertBatching):
    """``segments``: [CLS] sentences of one document [SEP]."""

    def batcher(self, records: list[Encoded], tokenizer: Any) -> "SegmentBatcher":
        return SegmentBatcher([r.data for r in records], tokenizer, self.seq_len, self.masking,
                              words=sum(r.words for r in records))


class PairBatching(_BertBatching):
    """``pairs``: [CLS] A [SEP] B [SEP] with next-sentence labels."""

    def __init__(self, seq_len: int, masking: Masking | None, short_seq_prob: float = 0.1,
                 chars_per_token: int | None = None) -> None:
        super().__init__(seq_len, masking, chars_per_token)
        self.short_seq_prob = short_seq_prob

    def batcher(self, records: list[Encoded], tokenizer: Any) -> "PairBatcher":
        return PairBatcher([r.data for r in records], tokenizer, self.seq_len, self.masking, self.short_seq_prob,
                           words=sum(r.words for r in records))


class _BertBatcher(Batcher):
    """``docs`` are lists of sentences, each a list of token ids; instances end with their text-token count."""

    def __init__(self, docs: list[list[list[int]]], tokenizer: Any, seq_len: int, masking: Masking | None,
                 words: int | None = None) -> None:
        self.docs, self.tok, self.seq_len, self.masking, self.words = docs, tokenizer, seq_len, masking, words

    def epoch(self, rng: random.Random, shuffle: bool = True) -> list[tuple]:
        raise NotImplementedError

    def collate(self, instances: list[tuple], generator: torch.Generator | None = None) -> dict:
        ids, mask = pad_rows([i[0] for i in instances], self.tok.pad_id)
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        batch.update(self._extra(instances))
        if self.masking is not None:
            m = self.masking
            special = torch.isin(batch["input_ids"], torch.tensor(sorted(self.tok.special_ids)))
            batch["input_ids"], batch["labels"] = mask_tokens(
                batch["input_ids"], special, generator, self.tok.vocab_size, self.tok.mask_id,
                m.prob, m.mask_token_prob, m.random_token_prob)
        return batch

    def _extra(self, instances: list[tuple]) -> dict:
        return {}

    def heldout(self, seed: int) -> list[tuple[tuple, int]]:
        instances = self.epoch(random.Random(f"eval:{seed}"), shuffle=False)
        return [(inst, inst[-1]) for inst in instances]

    def targets(self) -> Iterator[list[int]]:
        for doc in self.docs:
            yield from doc

    def target_words(self) -> int:
        """The words the documents' sentences spell (every sentence token is a target)."""
        if self.words is None:
            raise ValueError("this batcher was made without the documents' word count")
        return self.words


class PairBatcher(_BertBatcher):
    """``[CLS] A [SEP] B [SEP]`` instances: (tokens, token types, is_random_next, n_text_tokens)."""

    def __init__(self, docs, tokenizer, seq_len: int, masking: Masking | None, short_seq_prob: float = 0.1,
                 words: int | None = None) -> None:
        super().__init__(docs, tokenizer, seq_len, masking, words)
        self.short_seq_prob = short_seq_prob

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

    def _extra(self, instances: list[tuple]) -> dict:
        types, _ = pad_rows([i[1] for i in instances], 0)
        return {"token_type_ids": torch.from_numpy(types),
                "next_sentence_label": torch.tensor([i[2] for i in instances], dtype=torch.long)}

    def _from_document(self, d: int, rng: random.Random) -> list[tuple]:
        """google-research/bert ``create_instances_from_document`` (one pass, ``dupe_factor`` 1)."""
        document, max_tokens = self.docs[d], self.seq_len - 3
        target = rng.randint(2, max_tokens) if rng.random() < self.short_seq_prob else max_tokens
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
