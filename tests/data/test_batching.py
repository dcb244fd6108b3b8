"""Batches per objective, from real recipes on small generated corpora: layout, masking, resume."""

import math
import random
from pathlib import Path

import pytest
import torch
import yaml

import plmkit
from plmkit.data import chars
from plmkit.data.batching import mask_tokens
from plmkit.data.bert_batches import Masking, PairBatcher
from plmkit.data.prepare import is_held_out, prepare
from plmkit.errors import DataError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
SMALL = ["data.documents=80", "train.batch_size=4", "eval.batches=100"]


def _prepared(name: str, *overrides: str):
    return prepare(plmkit.load_recipe(RECIPES / f"{name}.yaml", [*SMALL, *overrides]))


@pytest.fixture(scope="module")
def gpt():
    return _prepared("gpt", "train.seq_len=32")


@pytest.fixture(scope="module")
def bert():
    return _prepared("bert", "train.seq_len=48")


@pytest.fixture(scope="module")
def elmo():
    return _prepared("elmo", "train.seq_len=12")


def _take(stream, n):
    return [next(stream) for _ in range(n)]


@pytest.mark.parametrize("name", ["gpt", "bert", "elmo"])
def test_train_stream_from_k_is_the_tail_of_the_stream_from_0(name, request):
    prepared = request.getfixturevalue(name)
    full = _take(prepared.train_batches(), 60)  # several epochs of this small corpus
    tail = _take(prepared.train_batches(start=37), 23)
    for a, b in zip(full[37:], tail):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(full[0]["input_ids"], full[1]["input_ids"])


def test_eval_batches_are_fixed(bert):
    again = _prepared("bert", "train.seq_len=48").eval_batches()
    for a, b in zip(bert.eval_batches(), again):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_holdout_is_by_document_deterministic_and_never_empty(gpt):
    held = [i for i in range(80) if is_held_out(i, 0.05)]
    assert held[0] == 0 and abs(len(held) - 0.05 * 80) <= 1.5
    assert gpt.stats["holdout_documents"] == len(held) and gpt.stats["train_documents"] == 80 - len(held)
    assert abs(sum(is_held_out(i, 0.05) for i in range(6000)) - 300) <= 3
    assert 0 < gpt.stats["floor_bits_per_word"] < 10


def test_heldout_corpus_is_the_generated_documents(gpt):
    from plmkit.data.corpus import floor_bits_per_word, generate

    docs = gpt.heldout_corpus()
    every = list(generate(80, seed=1234))
    assert [d.text for d in docs] == [every[i].text for i in gpt.heldout_indices]
    assert floor_bits_per_word(docs) == gpt.stats["floor_bits_per_word"]
    assert sum(d.n_words for d in docs) == gpt.stats["holdout_words"]


def test_one_document_is_too_few(tmp_path):
    (tmp_path / "one.txt").write_text("A lone document. With two sentences.\n", encoding="utf-8")
    data = yaml.safe_load((RECIPES / "gpt.yaml").read_text())
    data["data"] = {"type": "text", "paths": [str(tmp_path / "one.txt")]}
    from plmkit.recipe.validate import recipe_from_dict

    with pytest.raises(DataError, match="at least 2"):
        prepare(recipe_from_dict(data))


# -- causal LM


def _pieces(row: list[int], sep: int) -> list[tuple[int, ...]]:
    """A chunk cut at its separators."""
    out, piece = [], []
    for t in row:
        if t == sep:
            out.append(tuple(piece))
            piece = []
        else:
            piece.append(t)
    return out + [tuple(piece)]


