"""Data files are read in bounded pieces: an endless line is refused after reading a bounded part
of it, a huge document becomes several, and a jsonl record that holds no text says so."""

from __future__ import annotations

import json

import pytest

from plmkit.data.sources import MAX_DOCUMENT_CHARS, MAX_LINE_BYTES, JsonlSource, TextSource
from plmkit.errors import DataError

from tiny import peak_rss


def documents(source):
    return list(source.documents())


def test_a_line_longer_than_the_bound_is_refused_without_holding_it(tmp_path):
    path = tmp_path / "one-line.txt"
    with open(path, "wb") as f:  # 40 MiB without a newline (the 10 MB line took 4 GB)
        for _ in range(40):
            f.write(b"word " * (1024 * 1024 // 5))
    before = peak_rss()
    with pytest.raises(DataError) as info:
        documents(TextSource([path]))
    assert str(info.value) == (f"{path}:1: a line longer than 8 MiB; plmkit reads lines of at most 8 MiB: "
                               f"break the text into lines")
    assert peak_rss() - before < 64 * 2**20


def test_a_long_document_becomes_several_and_a_sentence_without_end_is_refused(tmp_path):
    sentence = "the farmer sees a dog near the old barn ."
    path = tmp_path / "big.txt"
    path.write_text("\n".join([sentence] * (3 * MAX_DOCUMENT_CHARS // len(sentence))) + "\n\nshort one .\n")
    docs = documents(TextSource([path]))
    assert len(docs) >= 4 and docs[-1] == ["short one ."]
    assert all(sum(len(s) + 1 for s in doc) <= MAX_DOCUMENT_CHARS + 1 for doc in docs)
    assert sum(len(doc) for doc in docs[:-1]) == 3 * MAX_DOCUMENT_CHARS // len(sentence)  # nothing lost
    (tmp_path / "endless.txt").write_text(("word " * (MAX_DOCUMENT_CHARS // 4)) + "\n")
    with pytest.raises(DataError, match=r"endless.txt:1: a sentence of 1,310,719 characters"):
        documents(TextSource([tmp_path / "endless.txt"]))


@pytest.mark.parametrize("value, found", [
    (42, "the number 42"), (1.5, "the number 1.5"), ({"a": "b"}, "an object"), (None, "null"), (True, "true/false"),
    ([1, 2], "a list holding non-text items"), (["ok", ["nested"]], "a list holding non-text items"),
])
def test_a_jsonl_record_without_text_is_an_error_not_silently_dropped(tmp_path, value, found):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "fine."}) + "\n" + json.dumps({"text": value}) + "\n")
    with pytest.raises(DataError) as info:
        documents(JsonlSource([path]))
    assert str(info.value) == f"{path}:2: field 'text' holds {found}; expected a string or a list of strings"


def test_deeply_nested_json_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(DataError) as info:
        documents(JsonlSource([path]))
    assert str(info.value).startswith(f"{path}:1: ") and "\n" not in str(info.value)


def test_a_long_jsonl_text_is_split_like_a_text_document(tmp_path):
    path = tmp_path / "d.jsonl"
    text = "a cat sat on the mat . " * (MAX_DOCUMENT_CHARS // 10)
    path.write_text(json.dumps({"text": text}) + "\n")
    docs = documents(JsonlSource([path]))
    assert len(docs) >= 2 and sum(len(d) for d in docs) == MAX_DOCUMENT_CHARS // 10
    assert MAX_LINE_BYTES > len(text)
