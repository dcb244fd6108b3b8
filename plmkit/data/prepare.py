"""From a recipe to batches: read the data, hold out documents, train the tokenizer, tokenize.

``prepare(recipe, tokenizer=None) -> Prepared``:

1. builds the recipe's data source and reads it twice, streaming (the text is never all in memory;
   the token ids are, as compact arrays);
2. holds out documents by index: document i is held out when frac(i * golden ratio) is below
   ``eval.holdout`` (deterministic, very close to that fraction, independent of seeds). Document 0
   is always held out, so the split is never empty; fewer than 2 documents is a DataError;
3. trains the tokenizer on the training documents (unless one is given, or the recipe's is
   ``pretrained``);
4. tokenizes with the recipe's ``batching`` component (``plmkit.data.batching``), which knows
   the layout its objectives need; nothing here depends on which layout that is.

``Prepared`` gives:

* ``train_batches(start=0)``: the infinite stream of micro-batches (``batch_size // grad_accum``
  sequences each) from micro-batch ``start`` on; dicts of model inputs only (torch tensors).
* ``eval_batches()``: the first ``eval.batches`` held-out batches (same every call), model inputs only.
* ``eval_word_counts()``: words covered by each eval batch, in the same order, kept apart from
  the model inputs (the batching's ``heldout``), so held-out bits/word = summed NLL /
  ``heldout_word_count()`` / ln 2.
* ``stats``: documents, words and tokens of each split, vocabulary size, batching and, for the
  generated corpus, ``floor_bits_per_word`` of the held-out documents.
* ``source``, ``batching``, ``heldout_indices`` and, for the generated corpus, ``heldout_corpus()``:
  the held-out ``Document`` objects with their labels (tags, sentiment, agreement).
* ``unigram_baseline()``: held-out cross-entropy of an add-one unigram model of the training
  split, over the tokens the LM predicts, in nats per token and bits per word.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..errors import DataError
from .batching import Batching, eval_batches, train_stream

__all__ = ["prepare", "Prepared", "is_held_out", "build_batching", "build_context"]

_GOLDEN = (math.sqrt(5) - 1) / 2
_CHUNK = 1024  # documents tokenized together


def is_held_out(index: int, fraction: float) -> bool:
    """Document ``index`` belongs to the held-out split (a low-discrepancy, seed-free rule)."""
    return (index * _GOLDEN) % 1.0 < fraction


@dataclass
class _Split:
    """Tokenized documents of one split: the batching's records, in source order."""

    records: list = field(default_factory=list)  # Encoded, one per document
    indices: list = field(default_factory=list)  # document indices in the source
    words: int = 0
    tokens: int = 0


class Prepared:
    """Tokenizer, batches and statistics of a recipe's data (see the module docstring)."""

    def __init__(self, recipe, source, tokenizer, batching: Batching, train: _Split, holdout: _Split, stats: dict):
        self.recipe, self.source, self.tokenizer, self.batching, self.stats = recipe, source, tokenizer, batching, stats
        self.micro_batch = recipe.train.batch_size // recipe.train.grad_accum
        self.seed = recipe.train.seed
        self._train = batching.batcher(train.records, tokenizer)
        self._holdout = batching.batcher(holdout.records, tokenizer)
        self._holdout_split = holdout
        _require_instances(self._train, train, recipe, "training")
        _require_instances(self._holdout, holdout, recipe, "held-out")
        self._eval: tuple[list, list] | None = None

    def train_batches(self, start: int = 0) -> Iterator[dict]:
        return train_stream(self._train, self.micro_batch, self.seed, start)

    def _evaluation(self) -> tuple[list, list]:
        if self._eval is None:
            self._eval = eval_batches(self._holdout.heldout(self.seed), self._holdout.collate, self.micro_batch,
                                      self.recipe.eval.batches, self.seed)
        return self._eval

    def eval_batches(self) -> list[dict]:
        return self._evaluation()[0]

    def eval_word_counts(self) -> list[int]:
        return self._evaluation()[1]

    def heldout_word_count(self) -> int:
        return sum(self.eval_word_counts())

    @property
    def heldout_indices(self) -> list[int]:
        """Indices (in the source's order) of the held-out documents."""
        return list(self._holdout_split.indices)

    def heldout_corpus(self) -> list | None:
        """The held-out ``corpus.Document`` objects (labels, log-probs) when the data is generated."""
        corpus = getattr(self.source, "corpus", None)
        return [next(corpus(start=i, count=1)) for i in self.heldout_indices] if corpus else None

    def unigram_baseline(self) -> dict:
        """Add-one unigram model of the train split, scored on every held-out target token."""
        vocab = self.tokenizer.vocab_size
        counts = np.zeros(vocab, dtype=np.float64)
        for t in self._train.targets():
            counts += np.bincount(np.asarray(t, dtype=np.int64), minlength=vocab)[:vocab]
        logp = np.log((counts + 1) / (counts.sum() + vocab))
        nats, tokens = 0.0, 0
        for t in self._holdout.targets():
            nats -= float(logp[np.asarray(t, dtype=np.int64)].sum())
            tokens += len(t)
        words = self._holdout.target_words()
        return {"nats_per_token": nats / tokens, "bits_per_word": nats / math.log(2) / words,
                "tokens": tokens, "words": words}