def test_causal_chunks_are_contiguous_text_with_separators(gpt):
    sep, docs = gpt.tokenizer.eos_id, [tuple(d.tolist()) for d in gpt._train.docs]
    batch = next(gpt.train_batches())
    assert batch["input_ids"].shape == (4, 32) and torch.equal(batch["labels"], batch["input_ids"])
    assert batch["attention_mask"].all()
    separators = 0
    for row in batch["input_ids"].tolist():
        pieces = _pieces(row, sep)
        separators += len(pieces) - 1
        if len(pieces) == 1:  # inside one document
            n = len(row)
            assert any(d[k: k + n] == pieces[0] for d in docs for k in range(len(d) - n + 1))
            continue
        assert all(p in docs for p in pieces[1:-1])  # whole documents between two separators
        assert any(d[len(d) - len(pieces[0]):] == pieces[0] for d in docs)  # the end of a document
        assert any(d[: len(pieces[-1])] == pieces[-1] for d in docs)  # the start of one
    assert separators > 0


def test_causal_eval_predicts_every_heldout_token_once_and_counts_words(gpt):
    batches, words = gpt.eval_batches(), gpt.eval_word_counts()
    held_tokens = gpt.stats["holdout_tokens"] + gpt.stats["holdout_documents"]  # + one separator each
    predicted = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches)
    assert predicted == held_tokens
    assert sum(words) == gpt.heldout_word_count() == gpt.stats["holdout_words"] + gpt.stats["holdout_documents"]
    last = batches[-1]
    assert (last["labels"][last["attention_mask"] == 0] == -100).all()


def test_unigram_baseline(gpt):
    base = gpt.unigram_baseline()
    assert 0 < base["nats_per_token"] < math.log(gpt.tokenizer.vocab_size)
    assert base["bits_per_word"] > gpt.stats["floor_bits_per_word"]
    assert base["words"] == gpt.heldout_word_count()


def test_given_tokenizer_is_used(gpt):
    recipe = plmkit.load_recipe(RECIPES / "gpt.yaml", [*SMALL, "train.seq_len=32"])
    again = prepare(recipe, tokenizer=gpt.tokenizer)
    assert again.tokenizer is gpt.tokenizer
    assert torch.equal(next(again.train_batches())["input_ids"], next(gpt.train_batches())["input_ids"])


# -- BERT


def test_bert_pairs_layout(bert):
    tok = bert.tokenizer
    batch = next(bert.train_batches())
    ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    assert ids.shape[1] <= 48 and set(batch) >= {"labels", "next_sentence_label"}
    for row, ty, m, lab in zip(ids, types, mask, batch["labels"]):
        n = int(m.sum())
        original = torch.where(lab != -100, lab, row)[:n].tolist()
        assert original[0] == tok.cls_id and original[-1] == tok.sep_id
        seps = [i for i, t in enumerate(original) if t == tok.sep_id]
        assert len(seps) == 2
        assert ty[: seps[0] + 1].eq(0).all() and ty[seps[0] + 1: n].eq(1).all() and ty[n:].eq(0).all()
        assert row[n:].eq(tok.pad_id).all()


def _synthetic(tok, n_docs=30):
    rng = random.Random(0)
    return [[[5 + d * 10 + s] * 3 for s in range(rng.randint(3, 7))] for d in range(n_docs)]


def test_next_sentence_pairs_follow_google(bert):
    """Real next: B starts with the sentence after A's last; random: B from another document."""
    docs = _synthetic(bert.tokenizer)
    batcher = PairBatcher(docs, bert.tokenizer, 64, Masking())
    instances = [i for e in range(10) for i in batcher.epoch(random.Random(e))]
    for tokens, types, is_random, _ in instances:
        sep = tokens.index(bert.tokenizer.sep_id)
        a, b = tokens[1:sep], tokens[sep + 1: -1]
        (doc_a, sent_a), (doc_b, sent_b) = divmod(a[-1] - 5, 10), divmod(b[0] - 5, 10)
        if is_random:
            assert doc_b != doc_a
        else:
            assert (doc_b, sent_b) == (doc_a, sent_a + 1)
    share = sum(i[2] for i in instances) / len(instances)
    assert 0.45 < share < 0.7  # 50% random, plus single-sentence chunks (google's rule)


