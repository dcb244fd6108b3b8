"""ELECTRA's batches: documents packed into full sequences, a fraction of tokens replaced by [MASK].

Built from plmkit's public data parts: the records are ``SegmentBatching``'s (each document's
sentences as token ids), batches are padded with ``pad_rows`` and masked with ``mask_tokens``
(every chosen token becomes [MASK], as ELECTRA's generator input).
"""

import random

import torch
from plmkit.data.batching import Batcher, mask_tokens, pad_rows
from plmkit.data.bert_batches import SegmentBatching


class PackedBatching(SegmentBatching):
    """``replaced_token``: encodes like BERT's segments; batches pack across documents."""

    def __init__(self, seq_len, mask_prob):
        super().__init__(seq_len, masking=None)
        self.mask_prob = mask_prob

    def batcher(self, records, tokenizer):
        return PackedBatcher([r.data for r in records], sum(r.words for r in records), tokenizer, self.seq_len,
                             self.mask_prob)


class PackedBatcher(Batcher):
    """``[CLS] sentences [SEP] sentences of the next document [SEP] ...``, up to seq_len tokens each."""

    def __init__(self, docs, words, tokenizer, seq_len, mask_prob):
        self.docs, self.words, self.tok, self.seq_len, self.mask_prob = docs, words, tokenizer, seq_len, mask_prob

    def _pack(self, order):
        room, out, current = self.seq_len - 1, [], [self.tok.cls_id]
        for d in order:
            for sentence in self.docs[d]:
                sentence = sentence[: room - 1]  # a sentence longer than a sequence is cut
                if len(current) + len(sentence) + 1 > self.seq_len:  # + its [SEP]
                    out.append(current)
                    current = [self.tok.cls_id]
                current += sentence
            current.append(self.tok.sep_id)  # a document ends with [SEP]
        if len(current) > 2:
            out.append(current[: self.seq_len])
        return [row[: self.seq_len] for row in out if len(row) > 2]

    def epoch(self, rng: random.Random):
        order = list(range(len(self.docs)))
        rng.shuffle(order)
        rows = self._pack(order)
        rng.shuffle(rows)
        return rows

    def collate(self, rows, generator=None):
        ids, mask = pad_rows(rows, self.tok.pad_id)
        ids = torch.from_numpy(ids)
        special = torch.isin(ids, torch.tensor(sorted(self.tok.special_ids)))
        inputs, labels = mask_tokens(ids, special, generator, self.tok.vocab_size, self.tok.mask_id,
                                     self.mask_prob, mask_token_prob=1.0, random_token_prob=0.0)
        return {"input_ids": inputs, "attention_mask": torch.from_numpy(mask), "labels": labels}

    def heldout(self, seed):
        return [(row, len(row) - 2) for row in self._pack(range(len(self.docs)))]

    def targets(self):
        for doc in self.docs:
            yield from doc

    def target_words(self):
        return self.words
