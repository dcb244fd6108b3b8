"""Read text back through the embedded corpus's grammar: its exact log-probability, or where it breaks.

The grammar (``grammar.py``) is unambiguous: every alternative of a choice starts with, or is, a
word of its own class, and no word belongs to two classes. So a text has at most one derivation,
and a parser that looks at most two words ahead recovers every choice the generator made. Adding
up those choices' log-probabilities (the same ``Dist`` objects the generator sampled from) gives
the text's exact probability under the generator; a text the grammar cannot produce is reported
with the word where it breaks.

``Parser(lexicon).document(text)`` parses a whole document (topic, sentence count, protagonist,
sentences); ``Parser.sentence(words, context)`` one sentence given its document's topic and
protagonist (how ``plmkit compare`` scores a continuation a model generated after a prompt).
Both return a ``Parse``; a successful one carries ``corpus.Sentence`` objects with the same
tags, sentiment and agreement pairs the generator recorded. No torch here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import grammar as g
from .corpus import Sentence, default_lexicon
from .lexicon import Dist, Lexicon, Topic

__all__ = ["Parser", "Parse", "Context"]


@dataclass(frozen=True)
class Context:
    """What a sentence after the first depends on: its document's topic and protagonist (lemma, number)."""

    topic: str
    protagonist: tuple[str, str]


@dataclass(frozen=True)
class Parse:
    """The result of parsing: ``ok`` with the log-probability and sentences, or the word where it broke."""

    ok: bool
    logprob: float  # natural log; -inf when not ok
    sentences: tuple[Sentence, ...] = ()
    context: Context | None = None
    error: str = ""  # why it is not a text of the grammar
    position: int = -1  # index of the word (in the parsed words) where parsing failed

    @property
    def words(self) -> int:
        return sum(len(s.words) for s in self.sentences)


class _Fail(Exception):
    def __init__(self, position: int, message: str):
        super().__init__(message)
        self.position, self.message = position, message


@dataclass(frozen=True)
class _Word:
    """What the lexicon knows about a word: its word class and, for nouns and verbs, lemma and form."""

    cls: str  # noun, verb, adjective, adverb, preposition, determiner, or the word itself (is, not, ...)
    lemma: str = ""
    form: str = ""  # nouns: sg | pl; verbs: 3sg | base
    group: str = ""  # nouns: TOPIC.agents | TOPIC.objects | TOPIC.places | general; verbs: TOPIC.verbs_t |
    #                  TOPIC.verbs_i | emotion | shared; adjectives: sentiment | descriptive


@dataclass
class _Cursor:
    """The words of one sentence being read, and what reading them has established."""

    words: list[str]
    offset: int = 0  # index of words[0] in the whole parsed text (for error positions)
    i: int = 0
    logp: float = 0.0
    tags: list[str] = field(default_factory=list)
    agreement: list[tuple[int, int]] = field(default_factory=list)

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.words[j] if j < len(self.words) else None

    def take(self, tag: str) -> int:
        self.tags.append(tag)
        self.i += 1
        return self.i - 1

    def fail(self, message: str, ahead: int = 0):
        word = self.peek(ahead)
        found = f"{word!r}" if word is not None else "the end of the text"
        raise _Fail(self.offset + self.i + ahead, f"word {self.offset + self.i + ahead}: expected {message}, found {found}")


def _logp(dist: Dist, option) -> float | None:
    try:
        return dist.logp[dist.options.index(option)]
    except ValueError:
        return None


