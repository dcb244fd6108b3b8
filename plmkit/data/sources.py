"""Where documents come from: the embedded generated corpus, text files, JSON lines, HF datasets.

A ``Source`` yields documents, each a list of sentence strings, one at a time: nothing reads a
whole corpus into memory. ``describe()`` says in one line what the source is. Problems with the
data raise ``plmkit.errors.DataError`` with one line that says what to change.

Sentence splitting for plain text (``split_sentences``): a block's lines are joined with single
spaces and split after ".", "!" or "?" followed by white space.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..errors import DataError, EnvironmentProblem
from .corpus import Document, generate

__all__ = [
    "Source",
    "GeneratedSource",
    "TextSource",
    "JsonlSource",
    "HFDatasetSource",
    "split_sentences",
    "resolve_paths",
    "base_dir",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: white space normalised, split after . ! ? followed by white space."""
    text = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(text) if s]


def base_dir(ctx=None) -> Path:
    """Folder that relative data paths are relative to: the recipe file's, else the working directory."""
    path = getattr(getattr(ctx, "recipe", None), "path", None)
    return Path(path).resolve().parent if path else Path.cwd()


def resolve_paths(patterns: list[str], base: Path) -> list[Path]:
    """Files named by paths or glob patterns (relative to ``base``), sorted within each pattern."""
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        if glob.has_magic(pattern):
            matches = sorted(Path(m) for m in glob.glob(full, recursive=True) if os.path.isfile(m))
            if not matches:
                raise DataError(f"data.paths: the pattern {pattern!r} matches no file (looked in {base})")
            files += matches
        elif os.path.isfile(full):
            files.append(Path(full))
        else:
            raise DataError(f"data.paths: no file {pattern!r} (looked for {full})")
    return files


class Source:
    """A stream of documents; subclasses implement ``documents`` and ``describe``."""

    def documents(self) -> Iterator[list[str]]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class GeneratedSource(Source):
    """plmkit's embedded generated corpus (``plmkit.data.corpus``)."""

    def __init__(self, documents: int, seed: int):
        self.n_documents, self.seed = documents, seed

    def corpus(self, start: int = 0, count: int | None = None) -> Iterator[Document]:
        """The labelled ``Document`` objects (topic, tags, sentiment, agreement, log-probs)."""
        count = self.n_documents - start if count is None else count
        return generate(count, self.seed, start=start)

    def documents(self) -> Iterator[list[str]]:
        for doc in self.corpus():
            yield [s.text for s in doc.sentences]

    def describe(self) -> str:
        return f"generated corpus: {self.n_documents} documents, seed {self.seed}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file; a bad byte is a DataError naming the file and offset."""
    offset = 0
    try:
        handle = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}: not UTF-8 at byte offset {offset + e.start} (line {number}); "
                    f"convert the file to UTF-8 (e.g. iconv -t utf-8)"
                ) from None
            offset += len(raw)


class _Checked(Source):
    """Raises a DataError when the source turns out to have no document."""

    def documents(self) -> Iterator[list[str]]:
        count = 0
        for doc in self._documents():
            count += 1
            yield doc
        if not count:
            raise DataError(f"the data is empty: {self.describe()} holds no text")

    def _documents(self) -> Iterator[list[str]]:
        raise NotImplementedError


class TextSource(_Checked):
    """Plain UTF-8 text files: a document per blank-line-separated block, or per file."""

    def __init__(self, files: list[Path], split: str = "blank_line"):
        self.files, self.split = files, split

    def _documents(self) -> Iterator[list[str]]:
        for path in self.files:
            block: list[str] = []
            for _, line in _lines(path):
                if self.split == "blank_line" and not line.strip():
                    if block:
                        yield split_sentences(" ".join(block))
                    block = []
                elif line.strip():
                    block.append(line)
            if block:
                yield split_sentences(" ".join(block))

    def describe(self) -> str:
        unit = "blank-line-separated block" if self.split == "blank_line" else "file"
        return f"text: {len(self.files)} file(s), a document per {unit}"


class JsonlSource(_Checked):
    """JSON lines: one document per line, its text (a string, or a list of sentences) in ``field``."""

    def __init__(self, files: list[Path], field: str = "text"):
        self.files, self.field = files, field

    def _documents(self) -> Iterator[list[str]]:
        for path in self.files:
            for number, line in _lines(path):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{number}: not valid JSON ({e.msg}); each line must be one JSON object") from None
                if not isinstance(record, dict) or self.field not in record:
                    raise DataError(f"{path}:{number}: no field {self.field!r}; set data.field to the key holding the text")
                doc = _as_sentences(record[self.field])
                if doc:
                    yield doc

    def describe(self) -> str:
        return f"jsonl: {len(self.files)} file(s), text in field {self.field!r}"


def _as_sentences(value) -> list[str]:
    """A field's value as sentences: a string is split; a list is taken as its sentences."""
    if isinstance(value, str):
        return split_sentences(value)
    if isinstance(value, list):
        return [" ".join(str(s).split()) for s in value if str(s).strip()]
    return []


class HFDatasetSource(_Checked):
    """A Hugging Face ``datasets`` dataset (streamed); ``datasets`` is imported only when read."""

    def __init__(self, name_or_path: str, split: str = "train", field: str = "text",
                 data_files: list[str] | None = None):
        self.name_or_path, self.split, self.field, self.data_files = name_or_path, split, field, data_files

    def _documents(self) -> Iterator[list[str]]:
        try:
            import datasets
        except ImportError:
            raise EnvironmentProblem(
                "the hf_dataset data source needs the 'datasets' package: pip install datasets"
            ) from None
        try:
            rows = iter(datasets.load_dataset(self.name_or_path, split=self.split, data_files=self.data_files,
                                              streaming=True))
            first = next(rows, None)
        except Exception as exc:  # hub lookups, bad splits, unreadable files: all the user's to fix
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"data.name_or_path: cannot load {self.name_or_path!r} (split {self.split!r}) "
                            f"with datasets.load_dataset: {reason[:300]}") from None
        rows = itertools.chain([first] if first is not None else [], rows)
        for number, row in enumerate(rows, start=1):
            if self.field not in row:
                raise DataError(f"{self.name_or_path} ({self.split}) row {number}: no field {self.field!r}; "
                                f"set data.field to one of {sorted(row)}")
            doc = _as_sentences(row[self.field])
            if doc:
                yield doc

    def describe(self) -> str:
        return f"hf_dataset: {self.name_or_path} split {self.split!r}, field {self.field!r}"
