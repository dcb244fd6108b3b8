"""The embedded corpus's grammar: every sampling choice of a document, and its log-probability.

A derivation is a sequence of choices, each drawn from a ``Dist`` by a *chooser*: ``Sampler``
draws them from a seeded ``random.Random``; ``enumerate_derivations`` walks every sequence (for
tests on a tiny lexicon). The chooser adds up the log-probability of what it picked, so the
log-probability of a sentence is exactly the sum of its choices.

Document:  topic (uniform) . number of sentences (3..8) . protagonist (a topic agent + number)
           . sentences, the first about the protagonist
Sentence:  [adverb] SUBJECT [RELATIVE] PREDICATE "."
  SUBJECT    DET NOUN        the protagonist again (p 0.4), else a fresh agent (never the
                             protagonist's lemma, so the two choices cannot yield the same words)
  RELATIVE   "that" VERB OBJECT          (subject relative: the dog that chases the cats)
           | "that" DET NOUN VERB        (object relative: the dogs that the farmer feeds)
  PREDICATE  VERB OBJECT | does/do "not" VERB OBJECT | is/are ["not"] ["very"] ADJ
           | VERB PREP "the" PLACE
  OBJECT     DET [ADJ] NOUN

Why it is unambiguous (one derivation per text): every alternative of a choice starts with, or
is, a word of its own class, and no word belongs to two classes (``Lexicon.classes_of``); the
topic is the class of the first sentence's subject noun; the sentence count is the number of
"."s. So a text determines its choices, and the summed log-probability is the text's true
probability. Verbs agree with their subject's number; the sentence's sentiment comes from the
predicate's adjective or emotion verb, flipped by "not".
"""

from __future__ import annotations

from typing import Callable, Iterator

from .lexicon import Dist, Lexicon, Topic

__all__ = ["Sampler", "enumerate_derivations", "derive_document", "derive_sentence", "SENTENCE_COUNTS"]

NUMBERS = Dist.of(["sg", "pl"], [0.6, 0.4])
SUBJECT_HEAD = Dist.of(["protagonist", "fresh"], [0.4, 0.6])
AGENT_CLASS = Dist.of(["topic", "general"], [0.8, 0.2])
RELATIVE = Dist.of(["none", "subject", "object"], [0.8, 0.1, 0.1])
PREDICATE = Dist.of(["transitive", "negated", "copula", "intransitive"], [0.4, 0.1, 0.35, 0.15])
VERB_CLASS = Dist.of(["topic", "emotion"], [0.7, 0.3])
NEGATION = Dist.of(["", "not"], [0.75, 0.25])
INTENSIFIER = Dist.of(["", "very"], [0.8, 0.2])
COPULA_ADJECTIVE = Dist.of(["sentiment", "descriptive"], [0.75, 0.25])
ATTRIBUTIVE = Dist.of(["", "adjective"], [0.75, 0.25])
OBJECT_CLASS = Dist.of(["object", "agent", "general"], [0.65, 0.2, 0.15])
INTRANSITIVE_CLASS = Dist.of(["topic", "shared"], [0.5, 0.5])
SENTENCE_COUNTS = Dist.of([3, 4, 5, 6, 7, 8], [1, 2, 3, 2, 1.5, 1])
SENTIMENT = {1: "positive", -1: "negative", 0: "neutral"}


class Sampler:
    """Draws each choice from a seeded ``random.Random`` and sums the log-probabilities."""

    def __init__(self, rng):
        self._random = rng.random
        self.logp = 0.0

    def pick(self, dist: Dist):
        i = dist.sample(self._random())
        self.logp += dist.logp[i]
        return dist.options[i]


class _Replay:
    """Follows a forced prefix of choice indices, then takes option 0; records each choice's size."""

    def __init__(self, forced: list[int]):
        self.forced, self.sizes, self.logp = forced, [], 0.0

    def pick(self, dist: Dist):
        i = len(self.sizes)
        k = self.forced[i] if i < len(self.forced) else 0
        self.sizes.append(len(dist.options))
        self.logp += dist.logp[k]
        return dist.options[k]


def enumerate_derivations(derive: Callable) -> Iterator[tuple[object, float]]:
    """Every derivation of ``derive(chooser)`` with its log-probability (odometer over choices)."""
    forced: list[int] = []
    while True:
        chooser = _Replay(forced)
        yield derive(chooser), chooser.logp
        seq = forced + [0] * (len(chooser.sizes) - len(forced))
        j = len(seq) - 1
        while j >= 0 and seq[j] + 1 >= chooser.sizes[j]:
            j -= 1
        if j < 0:
            return
        forced = seq[:j] + [seq[j] + 1]


class _Words:
    """The sentence being built: words, their tags, and (subject index, verb index) pairs."""

    def __init__(self):
        self.words: list[str] = []
        self.tags: list[str] = []
        self.agreement: list[tuple[int, int]] = []

    def add(self, word: str, tag: str) -> int:
        self.words.append(word)
        self.tags.append(tag)
        return len(self.words) - 1


def derive_document(ch, lex: Lexicon) -> tuple[str, tuple[str, str], list[dict]]:
    """(topic, protagonist (lemma, number), sentences as dicts with their own log-probs)."""
    topic = lex.topics[ch.pick(lex.topic_distribution)]
    count = ch.pick(SENTENCE_COUNTS)
    protagonist = (ch.pick(topic.agents), ch.pick(NUMBERS))
    sentences = []
    for k in range(count):
        before = ch.logp
        sentence = derive_sentence(ch, lex, topic, protagonist, first=(k == 0))
        sentence["logprob"] = ch.logp - before
        sentences.append(sentence)
    return topic.name, protagonist, sentences


