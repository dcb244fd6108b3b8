"""The embedded generated corpus: determinism, labels, log-probabilities, unambiguity, the floor."""

import math
import time

import pytest

from plmkit.data import grammar
from plmkit.data.corpus import Document, floor_bits_per_word, generate, words_per_document
from plmkit.data.lexicon import Lexicon

LEX = Lexicon()
CLASSES = LEX.classes_of()


def _class(word: str) -> str:
    (cls,) = CLASSES[word]
    return cls


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return list(generate(300, seed=7))


def test_same_seed_same_text_and_documents_do_not_depend_on_count():
    a = [d.text for d in generate(30, seed=3)]
    assert a == [d.text for d in generate(30, seed=3)]
    assert a[:10] == [d.text for d in generate(10, seed=3)]
    assert a[10:12] == [d.text for d in generate(2, seed=3, start=10)]
    assert a != [d.text for d in generate(30, seed=4)]


def test_default_size_is_fast():
    start = time.perf_counter()
    n = sum(1 for _ in generate(6000, seed=1234))
    assert n == 6000
    assert time.perf_counter() - start < 5.0


def test_text_form(docs):
    for doc in docs[:50]:
        assert 3 <= len(doc.sentences) <= 8
        for s in doc.sentences:
            assert s.text == " ".join(s.words) and s.text.endswith(" .") and s.text == s.text.lower()
            assert len(s.tags) == len(s.words)
        assert doc.text.split() == [w for s in doc.sentences for w in s.words]


def test_every_word_has_exactly_one_class():
    """The condition for one derivation per text: no word in two classes (all forms distinct)."""
    assert all(len(classes) == 1 for classes in CLASSES.values())
    assert 300 <= len(CLASSES) <= 1500


def test_documents_stay_on_topic(docs):
    for doc in docs:
        first_noun = doc.sentences[0].words[doc.sentences[0].tags.index("NOUN")]
        assert first_noun == doc.protagonist and _class(first_noun).startswith(f"{doc.topic}.agents")
        for s in doc.sentences:
            for word, tag in zip(s.words, s.tags):
                cls = _class(word)
                if tag in ("NOUN", "VERB") and "." in cls and not cls.startswith(("general", "emotion", "shared")):
                    assert cls.startswith(doc.topic + "."), (word, doc.topic)


def test_tags_match_word_classes(docs):
    expected = {"agents": "NOUN", "objects": "NOUN", "places": "NOUN", "verbs_t": "VERB", "verbs_i": "VERB",
                "general_agents": "NOUN", "emotion": "VERB", "shared_verbs_i": "VERB", "adj_positive": "ADJ",
                "adj_negative": "ADJ", "adj_descriptive": "ADJ", "determiner": "DET", "prepositions": "ADP",
                "cop": "AUX", "aux": "AUX", "not": "PART", "that": "PRON", "punct": "PUNCT"}
    for doc in docs:
        for s in doc.sentences:
            for word, tag in zip(s.words, s.tags):
                parts = _class(word).split(".")
                kind = parts[1] if len(parts) == 3 else parts[0]
                assert expected.get(kind, "ADV") == tag, (word, tag)


def _number_of_verb(word: str) -> str:
    cls = _class(word)
    if cls in ("cop", "aux"):
        return "sg" if word in ("is", "does") else "pl"
    return "sg" if cls.endswith(".3sg") else "pl"


def test_agreement_pairs_are_right(docs):
    n_relative = 0
    for doc in docs:
        for s in doc.sentences:
            assert s.agreement, s.text
            for subject, verb in s.agreement:
                assert s.tags[subject] == "NOUN" and s.tags[verb] in ("VERB", "AUX")
                assert _class(s.words[subject]).endswith("." + _number_of_verb(s.words[verb])), s.text
            n_relative += "that" in s.words
            if "that" in s.words:
                assert len(s.agreement) == 2
    assert n_relative > 20


def test_attractor_example_is_labelled(docs):
    """"the dogs that the farmer feeds are hungry": the main verb agrees with dogs, not farmer."""
    found = 0
    for s in (s for d in docs for s in d.sentences):
        if "that" in s.words and s.tags[s.words.index("that") + 1] == "DET":
            (inner_subject, inner_verb), (head, main_verb) = sorted(s.agreement, key=lambda p: -p[0])
            assert head < inner_subject < inner_verb < main_verb
            found += _class(s.words[head])[-2:] != _class(s.words[inner_subject])[-2:]
    assert found > 5  # number mismatches between the two nouns occur


