"""Data sources: what each reads, and the one-line DataError each bad input gives."""

import json
import sys
from types import SimpleNamespace

import pytest

from plmkit.components.data import sources as components
from plmkit.data.corpus import generate
from plmkit.data.sources import split_sentences
from plmkit.errors import DataError, EnvironmentProblem


def _build(name, ctx=None, **params):
    registered = {}
    components.register(lambda kind, n, cls, build, description="": registered.__setitem__(n, (kind, cls, build)))
    kind, cls, build = registered[name]
    assert kind == "data"
    return build(cls(**params), ctx)


def _ctx(folder):
    """What a component gets from a recipe loaded from ``folder/recipe.yaml``."""
    return SimpleNamespace(recipe=SimpleNamespace(path=folder / "recipe.yaml"))


def test_every_data_component_is_registered_with_described_params():
    registered = {}
    components.register(lambda kind, n, cls, build, description="": registered.__setitem__(n, cls))
    assert set(registered) == {"generated", "text", "jsonl", "hf_dataset"}
    for cls in registered.values():
        assert cls.__doc__ and all(f.description for f in cls.model_fields.values())


def test_generated_source_streams_the_corpus_with_labels():
    source = _build("generated", documents=12, seed=5)
    docs = list(source.documents())
    corpus = list(source.corpus())
    assert len(docs) == 12 and docs == [[s.text for s in d.sentences] for d in corpus]
    assert [d.text for d in corpus] == [d.text for d in generate(12, seed=5)]
    assert corpus[3].sentences[0].tags and corpus[3].topic
    assert "12 documents" in source.describe() and "seed 5" in source.describe()


def test_split_sentences():
    assert split_sentences("One two.  Three?\nFour! five") == ["One two.", "Three?", "Four!", "five"]
    assert split_sentences("the dog sleeps . the cat runs .") == ["the dog sleeps .", "the cat runs ."]


def test_text_blank_line_and_file_splits_relative_to_the_recipe(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("First one. Second\none.\n\n\nNext doc here.\n", encoding="utf-8")
    (tmp_path / "data" / "b.txt").write_text("Only doc of b.\n", encoding="utf-8")
    blocks = list(_build("text", _ctx(tmp_path), paths=["data/*.txt"]).documents())
    assert blocks == [["First one.", "Second one."], ["Next doc here."], ["Only doc of b."]]
    files = _build("text", _ctx(tmp_path), paths=["data/a.txt", "data/b.txt"], split="file")
    assert list(files.documents()) == [["First one.", "Second one.", "Next doc here."], ["Only doc of b."]]
    assert "2 file(s)" in files.describe()


def test_text_relative_to_cwd_without_a_recipe_path(tmp_path, monkeypatch):
    (tmp_path / "c.txt").write_text("Hello there.\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert list(_build("text", None, paths=["c.txt"]).documents()) == [["Hello there."]]


def test_glob_matching_nothing_names_the_pattern(tmp_path):
    with pytest.raises(DataError) as err:
        _build("text", _ctx(tmp_path), paths=["nowhere/*.txt"])
    assert "'nowhere/*.txt'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="missing.txt"):
        _build("jsonl", _ctx(tmp_path), paths=["missing.txt"])


def test_non_utf8_names_file_and_byte_offset(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"fine line\nab\xff\xfecd\n")
    source = _build("text", _ctx(tmp_path), paths=["bad.txt"])
    with pytest.raises(DataError) as err:
        list(source.documents())
    message = str(err.value)
    assert "bad.txt" in message and "byte offset 12" in message and "\n" not in message


def test_empty_corpus_is_a_data_error(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n   \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        list(_build("text", _ctx(tmp_path), paths=["empty.txt"]).documents())


def test_jsonl_reads_strings_and_sentence_lists(tmp_path):
    rows = [{"text": "A first. A second."}, {"body": "x", "text": ["one", "two "]}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    source = _build("jsonl", _ctx(tmp_path), paths=["d.jsonl"])
    assert list(source.documents()) == [["A first.", "A second."], ["one", "two"]]


def test_jsonl_line_without_the_field_names_file_and_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "ok."}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(_build("jsonl", _ctx(tmp_path), paths=["d.jsonl"]).documents())
    assert "d.jsonl:2" in str(err.value) and "'text'" in str(err.value)
    (tmp_path / "e.jsonl").write_text('{"text": "ok."}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match="e.jsonl:2"):
        list(_build("jsonl", _ctx(tmp_path), paths=["e.jsonl"]).documents())


def test_hf_dataset_reads_a_local_json_file(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    rows = [{"text": "Doc one. Still one."}, {"text": "Doc two."}]
    (tmp_path / "d.json").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    source = _build("hf_dataset", _ctx(tmp_path), name_or_path="json", data_files=["d.json"])
    assert list(source.documents()) == [["Doc one.", "Still one."], ["Doc two."]]
    missing = _build("hf_dataset", _ctx(tmp_path), name_or_path="json", data_files=["d.json"], field="body")
    with pytest.raises(DataError, match="'body'"):
        list(missing.documents())


def test_hf_dataset_without_the_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # what `import datasets` sees when it is absent
    source = _build("hf_dataset", _ctx(tmp_path), name_or_path="json")
    with pytest.raises(EnvironmentProblem, match="pip install datasets"):
        list(source.documents())
