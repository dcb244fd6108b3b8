"""From a recipe to batches: read the data, hold out documents, train the tokenizer, tokenize.

``prepare(recipe, tokenizer=None, workdir=None) -> Prepared``:

1. builds the recipe's data source and reads it twice, streaming (the text is never all in memory;
   the token ids are, as compact arrays);
2. holds out documents by index: document i is held out when frac(i * golden ratio) is below
   ``eval.holdout`` (deterministic, very close to that fraction, independent of seeds). Document 0
   is always held out, so the split is never empty; fewer than 2 documents is a DataError;
3. trains the tokenizer on the training documents (unless one is given, or the recipe's is
   ``pretrained``), and saves it to ``workdir/tokenizer`` when a workdir is given;
4. tokenizes in the layout the heads ask for (``batching.layout_of``).

``Prepared`` gives:

* ``train_batches(start=0)``: the infinite stream of micro-batches (``batch_size // grad_accum``
  sequences each) from micro-batch ``start`` on; dicts of model inputs only (torch tensors).
* ``eval_batches()``: the first ``eval.batches`` held-out batches (same every call), model inputs only.
* ``eval_word_counts()``: words covered by each eval batch, in the same order, kept apart from
  the model inputs. For the causal layout it counts each held-out whitespace word once, in the
  batch that predicts its last token, plus one per document end (the separator), matching
  ``corpus.floor_bits_per_word``; so held-out bits/word = sum of the eval batches' summed token
  NLL / ``heldout_word_count()`` / ln 2. For bilm it is words + 1 (</S>) per sentence window; for
  the BERT layouts, the text tokens in the batch.
* ``stats``: documents, words and tokens of each split, vocabulary size, layout and, for the
  generated corpus, ``floor_bits_per_word`` of the held-out documents.
* ``source``, ``heldout_indices`` and, for the generated corpus, ``heldout_corpus()``: the
  held-out ``Document`` objects with their labels (tags, sentiment, agreement) for evaluation.
* ``unigram_baseline()``: held-out cross-entropy of an add-one unigram model of the training
  split, over the tokens the LM predicts, in nats per token and bits per word.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DataError
from .batching import BiLMBatcher, CausalBatcher, Layout, PairBatcher, SegmentBatcher, eval_batches, layout_of, train_stream

__all__ = ["prepare", "Prepared", "is_held_out", "word_ends"]

_GOLDEN = (math.sqrt(5) - 1) / 2
_WORD = re.compile(r"\S+")
_CHUNK = 1024  # documents tokenized together


def is_held_out(index: int, fraction: float) -> bool:
    """Document ``index`` belongs to the held-out split (a low-discrepancy, seed-free rule)."""
    return (index * _GOLDEN) % 1.0 < fraction


def word_ends(text: str, offsets: list[tuple[int, int]]) -> np.ndarray:
    """Per token, how many whitespace words of ``text`` end in it (their last character's token)."""
    flags = np.zeros(len(offsets), dtype=np.int64)
    ends = [m.end() for m in _WORD.finditer(text)]
    if offsets and ends:
        starts = np.array([o[0] for o in offsets])
        np.add.at(flags, np.maximum(np.searchsorted(starts, ends, side="left") - 1, 0), 1)
    return flags


@dataclass
class _Split:
    """Tokenized documents of one split, in the shape the layout needs."""

    docs: list = field(default_factory=list)  # causal: id arrays; BERT: sentences of ids; bilm: sentences (ids, words)
    ends: list = field(default_factory=list)  # causal: word-end flags per document
    indices: list = field(default_factory=list)  # document indices in the source
    words: int = 0
    tokens: int = 0


class Prepared:
    """Tokenizer, batches and statistics of a recipe's data (see the module docstring)."""

    def __init__(self, recipe, source, tokenizer, layout: Layout, train: _Split, holdout: _Split, stats: dict):
        self.recipe, self.source, self.tokenizer, self.layout, self.stats = recipe, source, tokenizer, layout, stats
        self.micro_batch = recipe.train.batch_size // recipe.train.grad_accum
        self.seed = recipe.train.seed
        self._train, self._holdout = _batcher(layout, train, tokenizer, recipe), _batcher(layout, holdout, tokenizer, recipe)
        self._holdout_split = holdout
        _require_instances(self._train, train, recipe, "training")
        _require_instances(self._holdout, holdout, recipe, "held-out")
        self._eval: tuple[list, list] | None = None

    def train_batches(self, start: int = 0) -> Iterator[dict]:
        return train_stream(self._train, self.micro_batch, self.seed, start)

    def _evaluation(self) -> tuple[list, list]:
        if self._eval is None:
            if self.layout.name == "causal":
                instances = self._holdout.eval_instances(self._holdout_split.ends)
            else:
                instances = self._holdout.eval_instances(self.seed)
            self._eval = eval_batches(instances, self._holdout.collate, self.micro_batch,
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
        words = self._baseline_words()
        return {"nats_per_token": nats / tokens, "bits_per_word": nats / math.log(2) / words,
                "tokens": tokens, "words": words}

    def _baseline_words(self) -> int:
        if self.layout.name == "causal":
            return self._holdout_split.words + len(self._holdout_split.docs)
        if self.layout.name == "bilm":
            return sum(len(w) + 1 for _, w in self._holdout.windows)
        return self._holdout_split.tokens


_SPECIAL_TOKENS = {  # layout -> the tokenizer's special tokens its batches are built with
    "pairs": ("cls_id", "sep_id", "pad_id"),
    "segments": ("cls_id", "sep_id", "pad_id"),
    "causal": ("pad_id",),
    "bilm": ("bos_id", "eos_id", "pad_id"),
}


def _require_special_tokens(layout: Layout, tokenizer, recipe) -> None:
    needed = list(_SPECIAL_TOKENS.get(layout.name, ())) + (["mask_id"] if layout.mask_prob else [])
    missing = [name.removesuffix("_id") for name in needed if getattr(tokenizer, name, None) is None]
    if missing:
        raise DataError(f"tokenizer: the {recipe.tokenizer.type} tokenizer has no {', '.join(missing)} token, which "
                        f"the {layout.name} batches of this recipe's heads need; use a tokenizer that has them")


def _require_instances(batcher, split: _Split, recipe, which: str) -> None:
    """Refuse, in one line, data too small to make a single training or held-out sequence."""
    if not batcher.epoch(random.Random(0)):
        raise DataError(f"the {which} split ({len(split.docs)} document(s), {split.tokens} tokens) makes no "
                        f"{recipe.train.seq_len}-token sequence: add data, or lower train.seq_len")


def _batcher(layout: Layout, split: _Split, tokenizer, recipe):
    seq_len = recipe.train.seq_len
    if layout.name == "causal":
        return CausalBatcher(split.docs, tokenizer.eos_id if tokenizer.eos_id is not None else tokenizer.pad_id, seq_len)
    if layout.name == "bilm":
        return BiLMBatcher([s for doc in split.docs for s in doc], tokenizer, seq_len, max_chars(recipe))
    return (PairBatcher if layout.name == "pairs" else SegmentBatcher)(split.docs, tokenizer, seq_len, layout)


def max_chars(recipe) -> int:
    """Characters per word of the recipe's character CNN (inside a ``sum`` too); 50 without one."""
    embedding = recipe.model.embedding
    specs = [embedding] + list(getattr(embedding.params, "parts", []))
    return next((s.params.max_chars for s in specs if hasattr(s.params, "max_chars")), 50)


def _context(recipe):
    from ..models.context import BuildContext

    m = recipe.model
    return BuildContext(hidden=m.hidden, vocab_size=m.vocab_size or 0, max_positions=m.max_positions,
                        num_layers=m.layers, direction=m.direction, recipe=recipe)


def prepare(recipe, tokenizer=None, workdir=None) -> Prepared:
    """Data source, held-out split, tokenizer and batches for a validated recipe."""
    layout = layout_of(recipe)
    ctx = _context(recipe)
    source = recipe.data.component.build(recipe.data.params, ctx)
    holdout = recipe.eval.holdout
    if tokenizer is None:
        texts = (" ".join(doc) for i, doc in enumerate(source.documents()) if not is_held_out(i, holdout))
        tokenizer = recipe.tokenizer.component.build(recipe.tokenizer.params, ctx, texts=texts)
    _require_special_tokens(layout, tokenizer, recipe)
    if workdir is not None:
        tokenizer.save(Path(workdir) / "tokenizer")
    train, held = _read(source, tokenizer, layout, holdout)
    return Prepared(recipe, source, tokenizer, layout, train, held, _stats(source, tokenizer, layout, train, held))


def _read(source, tokenizer, layout: Layout, holdout: float) -> tuple[_Split, _Split]:
    train, held = _Split(), _Split()
    pending: list[tuple[int, list[str]]] = []
    for index, doc in enumerate(source.documents()):
        pending.append((index, doc))
        if len(pending) == _CHUNK:
            _tokenize(pending, tokenizer, layout, train, held, holdout)
            pending = []
    _tokenize(pending, tokenizer, layout, train, held, holdout)
    if not train.docs:  # document 0 is always held out, so a lone document leaves nothing to train on
        raise DataError(f"the data has {len(held.docs)} document(s); at least 2 are needed "
                        f"(one is held out for evaluation): add documents ({source.describe()})")
    return train, held


def _tokenize(pending, tokenizer, layout: Layout, train: _Split, held: _Split, holdout: float) -> None:
    """Tokenize a group of documents into the split each belongs to."""
    if not pending:
        return
    if layout.name == "causal":
        texts = [" ".join(doc) for _, doc in pending]
        for (index, doc), text, enc in zip(pending, texts, tokenizer.encodings(texts)):
            split = held if is_held_out(index, holdout) else train
            split.docs.append(np.asarray(enc.ids, dtype=np.int32))
            if split is held:
                split.ends.append(word_ends(text, enc.offsets))
            _count(split, index, len(text.split()), len(enc.ids))
        return
    sentences = [s for _, doc in pending for s in doc]
    ids = iter(tokenizer.encode_batch(sentences))
    for index, doc in pending:
        split = held if is_held_out(index, holdout) else train
        encoded = [(next(ids), s) for s in doc]
        if layout.name == "bilm":
            split.docs.append([_words(i, s) for i, s in encoded])
        else:
            split.docs.append([i for i, _ in encoded if i])
        _count(split, index, sum(len(s.split()) for s in doc), sum(len(i) for i, _ in encoded))


def _words(ids: list[int], sentence: str) -> tuple[np.ndarray, list[str]]:
    words = sentence.split()
    if len(ids) != len(words):
        raise DataError(f"the word tokenizer gave {len(ids)} ids for {len(words)} words in {sentence[:60]!r}; "
                        f"a bidirectional_lm needs one id per whitespace-separated word (tokenizer type: word)")
    return np.asarray(ids, dtype=np.int64), words


def _count(split: _Split, index: int, words: int, tokens: int) -> None:
    split.indices.append(index)
    split.words += words
    split.tokens += tokens


def _stats(source, tokenizer, layout: Layout, train: _Split, held: _Split) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "source": source.describe(), "layout": layout.name, "vocab_size": tokenizer.vocab_size,
        "train_documents": len(train.docs), "holdout_documents": len(held.docs),
        "train_words": train.words, "holdout_words": held.words,
        "train_tokens": train.tokens, "holdout_tokens": held.tokens,
    }
    if hasattr(source, "corpus"):  # the generated corpus knows its true probabilities
        from .corpus import floor_bits_per_word

        docs = [next(source.corpus(start=i, count=1)) for i in held.indices]
        stats["floor_bits_per_word"] = floor_bits_per_word(docs)
    return stats