def test_sentiment_follows_adjective_and_negation(docs):
    seen = set()
    for s in (s for d in docs for s in d.sentences):
        if "AUX" in s.tags and s.words[s.tags.index("AUX")] in ("is", "are") and s.tags[-2] == "ADJ":
            polarity = LEX.polarity.get(s.words[-2], 0) * (-1 if "not" in s.words else 1)
            assert s.sentiment == grammar.SENTIMENT[polarity]
            seen.add(s.sentiment)
    assert seen == {"positive", "negative", "neutral"}


def _document_level_logprob(doc: Document) -> float:
    topic = LEX.topics[doc.topic]
    (lemma, number), = [(l, n) for l in topic.agents.options for n in ("sg", "pl")
                        if LEX.noun(l, n) == doc.protagonist]
    return (LEX.topic_distribution.logp[LEX.topic_names.index(doc.topic)]
            + grammar.SENTENCE_COUNTS.logp[grammar.SENTENCE_COUNTS.options.index(len(doc.sentences))]
            + topic.agents.logp[topic.agents.options.index(lemma)]
            + grammar.NUMBERS.logp[grammar.NUMBERS.options.index(number)])


def test_document_logprob_is_its_choices_plus_its_sentences(docs):
    for doc in docs[:100]:
        total = _document_level_logprob(doc) + sum(s.logprob for s in doc.sentences)
        assert doc.logprob == pytest.approx(total, abs=1e-9)
        assert all(s.logprob < 0 for s in doc.sentences)


TINY = {
    "topics": {"t": {"agents": "dog cat", "objects": "ball", "places": "yard", "verbs_t": "chase", "verbs_i": "run"}},
    "shared": {"general_agents": "man", "emotion_positive": "love", "emotion_negative": "hate", "verbs_i": "sleep",
               "adj_positive": "happy", "adj_negative": "sad", "adj_descriptive": "big", "adverbs": "today",
               "prepositions": "in", "det_singular": "the", "det_plural": "the"},
}


@pytest.mark.parametrize("first", [True, False])
def test_exhaustive_tiny_grammar_sums_to_one_and_is_unambiguous(first):
    """Every derivation of a sentence over a tiny lexicon: probabilities sum to 1, texts all distinct."""
    lex = Lexicon(TINY)
    topic = lex.topics["t"]
    derivations = list(grammar.enumerate_derivations(
        lambda ch: " ".join(grammar.derive_sentence(ch, lex, topic, ("dog", "sg"), first)["words"])))
    texts = [text for text, _ in derivations]
    assert len(texts) > 1000
    assert len(set(texts)) == len(texts)  # one derivation per text
    assert math.fsum(math.exp(lp) for _, lp in derivations) == pytest.approx(1.0, abs=1e-9)


def test_sampler_logprob_matches_enumeration():
    """A sampled sentence's log-prob is the probability the enumeration gives its text."""
    import random

    lex = Lexicon(TINY)
    topic = lex.topics["t"]
    table = dict(grammar.enumerate_derivations(
        lambda ch: " ".join(grammar.derive_sentence(ch, lex, topic, ("cat", "pl"), False)["words"])))
    for seed in range(20):
        sampler = grammar.Sampler(random.Random(seed))
        text = " ".join(grammar.derive_sentence(sampler, lex, topic, ("cat", "pl"), False)["words"])
        assert sampler.logp == pytest.approx(table[text], abs=1e-12)


def test_floor_is_finite_positive_and_below_unigram(docs):
    floor = floor_bits_per_word(docs)
    assert 1.0 < floor < 6.0
    words = sum(words_per_document(d) for d in docs)
    assert words == sum(len(d.text.split()) + 1 for d in docs)
    counts: dict[str, int] = {}
    for d in docs:
        for w in d.text.split() + ["<end>"]:
            counts[w] = counts.get(w, 0) + 1
    unigram = -sum(c * math.log2(c / words) for c in counts.values()) / words  # in-sample, optimistic
    assert floor < unigram - 2.0
