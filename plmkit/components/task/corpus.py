"""Probe tasks on the embedded corpus's own labels: pos, sentiment, agreement, coherence, topic.

Each reads the comparison's held-out documents (``plmkit.evaluation.tasks.TaskCorpus``), so every
model is probed on text it never trained on, and every label comes from the generator itself.
No torch here.
"""

from __future__ import annotations

import random
from typing import ClassVar, Optional

from pydantic import Field

from plmkit.params import TaskParams

TAGS = ["DET", "NOUN", "VERB", "AUX", "ADJ", "ADV", "ADP", "PRON", "PART", "PUNCT"]
SENTIMENTS = ["negative", "neutral", "positive"]
NUMBERS = ["singular", "plural"]


def _examples(texts, labels, names, split, groups=None):
    from plmkit.evaluation.tasks import Examples

    return Examples(texts, labels, names, split, groups or {})


# -- pos ------------------------------------------------------------------------------------------------
class PosParams(TaskParams):
    """Part-of-speech tagging: the universal tag of every word of a sentence (ELMo's classic evaluation)."""

    read: ClassVar[str] = "words"
    known_for: ClassVar[Optional[str]] = "ELMo"

    sentences: int = Field(0, ge=0, description="use at most this many sentences (0: every sentence of the documents)")


class PosTask:
    def __init__(self, params: PosParams):
        self.params = params

    def examples(self, corpus):
        texts, labels, split = [], [], []
        for doc, part in zip(corpus.documents, corpus.split):
            for s in doc.sentences:
                texts.append(s.text)
                labels.append([TAGS.index(t) for t in s.tags])
                split.append(part)
        limit = self.params.sentences or len(texts)
        return _examples(texts[:limit], labels[:limit], TAGS, split[:limit])


# -- sentiment ------------------------------------------------------------------------------------------
class SentimentParams(TaskParams):
    """Sentence sentiment (negative, neutral, positive), flipped by negation (BERT's classic: sentence classification)."""

    read: ClassVar[str] = "text"
    known_for: ClassVar[Optional[str]] = "BERT"


class SentimentTask:
    def __init__(self, params: SentimentParams):
        self.params = params

    def examples(self, corpus):
        rows = [(s.text, SENTIMENTS.index(s.sentiment), part)
                for doc, part in zip(corpus.documents, corpus.split) for s in doc.sentences]
        negated = [i for i, (text, _, _) in enumerate(rows) if " not " in f" {text} "]
        return _examples([r[0] for r in rows], [r[1] for r in rows], SENTIMENTS, [r[2] for r in rows],
                         {"negated": negated})


# -- agreement ------------------------------------------------------------------------------------------
class AgreementParams(TaskParams):
    """Subject number at the verb: the sentence up to the verb (hidden after), attractor nouns in between (long-range syntax)."""

    read: ClassVar[str] = "next"

    attractors_only: bool = Field(False, description="keep only verbs with a noun of the other number between subject and verb")


class AgreementTask:
    """One example per agreeing verb that is the first verb of its subject (an earlier verb agreeing
    with the same subject would give the number away): the words before the verb, labelled with
    the subject's number. Group ``attractor``: a noun of the other number stands between them."""

    def __init__(self, params: AgreementParams):
        self.params = params

    def examples(self, corpus):
        from plmkit.data.parse import Parser

        numbers = {word: info.form for word, info in Parser().info.items() if info.cls == "noun"}
        texts, labels, split, attractor = [], [], [], []
        for doc, part in zip(corpus.documents, corpus.split):
            for s in doc.sentences:
                seen: set[int] = set()
                for subject, verb in s.agreement:
                    if subject in seen:
                        continue
                    seen.add(subject)
                    number = numbers[s.words[subject]]
                    between = [numbers[w] for w, t in zip(s.words[subject + 1: verb], s.tags[subject + 1: verb])
                               if t == "NOUN"]
                    has_attractor = any(n != number for n in between)
                    if self.params.attractors_only and not has_attractor:
                        continue
                    if has_attractor:
                        attractor.append(len(texts))
                    texts.append(" ".join(s.words[:verb]))
                    labels.append(NUMBERS.index("singular" if number == "sg" else "plural"))
                    split.append(part)
        return _examples(texts, labels, NUMBERS, split, {"attractor": attractor})


# -- coherence ------------------------------------------------------------------------------------------
class CoherenceParams(TaskParams):
    """Does sentence B follow sentence A? Half the pairs are consecutive, half take B from another document (next-sentence prediction)."""

    read: ClassVar[str] = "text"
    known_for: ClassVar[Optional[str]] = "BERT"

    seed: int = Field(0, description="seed of the choice of pairs and of the random sentences")


class CoherenceTask:
    """Pairs "A B" within each split: for every consecutive pair of a document, with probability 1/2
    B is replaced by a random sentence of another document of the same split (label "random")."""

    def __init__(self, params: CoherenceParams):
        self.params = params

    def examples(self, corpus):
        rng = random.Random(self.params.seed)
        texts, labels, split = [], [], []
        for part in ("train", "dev", "test"):
            docs = [d for d, s in zip(corpus.documents, corpus.split) if s == part]
            for d, doc in enumerate(docs):
                for a, b in zip(doc.sentences, doc.sentences[1:]):
                    if len(docs) > 1 and rng.random() < 0.5:
                        other = rng.choice([k for k in range(len(docs)) if k != d])
                        b, label = rng.choice(docs[other].sentences), 1
                    else:
                        label = 0
                    texts.append(f"{a.text} {b.text}")
                    labels.append(label)
                    split.append(part)
        return _examples(texts, labels, ["follows", "random"], split)


# -- topic ----------------------------------------------------------------------------------------------
class TopicParams(TaskParams):
    """The document's topic (one of eight) from its first sentences."""

    read: ClassVar[str] = "text"

    sentences: int = Field(2, ge=1, le=3, description="how many of the document's first sentences the model reads")


class TopicTask:
    def __init__(self, params: TopicParams):
        self.params = params

    def examples(self, corpus):
        from plmkit.data.corpus import default_lexicon

        names = list(default_lexicon().topic_names)
        texts = [" ".join(s.text for s in doc.sentences[: self.params.sentences]) for doc in corpus.documents]
        labels = [names.index(doc.topic) for doc in corpus.documents]
        return _examples(texts, labels, names, list(corpus.split))


def register(register):
    register("task", "pos", PosParams, lambda params, ctx=None: PosTask(params))
    register("task", "sentiment", SentimentParams, lambda params, ctx=None: SentimentTask(params))
    register("task", "agreement", AgreementParams, lambda params, ctx=None: AgreementTask(params))
    register("task", "coherence", CoherenceParams, lambda params, ctx=None: CoherenceTask(params))
    register("task", "topic", TopicParams, lambda params, ctx=None: TopicTask(params))