class Parser:
    """A parser for the texts of ``grammar.py`` over one lexicon (the default: the built-in one)."""

    def __init__(self, lexicon: Lexicon | None = None):
        self.lex = lexicon or default_lexicon()
        self.info = self._index()

    # -- public ---------------------------------------------------------------------------------------
    def document(self, text: str | list[str]) -> Parse:
        """Parse a whole document; ``logprob`` includes topic, sentence count and protagonist."""
        words = text.split() if isinstance(text, str) else list(text)
        try:
            chunks = _sentences(words)
            context = self.context_of(chunks[0][1])
            topic = self.lex.topics[context.topic]
            lemma, number = context.protagonist
            logp = (_logp(self.lex.topic_distribution, context.topic) + _logp(topic.agents, lemma)
                    + _logp(g.NUMBERS, number))
            count = _logp(g.SENTENCE_COUNTS, len(chunks))
            if count is None:
                raise _Fail(len(words) - 1, f"a document has 3 to 8 sentences, this one has {len(chunks)}")
            sentences = [self._sentence(chunk, offset, topic, context.protagonist, k == 0)
                         for k, (offset, chunk) in enumerate(chunks)]
        except _Fail as fail:
            return Parse(False, -math.inf, error=fail.message, position=fail.position)
        return Parse(True, logp + count + sum(s.logprob for s in sentences), tuple(sentences), context)

    def sentence(self, words: str | list[str], context: Context, first: bool = False) -> Parse:
        """Parse one sentence of a document with this ``context``; ``logprob`` is the sentence's own."""
        words = words.split() if isinstance(words, str) else list(words)
        try:
            if not words or words[-1] != "." or "." in words[:-1]:
                raise _Fail(max(len(words) - 1, 0), "one sentence ending in ' .'")
            sentence = self._sentence(words, 0, self.lex.topics[context.topic], context.protagonist, first)
        except _Fail as fail:
            return Parse(False, -math.inf, context=context, error=fail.message, position=fail.position)
        return Parse(True, sentence.logprob, (sentence,), context)

    def context_of(self, first_sentence: list[str]) -> Context:
        """The topic and protagonist a document's first sentence establishes (its subject noun)."""
        c = _Cursor(list(first_sentence))
        if c.peek() in self._adverbs:
            c.i += 1
        noun = self.info.get(c.peek(1) or "")
        if noun is None or noun.cls != "noun" or not noun.group.endswith(".agents"):
            c.fail("the protagonist: a topic's agent noun after a determiner", 1)
        return Context(noun.group.split(".")[0], (noun.lemma, noun.form))

    # -- one sentence -------------------------------------------------------------------------------
    def _sentence(self, words: list[str], offset: int, topic: Topic, protagonist: tuple[str, str], first: bool) -> Sentence:
        c = _Cursor(words, offset)
        adverb = c.peek() if c.peek() in self._adverbs else ""
        self._choose(c, self.lex.adverbs, adverb)
        if adverb:
            c.take("ADV")
        noun = self._noun_at(c, 1)
        number = noun.form
        if first or (noun.lemma, number) == protagonist:
            if (noun.lemma, number) != protagonist:
                c.fail(f"the protagonist {self.lex.noun(*protagonist)!r} as the first subject", 1)
            if not first:
                self._choose(c, g.SUBJECT_HEAD, "protagonist")
        else:
            self._choose(c, g.SUBJECT_HEAD, "fresh")
            self._agent(c, topic, noun, exclude=protagonist[0], ahead=1)
        head = self._noun_phrase(c, noun, attributive=False)
        self._relative(c, topic, head, number)
        polarity = self._predicate(c, topic, head, number)
        if c.peek() != ".":
            c.fail("'.'")
        c.take("PUNCT")
        if c.peek() is not None:
            c.fail("the end of the sentence")
        return Sentence(tuple(words), tuple(c.tags), g.SENTIMENT[polarity], tuple(c.agreement), c.logp)

    def _choose(self, c: _Cursor, dist: Dist, option, what: str = "", ahead: int = 0) -> None:
        logp = _logp(dist, option)
        if logp is None:
            c.fail(what or f"one of {', '.join(repr(o) for o in dist.options[:6])}", ahead)
        c.logp += logp

    def _noun_at(self, c: _Cursor, ahead: int) -> _Word:
        info = self.info.get(c.peek(ahead) or "")
        if info is None or info.cls != "noun":
            c.fail("a noun", ahead)
        return info

    def _agent(self, c: _Cursor, topic: Topic, noun: _Word, exclude: str | None, ahead: int) -> None:
        """grammar._agent: number, general or topic agent, the lemma (the protagonist's excluded)."""
        self._choose(c, g.NUMBERS, noun.form)
        if noun.group == "general":
            self._choose(c, g.AGENT_CLASS, "general")
            self._choose(c, self.lex.general_agents, noun.lemma)
            return
        if noun.group != f"{topic.name}.agents":
            c.fail(f"a person or animal of the {topic.name} topic", ahead)
        self._choose(c, g.AGENT_CLASS, "topic")
        agents = topic.agents.without(exclude) if exclude else topic.agents
        self._choose(c, agents, noun.lemma, "a subject other than the protagonist's noun in another number", ahead)

    def _noun_phrase(self, c: _Cursor, noun: _Word, attributive: bool) -> int:
        """DET [ADJ] NOUN for a noun already identified by looking ahead; returns the noun's index."""
        self._choose(c, self.lex.determiners[noun.form], c.peek(), f"a determiner for a {noun.form} noun")
        c.take("DET")
        if attributive:
            adjective = c.peek() if self._group(c.peek()) == ("adjective", "descriptive") else ""
            self._choose(c, g.ATTRIBUTIVE, "adjective" if adjective else "")
            if adjective:
                self._choose(c, self.lex.descriptive_adjectives, adjective)
                c.take("ADJ")
        if self.info.get(c.peek() or "") != noun:
            c.fail(f"the noun {self.lex.noun(noun.lemma, noun.form)!r}")
        return c.take("NOUN")

    def _object(self, c: _Cursor, topic: Topic) -> None:
        """grammar._object: number, object / agent / general, the lemma, DET [ADJ] NOUN."""
        ahead = 2 if self._group(c.peek(1)) == ("adjective", "descriptive") else 1
        noun = self._noun_at(c, ahead)
        self._choose(c, g.NUMBERS, noun.form)
        groups = {f"{topic.name}.objects": ("object", topic.objects), f"{topic.name}.agents": ("agent", topic.agents),
                  "general": ("general", self.lex.general_agents)}
        if noun.group not in groups:
            c.fail(f"an object or agent of the {topic.name} topic", ahead)
        kind, source = groups[noun.group]
        self._choose(c, g.OBJECT_CLASS, kind)
        self._choose(c, source, noun.lemma)
        self._noun_phrase(c, noun, attributive=True)

    def _relative(self, c: _Cursor, topic: Topic, head: int, number: str) -> None:
        if c.peek() != "that":
            self._choose(c, g.RELATIVE, "none")
            return
        c.take("PRON")
        if self._group(c.peek())[0] == "verb":  # subject relative: the dog that chases the cats
            self._choose(c, g.RELATIVE, "subject")
            c.agreement.append((head, self._verb(c, topic.verbs_t, f"{topic.name}.verbs_t", number)))
            self._object(c, topic)
            return
        self._choose(c, g.RELATIVE, "object")  # object relative: the dogs that the farmer feeds
        inner = self._noun_at(c, 1)
        self._agent(c, topic, inner, exclude=None, ahead=1)
        inner_index = self._noun_phrase(c, inner, attributive=False)
        c.agreement.append((inner_index, self._verb(c, topic.verbs_t, f"{topic.name}.verbs_t", inner.form)))

    def _verb(self, c: _Cursor, dist: Dist, group: str, number: str) -> int:
        """A verb of ``group`` in the form agreeing with ``number`` ("pl": the base form)."""
        info = self.info.get(c.peek() or "")
        if info is None or info.group != group:
            c.fail(f"a verb of {group}")
        if info.form != ("3sg" if number == "sg" else "base"):
            c.fail(f"a verb agreeing with a {number} subject")
        self._choose(c, dist, info.lemma)
        return c.take("VERB")

    def _transitive(self, c: _Cursor, topic: Topic, number: str) -> tuple[int, int]:
        """grammar._transitive_verb: an emotion verb (with its polarity) or a topic's transitive verb."""
        group = self._group(c.peek())
        if group == ("verb", "emotion"):
            self._choose(c, g.VERB_CLASS, "emotion")
            lemma = self.info[c.peek()].lemma
            return self._verb(c, self.lex.emotion_verbs, "emotion", number), self.lex.polarity[lemma]
        self._choose(c, g.VERB_CLASS, "topic", f"a transitive verb of the {topic.name} topic")
        return self._verb(c, topic.verbs_t, f"{topic.name}.verbs_t", number), 0

    def _predicate(self, c: _Cursor, topic: Topic, head: int, number: str) -> int:
        """The predicate; returns its polarity (+1, -1, 0) as grammar._predicate does."""
        word, plural = c.peek(), number == "pl"
        if word in ("does", "do", "is", "are"):
            expected = {"does": "do", "is": "are"}.get(word, word) if plural else {"do": "does", "are": "is"}.get(word, word)
            if word != expected:
                c.fail(f"{expected!r} agreeing with a {number} subject")
            kind = "negated" if word in ("does", "do") else "copula"
            self._choose(c, g.PREDICATE, kind)
            c.agreement.append((head, c.take("AUX")))
            return self._negated(c, topic) if kind == "negated" else self._copula(c)
        group = self._group(word)
        if group[0] != "verb":
            c.fail("a predicate: a verb, 'is'/'are' or 'does'/'do'")
        if group[1] in ("emotion", f"{topic.name}.verbs_t"):
            self._choose(c, g.PREDICATE, "transitive")
            verb, polarity = self._transitive(c, topic, number)
            c.agreement.append((head, verb))
            self._object(c, topic)
            return polarity
        self._choose(c, g.PREDICATE, "intransitive")
        shared = group[1] == "shared"
        self._choose(c, g.INTRANSITIVE_CLASS, "shared" if shared else "topic", f"a verb of the {topic.name} topic")
        source, name = (self.lex.shared_verbs_i, "shared") if shared else (topic.verbs_i, f"{topic.name}.verbs_i")
        c.agreement.append((head, self._verb(c, source, name, number)))
        self._choose(c, self.lex.prepositions, c.peek(), "a preposition")
        c.take("ADP")
        if c.peek() != "the":
            c.fail("'the' before a place")
        c.take("DET")
        self._choose(c, topic.places, c.peek(), f"a place of the {topic.name} topic")
        c.take("NOUN")
        return 0

    def _negated(self, c: _Cursor, topic: Topic) -> int:
        if c.peek() != "not":
            c.fail("'not'")
        c.take("PART")
        _, polarity = self._transitive(c, topic, "pl")  # the base form after do-support
        self._object(c, topic)
        return -polarity

    def _copula(self, c: _Cursor) -> int:
        negated = c.peek() == "not"
        self._choose(c, g.NEGATION, "not" if negated else "")
        if negated:
            c.take("PART")
        very = c.peek() == "very"
        self._choose(c, g.INTENSIFIER, "very" if very else "")
        if very:
            c.take("ADV")
        adjective, group = c.peek(), self._group(c.peek())
        if group[0] != "adjective":
            c.fail("an adjective")
        self._choose(c, g.COPULA_ADJECTIVE, group[1])
        source = self.lex.sentiment_adjectives if group[1] == "sentiment" else self.lex.descriptive_adjectives
        self._choose(c, source, adjective)
        c.take("ADJ")
        polarity = self.lex.polarity.get(adjective, 0)
        return -polarity if negated else polarity

    # -- the lexicon, indexed by word -------------------------------------------------------------------
    def _group(self, word: str | None) -> tuple[str, str]:
        info = self.info.get(word or "")
        return (info.cls, info.group) if info is not None else ("", "")

    def _index(self) -> dict[str, _Word]:
        lex, info = self.lex, {}
        for name, topic in lex.topics.items():
            for kind in ("agents", "objects"):
                for lemma in getattr(topic, kind).options:
                    for number in ("sg", "pl"):
                        info[lex.noun(lemma, number)] = _Word("noun", lemma, number, f"{name}.{kind}")
            for lemma in topic.places.options:  # places appear in the singular only
                info[lemma] = _Word("noun", lemma, "sg", f"{name}.places")
            for kind in ("verbs_t", "verbs_i"):
                for lemma in getattr(topic, kind).options:
                    for number, form in (("sg", "3sg"), ("pl", "base")):
                        info[lex.verb(lemma, number)] = _Word("verb", lemma, form, f"{name}.{kind}")
        for lemma in lex.general_agents.options:
            for number in ("sg", "pl"):
                info[lex.noun(lemma, number)] = _Word("noun", lemma, number, "general")
        for group, dist in (("emotion", lex.emotion_verbs), ("shared", lex.shared_verbs_i)):
            for lemma in dist.options:
                for number, form in (("sg", "3sg"), ("pl", "base")):
                    info[lex.verb(lemma, number)] = _Word("verb", lemma, form, group)
        for word in lex.sentiment_adjectives.options:
            info[word] = _Word("adjective", group="sentiment")
        for word in lex.descriptive_adjectives.options:
            info[word] = _Word("adjective", group="descriptive")
        self._adverbs = {a for a in lex.adverbs.options if a}
        return info


def _sentences(words: list[str]) -> list[tuple[int, list[str]]]:
    """(offset, words) of each sentence: a sentence ends with '.'; the text must end with one."""
    if not words:
        raise _Fail(0, "word 0: expected a document, found an empty text")
    out, start = [], 0
    for i, word in enumerate(words):
        if word == ".":
            out.append((start, words[start: i + 1]))
            start = i + 1
    if start != len(words):
        raise _Fail(len(words) - 1, f"word {len(words) - 1}: expected the text to end with ' .', "
                                    f"found {words[-1]!r}")
    return out