def derive_sentence(ch, lex: Lexicon, topic: Topic, protagonist: tuple[str, str], first: bool) -> dict:
    """One sentence: words, tags, agreement pairs and sentiment (log-prob is the chooser's)."""
    w = _Words()
    adverb = ch.pick(lex.adverbs)
    if adverb:
        w.add(adverb, "ADV")
    if first or ch.pick(SUBJECT_HEAD) == "protagonist":
        lemma, number = protagonist
    else:
        lemma, number = _agent(ch, lex, topic, exclude=protagonist[0])
    head = _noun_phrase(ch, lex, w, lemma, number, attributive=False)
    _relative(ch, lex, topic, w, head, number)
    polarity = _predicate(ch, lex, topic, w, head, number)
    w.add(".", "PUNCT")
    return {"words": w.words, "tags": w.tags, "agreement": w.agreement, "sentiment": SENTIMENT[polarity]}


def _agent(ch, lex: Lexicon, topic: Topic, exclude: str | None = None) -> tuple[str, str]:
    number = ch.pick(NUMBERS)
    if ch.pick(AGENT_CLASS) == "general":
        return ch.pick(lex.general_agents), number
    agents = topic.agents.without(exclude) if exclude else topic.agents
    return ch.pick(agents), number


def _noun_phrase(ch, lex: Lexicon, w: _Words, lemma: str, number: str, attributive: bool) -> int:
    """DET [ADJ] NOUN; returns the noun's index."""
    w.add(ch.pick(lex.determiners[number]), "DET")
    if attributive and ch.pick(ATTRIBUTIVE):
        w.add(ch.pick(lex.descriptive_adjectives), "ADJ")
    return w.add(lex.noun(lemma, number), "NOUN")


def _object(ch, lex: Lexicon, topic: Topic, w: _Words) -> None:
    number = ch.pick(NUMBERS)
    kind = ch.pick(OBJECT_CLASS)
    source = {"object": topic.objects, "agent": topic.agents, "general": lex.general_agents}[kind]
    _noun_phrase(ch, lex, w, ch.pick(source), number, attributive=True)


def _relative(ch, lex: Lexicon, topic: Topic, w: _Words, head: int, number: str) -> None:
    kind = ch.pick(RELATIVE)
    if kind == "none":
        return
    w.add("that", "PRON")
    if kind == "subject":  # the dog that chases the cats
        verb = w.add(lex.verb(ch.pick(topic.verbs_t), number), "VERB")
        w.agreement.append((head, verb))
        _object(ch, lex, topic, w)
    else:  # the dogs that the farmer feeds
        lemma, inner_number = _agent(ch, lex, topic)
        inner = _noun_phrase(ch, lex, w, lemma, inner_number, attributive=False)
        verb = w.add(lex.verb(ch.pick(topic.verbs_t), inner_number), "VERB")
        w.agreement.append((inner, verb))


def _transitive_verb(ch, lex: Lexicon, topic: Topic) -> tuple[str, int]:
    """A transitive verb lemma and its polarity (emotion verbs carry sentiment)."""
    if ch.pick(VERB_CLASS) == "emotion":
        verb = ch.pick(lex.emotion_verbs)
        return verb, lex.polarity[verb]
    return ch.pick(topic.verbs_t), 0


def _predicate(ch, lex: Lexicon, topic: Topic, w: _Words, head: int, number: str) -> int:
    """The predicate after the subject; returns its polarity (+1, -1, 0)."""
    kind = ch.pick(PREDICATE)
    if kind == "transitive":
        lemma, polarity = _transitive_verb(ch, lex, topic)
        w.agreement.append((head, w.add(lex.verb(lemma, number), "VERB")))
        _object(ch, lex, topic, w)
        return polarity
    if kind == "negated":
        w.agreement.append((head, w.add("does" if number == "sg" else "do", "AUX")))
        w.add("not", "PART")
        lemma, polarity = _transitive_verb(ch, lex, topic)
        w.add(lex.verb(lemma, "pl"), "VERB")  # base form after do-support
        _object(ch, lex, topic, w)
        return -polarity
    if kind == "copula":
        w.agreement.append((head, w.add("is" if number == "sg" else "are", "AUX")))
        negated = ch.pick(NEGATION)
        if negated:
            w.add("not", "PART")
        if ch.pick(INTENSIFIER):
            w.add("very", "ADV")
        source = lex.sentiment_adjectives if ch.pick(COPULA_ADJECTIVE) == "sentiment" else lex.descriptive_adjectives
        adjective = ch.pick(source)
        w.add(adjective, "ADJ")
        polarity = lex.polarity.get(adjective, 0)
        return -polarity if negated else polarity
    source = topic.verbs_i if ch.pick(INTRANSITIVE_CLASS) == "topic" else lex.shared_verbs_i
    w.agreement.append((head, w.add(lex.verb(ch.pick(source), number), "VERB")))
    w.add(ch.pick(lex.prepositions), "ADP")
    w.add("the", "DET")
    w.add(ch.pick(topic.places), "NOUN")
    return 0
