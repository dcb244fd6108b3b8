"""Tokenizers: special ids, round trips, tokenizer.json save/load, the components, char ids."""

import json
import time
from collections import Counter
from types import SimpleNamespace

import pytest

from plmkit.components.tokenizer import tokenizers as components
from plmkit.data import chars
from plmkit.data.corpus import generate
from plmkit.data.tokenize import Tokenizer, read_vocab_size, train_byte_bpe, train_word, train_wordpiece

TEXTS = [d.text for d in generate(200, seed=11)]


def _components():
    registered = {}
    components.register(lambda kind, n, cls, build, description="": registered.__setitem__(n, (kind, cls, build)))
    return registered


@pytest.fixture(scope="module")
def trained():
    return {"wordpiece": train_wordpiece(TEXTS, 600), "byte_bpe": train_byte_bpe(TEXTS, 600), "word": train_word(TEXTS, 600)}


def test_special_ids(trained):
    wp, bpe, word = trained["wordpiece"], trained["byte_bpe"], trained["word"]
    assert [wp.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (wp.pad_id, wp.unk_id, wp.cls_id, wp.sep_id, wp.mask_id) == (0, 1, 2, 3, 4)
    assert wp.special_ids == {0, 1, 2, 3, 4} and wp.bos_id is None
    assert bpe.id_to_token(0) == "<|endoftext|>" and bpe.pad_id == bpe.bos_id == bpe.eos_id == 0
    assert bpe.special_ids == {0} and bpe.mask_id is None and bpe.unk_id is None
    assert [word.id_to_token(i) for i in range(4)] == ["<PAD>", "<S>", "</S>", "<UNK>"]
    assert (word.pad_id, word.bos_id, word.eos_id, word.unk_id) == (0, 1, 2, 3)


def test_round_trips(trained):
    text = TEXTS[0]
    assert trained["byte_bpe"].decode(trained["byte_bpe"].encode(text)) == text
    assert trained["word"].decode(trained["word"].encode(text)) == text
    wp = trained["wordpiece"]
    assert wp.decode(wp.encode(text)).split() == text.replace(" .", ".").split()  # BERT joins punctuation
    assert wp.encode("The DOG") == wp.encode("the dog")  # lowercased
    assert wp.decode(wp.encode("tractorhorse")) == "tractorhorse" and len(wp.encode("tractorhorse")) > 1  # pieces


def test_byte_bpe_words_start_alike_everywhere(trained):
    bpe = trained["byte_bpe"]
    assert bpe.encode("the dog")[0] == bpe.encode("a the")[1]  # prefix space: same token at the start
    assert bpe.decode([0, *bpe.encode("the")], skip_special_tokens=False).startswith("<|endoftext|>")
    assert "\u00e9t\u00e9 \u2603" == bpe.decode(bpe.encode("\u00e9t\u00e9 \u2603"))  # any bytes


def test_word_vocabulary_is_by_descending_frequency(trained):
    word = trained["word"]
    counts = Counter(w for t in TEXTS for w in t.split())
    ranked = [word.id_to_token(i) for i in range(4, word.vocab_size)]
    assert [counts[w] for w in ranked] == sorted((counts[w] for w in ranked), reverse=True)
    assert word.encode("the unheardofword") == [word.token_to_id("the"), word.unk_id]
    assert train_word(TEXTS, 10).vocab_size == 10


def test_word_char_ids_come_from_chars(trained):
    words = ["<S>", "the", "dog", "</S>"]
    assert trained["word"].char_ids(words) == chars.char_ids(words, 50)


@pytest.mark.parametrize("kind", ["wordpiece", "byte_bpe", "word"])
def test_save_load_standard_tokenizer_json(trained, kind, tmp_path):
    from tokenizers import Tokenizer as Backend

    tok = trained[kind]
    file = tok.save(tmp_path / "tok")
    assert file.name == "tokenizer.json"
    assert json.loads((tmp_path / "tok" / "plmkit_tokenizer.json").read_text()) == {"kind": kind}
    assert Backend.from_file(str(file)).encode(TEXTS[1], add_special_tokens=False).ids == tok.encode(TEXTS[1])
    loaded = Tokenizer.load(tmp_path / "tok")
    assert (loaded.kind, loaded.vocab_size, loaded.special_ids) == (kind, tok.vocab_size, tok.special_ids)
    assert (loaded.pad_id, loaded.mask_id, loaded.bos_id) == (tok.pad_id, tok.mask_id, tok.bos_id)
    (tmp_path / "tok" / "plmkit_tokenizer.json").unlink()  # a bare tokenizer.json: kind from the model type
    assert Tokenizer.load(file).kind == kind
    assert read_vocab_size(file) == tok.vocab_size


def test_wordpiece_loads_in_transformers(trained, tmp_path):
    transformers = pytest.importorskip("transformers")
    wp = trained["wordpiece"]
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(wp.save(tmp_path)))
    assert hf("the dog")["input_ids"] == [wp.cls_id, *wp.encode("the dog"), wp.sep_id]


def test_components_train_and_load(tmp_path):
    registered = _components()
    assert set(registered) == {"wordpiece", "byte_bpe", "word", "pretrained"}
    for name in ("wordpiece", "byte_bpe", "word"):
        kind, cls, build = registered[name]
        params = cls(vocab_size=500)
        assert kind == "tokenizer" and params.vocab_size == 500
        tok = build(params, None, texts=iter(TEXTS))
        assert tok.kind == name and tok.vocab_size <= 500
        with pytest.raises(ValueError, match="texts"):
            build(params, None)
    tok = train_byte_bpe(TEXTS, 400)
    tok.save(tmp_path / "mine")
    _, cls, build = registered["pretrained"]
    params = cls(path="mine")
    recipe = SimpleNamespace(path=tmp_path / "recipe.yaml")
    assert params.check(recipe, "tokenizer") == []
    assert params.expected_vocab_size() == tok.vocab_size
    loaded = build(params, SimpleNamespace(recipe=recipe))
    assert loaded.encode(TEXTS[2]) == tok.encode(TEXTS[2]) and loaded.kind == "byte_bpe"
    problems = cls(path="nothing/here").check(recipe, "tokenizer")
    assert problems and problems[0][0] == "tokenizer.path" and "nothing/here" in problems[0][1]


def test_default_corpus_tokenizes_in_seconds():
    texts = [d.text for d in generate(6000, seed=1234)]
    start = time.perf_counter()
    tok = train_byte_bpe(texts, 4000)
    ids = tok.encode_batch(texts)
    assert time.perf_counter() - start < 10.0
    assert sum(map(len, ids)) == sum(len(t.split()) for t in texts)  # every word is one token
