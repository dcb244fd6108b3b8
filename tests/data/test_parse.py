"""The grammar parser: it accepts exactly the generator's texts, with the generator's own log-probabilities."""

from __future__ import annotations

import math
import random

import pytest

from plmkit.data import grammar
from plmkit.data.corpus import generate
from plmkit.data.lexicon import Lexicon
from plmkit.data.parse import Context, Parser

from test_corpus import TINY


@pytest.fixture(scope="module")
def docs():
    return list(generate(400, seed=11))


def test_every_generated_document_parses_with_its_exact_logprob_and_labels(docs):
    parser = Parser()
    for doc in docs:
        parse = parser.document(doc.text)
        assert parse.ok, (parse.error, doc.text)
        assert parse.logprob == pytest.approx(doc.logprob, abs=1e-9)
        assert parse.context == Context(doc.topic, parse.context.protagonist)
        assert parser.context_of(list(doc.sentences[0].words)) == parse.context
        for mine, theirs in zip(parse.sentences, doc.sentences):
            assert (mine.words, mine.tags, mine.sentiment, mine.agreement) == \
                (theirs.words, theirs.tags, theirs.sentiment, theirs.agreement)
            assert mine.logprob == pytest.approx(theirs.logprob, abs=1e-12)


def test_a_later_sentence_parses_in_its_documents_context(docs):
    parser = Parser()
    for doc in docs[:100]:
        context = parser.context_of(list(doc.sentences[0].words))
        for sentence in doc.sentences[1:]:
            parse = parser.sentence(sentence.text, context)
            assert parse.ok and parse.logprob == pytest.approx(sentence.logprob, abs=1e-12)


@pytest.mark.parametrize("first", [True, False])
def test_on_a_tiny_lexicon_the_parser_accepts_exactly_the_grammars_sentences(first):
    """Every derivation parses to its own log-probability; one-word changes parse iff they are derivations."""
    lex = Lexicon(TINY)
    topic, protagonist = lex.topics["t"], ("dog", "sg")
    table = dict(grammar.enumerate_derivations(
        lambda ch: " ".join(grammar.derive_sentence(ch, lex, topic, protagonist, first)["words"])))
    parser, context = Parser(lex), Context("t", protagonist)
    for text, logprob in table.items():
        parse = parser.sentence(text, context, first=first)
        assert parse.ok and parse.logprob == pytest.approx(logprob, abs=1e-12), text
    vocabulary = sorted(lex.vocabulary())
    rng = random.Random(0)
    texts = list(table)
    accepted = rejected = 0
    for _ in range(3000):
        words = rng.choice(texts).split()
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
        mutated = " ".join(words)
        parse = parser.sentence(mutated, context, first=first)
        assert parse.ok == (mutated in table), mutated
        if parse.ok:
            accepted += 1
            assert parse.logprob == pytest.approx(table[mutated], abs=1e-12)
        else:
            rejected += 1
            assert parse.logprob == -math.inf and 0 <= parse.position < len(words) and parse.error
    assert accepted > 100 and rejected > 1000


@pytest.mark.parametrize("text,position,says", [
    ("the farmer feeds the cow . the cows is happy .", 8, "'are' agreeing with a pl subject"),
    ("the farmer feeds the cow . the cow are happy .", 8, "'is' agreeing with a sg subject"),
    ("the farmer feeds the cow . the sailor is happy .", 7, "a person or animal of the farm topic"),
    ("the farmer feeds the cow . the farmers are happy .", 7, "a subject other than the protagonist's noun"),
    ("the farmer feeds the cow . the cow is happy", 9, "the text to end with ' .'"),
    ("the farmer feeds the cow .", 5, "3 to 8 sentences"),
])
def test_ungrammatical_text_is_refused_at_the_word_that_breaks_it(text, position, says):
    parse = Parser().document(text + (" the cow is happy . the hen is sad ." if text.count(".") == 2 else ""))
    assert not parse.ok and parse.logprob == -math.inf
    assert parse.position == position and says in parse.error, parse.error


def test_the_parser_is_fast_enough_to_score_samples(docs):
    import time

    parser = Parser()
    start = time.perf_counter()
    for doc in docs:
        parser.document(doc.text)
    assert time.perf_counter() - start < 5.0  # 400 documents, about 2,200 sentences