def _require_special_tokens(recipe, tokenizer) -> None:
    needed = sorted(set(recipe.batching.params.required_tokens()))
    missing = [role for role in needed if getattr(tokenizer, f"{role}_id", None) is None]
    if missing:
        raise DataError(f"tokenizer: the {recipe.tokenizer.type} tokenizer has no {', '.join(missing)} token, which "
                        f"the {recipe.batching.type} batches of this recipe are made with; use a tokenizer that has them")


def _require_instances(batcher, split: _Split, recipe, which: str) -> None:
    """Refuse, in one line, data too small to make a single training or held-out sequence."""
    if not batcher.epoch(random.Random(0)):
        raise DataError(f"the {which} split ({len(split.records)} document(s), {split.tokens} tokens) makes no "
                        f"{recipe.train.seq_len}-token sequence: add data, or lower train.seq_len")


def build_context(recipe):
    from ..models.context import BuildContext

    m = recipe.model
    return BuildContext(hidden=m.hidden, vocab_size=m.vocab_size or 0, max_positions=m.max_positions,
                        num_layers=m.layers, direction=m.direction, recipe=recipe)


def build_batching(recipe) -> Batching:
    """The recipe's batching strategy (its ``batching`` component, built)."""
    return recipe.batching.component.build(recipe.batching.params, build_context(recipe))


def prepare(recipe, tokenizer=None) -> Prepared:
    """Data source, held-out split, tokenizer and batches for a validated recipe."""
    ctx = build_context(recipe)
    batching = build_batching(recipe)
    source = recipe.data.component.build(recipe.data.params, ctx)
    holdout = recipe.eval.holdout
    if tokenizer is None:
        texts = (" ".join(doc) for i, doc in enumerate(source.documents()) if not is_held_out(i, holdout))
        tokenizer = recipe.tokenizer.component.build(recipe.tokenizer.params, ctx, texts=texts)
    _require_special_tokens(recipe, tokenizer)
    train, held = _read(source, tokenizer, batching, holdout)
    return Prepared(recipe, source, tokenizer, batching, train, held, _stats(recipe, source, tokenizer, train, held))


def _read(source, tokenizer, batching: Batching, holdout: float) -> tuple[_Split, _Split]:
    train, held = _Split(), _Split()
    pending: list[tuple[int, list[str]]] = []
    for index, doc in enumerate(source.documents()):
        pending.append((index, doc))
        if len(pending) == _CHUNK:
            _tokenize(pending, tokenizer, batching, train, held, holdout)
            pending = []
    _tokenize(pending, tokenizer, batching, train, held, holdout)
    if not train.records:  # document 0 is always held out, so a lone document leaves nothing to train on
        raise DataError(f"the data has {len(held.records)} document(s); at least 2 are needed "
                        f"(one is held out for evaluation): add documents ({source.describe()})")
    return train, held


def _tokenize(pending, tokenizer, batching: Batching, train: _Split, held: _Split, holdout: float) -> None:
    """Tokenize a group of documents into the split each belongs to."""
    if not pending:
        return
    for (index, _), encoded in zip(pending, batching.encode([doc for _, doc in pending], tokenizer)):
        split = held if is_held_out(index, holdout) else train
        split.records.append(encoded)
        split.indices.append(index)
        split.words += encoded.words
        split.tokens += encoded.tokens


def _stats(recipe, source, tokenizer, train: _Split, held: _Split) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "source": source.describe(), "batching": recipe.batching.type, "vocab_size": tokenizer.vocab_size,
        "train_documents": len(train.records), "holdout_documents": len(held.records),
        "train_words": train.words, "holdout_words": held.words,
        "train_tokens": train.tokens, "holdout_tokens": held.tokens,
    }
    if hasattr(source, "corpus"):  # the generated corpus knows its true probabilities
        from .corpus import floor_bits_per_word

        docs = [next(source.corpus(start=i, count=1)) for i in held.indices]
        stats["floor_bits_per_word"] = floor_bits_per_word(docs)
    return stats