def test_mlm_masking_matches_hf_collator_bit_for_bit(bert):
    transformers = pytest.importorskip("transformers")
    tok = bert.tokenizer
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=tok.backend, pad_token="[PAD]", unk_token="[UNK]",
                                              cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    collator = transformers.DataCollatorForLanguageModeling(hf, mlm_probability=0.15)
    unmasked = PairBatcher(bert._train.docs, tok, 48, None)
    ids = unmasked.collate(unmasked.epoch(random.Random(1))[:64])["input_ids"]
    for seed in (0, 1, 2):
        collator.generator = torch.Generator().manual_seed(seed)
        hf_inputs, hf_labels = collator.torch_mask_tokens(ids.clone())
        special = torch.isin(ids, torch.tensor(sorted(tok.special_ids)))
        inputs, labels = mask_tokens(ids, special, torch.Generator().manual_seed(seed), len(hf), tok.mask_id, 0.15)
        assert torch.equal(inputs, hf_inputs) and torch.equal(labels, hf_labels)


def test_mlm_masking_statistics(bert):
    batches = _take(bert.train_batches(), 60)
    chosen = masked = kept = candidates = 0
    for b in batches:
        labels, inputs = b["labels"], b["input_ids"]
        is_label = labels != -100
        specials = torch.isin(torch.where(is_label, labels, inputs), torch.tensor(sorted(bert.tokenizer.special_ids)))
        assert not (is_label & specials).any()  # never a special token
        candidates += int((~specials).sum())
        chosen += int(is_label.sum())
        masked += int((inputs[is_label] == bert.tokenizer.mask_id).sum())
        kept += int((inputs[is_label] == labels[is_label]).sum())
    assert abs(chosen / candidates - 0.15) < 0.015
    assert abs(masked / chosen - 0.8) < 0.04 and abs(kept / chosen - 0.1) < 0.03


def test_masked_lm_alone_gives_single_segments():
    p = _prepared("bert", "train.seq_len=48", "model.head.nsp=null", "batching.type=segments")
    assert p.stats["batching"] == "segments"
    batch = next(p.train_batches())
    assert "token_type_ids" not in batch and "next_sentence_label" not in batch
    original = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])
    for row, m in zip(original, batch["attention_mask"]):
        n = int(m.sum())
        assert row[0] == p.tokenizer.cls_id and row[n - 1] == p.tokenizer.sep_id
        assert int((row[:n] == p.tokenizer.sep_id).sum()) == 1


# -- ELMo


def test_bilm_batches_have_words_and_matching_char_ids(elmo):
    tok = elmo.tokenizer
    batch = next(elmo.train_batches())
    ids, mask, char_ids, labels = batch["input_ids"], batch["attention_mask"], batch["char_ids"], batch["labels"]
    assert char_ids.shape == (*ids.shape, 50) and ids.shape[1] <= 12
    for r in range(ids.shape[0]):
        n = int(mask[r].sum())
        words = [tok.id_to_token(i) for i in ids[r, :n].tolist()]
        assert words[0] == chars.BOS_WORD and words[-1] == chars.EOS_WORD and chars.EOS_WORD not in words[1:-1]
        assert char_ids[r, :n].tolist() == chars.char_ids(words, 50)
        assert char_ids[r, n:].eq(0).all() and labels[r, n:].eq(-100).all()
        assert torch.equal(labels[r, :n], ids[r, :n])
    words = elmo.eval_word_counts()
    assert sum(words) == elmo.heldout_word_count() > 0


def test_bilm_windows_cover_long_sentences(elmo):
    lengths = [len(w) for _, w in elmo._train.windows]
    assert max(lengths) == 10  # seq_len 12 = <S> + 10 words + </S>
    total = sum(len(s.split()) for d in elmo._train.windows for s in [" ".join(d[1])])
    assert total == elmo.stats["train_words"]
