"""plmkit's embedded corpus: generated English-like documents that know their own structure.

Nothing is downloaded: ``generate(documents, seed)`` samples documents from the grammar in
``grammar.py`` over the words in ``lexicon.py`` (both written for plmkit). A document is 3-8
sentences on one topic (farm, sea, city, school, kitchen, forest, hospital, space) about a
protagonist; sentences have relative clauses with subject-verb agreement across them ("the dogs
that the farmer feeds are hungry"), negation and sentiment words.

Because the text is generated, every sentence carries its labels: part-of-speech tags,
sentiment ("positive" / "negative" / "neutral"), agreement pairs (subject word index, verb word
index), its position in its document (``Document.sentences`` is in order, so which sentence
really follows which is known) and its log-probability: the sum of the log-probabilities of the
choices that produced it. A document's ``logprob`` adds the document-level choices (topic,
number of sentences, protagonist). The grammar is unambiguous, so ``logprob`` is the true
probability of the text, and ``floor_bits_per_word`` is the entropy rate no model can beat.

Text form: lowercase words separated by single spaces; a sentence ends with " ."; a document's
text is its sentences joined by single spaces. Each document is drawn from its own generator
seeded by (seed, index), so document i is the same whatever the number of documents asked for.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Iterator

from .grammar import Sampler, derive_document
from .lexicon import Lexicon

__all__ = ["Sentence", "Document", "generate", "floor_bits_per_word", "words_per_document", "default_lexicon"]

_LEXICON: Lexicon | None = None


def default_lexicon() -> Lexicon:
    """The built-in lexicon (built once)."""
    global _LEXICON
    if _LEXICON is None:
        _LEXICON = Lexicon()
    return _LEXICON


@dataclass(frozen=True, slots=True)
class Sentence:
    """One generated sentence and everything known about it."""

    words: tuple[str, ...]
    tags: tuple[str, ...]  # universal POS tags: DET NOUN VERB AUX ADJ ADV ADP PRON PART PUNCT
    sentiment: str  # "positive", "negative" or "neutral"
    agreement: tuple[tuple[int, int], ...]  # (subject noun index, agreeing verb index) per verb
    logprob: float  # natural log-probability of the sentence given its document's earlier choices

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True, slots=True)
class Document:
    """A generated document: its sentences in order, its topic, protagonist and log-probability."""

    sentences: tuple[Sentence, ...]
    topic: str
    protagonist: str  # the protagonist noun as it appears in the first sentence
    logprob: float  # natural log-probability of the whole document, document-level choices included

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def n_words(self) -> int:
        """Whitespace-separated words of the text (the final " ." of each sentence included)."""
        return sum(len(s.words) for s in self.sentences)


def _document(index: int, seed: int, lex: Lexicon) -> Document:
    chooser = Sampler(random.Random(seed * 2**32 + index))
    topic, (lemma, number), parts = derive_document(chooser, lex)
    sentences = tuple(
        Sentence(tuple(p["words"]), tuple(p["tags"]), p["sentiment"], tuple(p["agreement"]), p["logprob"])
        for p in parts
    )
    return Document(sentences, topic, lex.noun(lemma, number), chooser.logp)


def generate(documents: int, seed: int = 1234, lexicon: Lexicon | None = None, start: int = 0) -> Iterator[Document]:
    """Documents ``start`` .. ``start + documents - 1`` of the corpus with this seed, lazily."""
    lex = lexicon or default_lexicon()
    for index in range(start, start + documents):
        yield _document(index, seed, lex)


def words_per_document(document: Document) -> int:
    """Words a language model predicts for a document: its text's words + 1 for the document end.

    The end of a document is a choice of the grammar (the number of sentences), and a causal LM
    predicts it as the document separator token, so it counts as one word.
    """
    return document.n_words + 1


def floor_bits_per_word(documents: Iterable[Document]) -> float:
    """The entropy floor: -sum(log2 P(document)) / words, words counted by ``words_per_document``.

    No language model can have a lower expected cross-entropy on these documents (in bits per
    word, counting words as whitespace-separated tokens of the text plus one document end each).
    """
    nats, words = 0.0, 0
    for doc in documents:
        nats -= doc.logprob
        words += words_per_document(doc)
    if words == 0:
        raise ValueError("floor_bits_per_word needs at least one document")
    return nats / math.log(2) / words
