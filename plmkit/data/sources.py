"""Where documents come from: the embedded generated corpus, text files, JSON lines, HF datasets.

A ``Source`` yields documents, each a list of sentence strings, one at a time: nothing reads a
whole corpus into memory. ``describe()`` says in one line what the source is. Problems with the
data raise ``plmkit.errors.DataError`` with one line that says what to change.

Sentence splitting for plain text (``split_sentences``): a block's lines are joined with single
spaces and split after ".", "!" or "?" followed by white space.

Bounds, so that no file can exhaust memory: a line (of a text or jsonl file) is read only up to
``MAX_LINE_BYTES`` and a longer one is a DataError naming the file and line; a document is at most
``MAX_DOCUMENT_CHARS`` characters: a longer one (a text block or file, a jsonl or dataset record)
is split at sentence boundaries into consecutive documents, and a single sentence that long is a
DataError. A JSON line may nest at most ``MAX_JSON_DEPTH`` levels.
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
    "bounded",
    "as_sentences",
    "MAX_LINE_BYTES",
    "MAX_DOCUMENT_CHARS",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

#: The longest line read from a text or jsonl file (a longer one is a DataError).
MAX_LINE_BYTES = 8 * 1024 * 1024
#: The longest document; a longer one is split into consecutive documents at sentence ends.
MAX_DOCUMENT_CHARS = 1024 * 1024


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
    """(line number, text) of a UTF-8 file, each line at most ``MAX_LINE_BYTES``; a bad byte or a
    longer line is a DataError naming the file and line. Nothing longer is ever held in memory."""
    offset = 0
    try:
        handle = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    with handle:
        for number in itertools.count(1):
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{path}:{number}: a line longer than {_mib(MAX_LINE_BYTES)}; plmkit reads lines of "
                                f"at most {_mib(MAX_LINE_BYTES)}: break the text into lines")
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}: not UTF-8 at byte offset {offset + e.start} (line {number}); "
                    f"convert the file to UTF-8 (e.g. iconv -t utf-8)"
                ) from None
            offset += len(raw)


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def bounded(sentences: list[str], where: str) -> Iterator[list[str]]:
    """A document as documents of at most ``MAX_DOCUMENT_CHARS`` characters, split between sentences."""
    piece: list[str] = []
    size = 0
    for sentence in sentences:
        if len(sentence) > MAX_DOCUMENT_CHARS:
            raise DataError(f"{where}: a sentence of {len(sentence):,} characters (longer than "
                            f"{_mib(MAX_DOCUMENT_CHARS)}); end sentences with . ! or ? followed by a space")
        if piece and size + len(sentence) > MAX_DOCUMENT_CHARS:
            yield piece
            piece, size = [], 0
        piece.append(sentence)
        size += len(sentence) + 1
    if piece:
        yield piece


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
            size, first = 0, 1
            for number, line in _lines(path):
                if self.split == "blank_line" and not line.strip():
                    yield from self._block(block, path, first)
                    block, size, first = [], 0, number + 1
                elif line.strip():
                    if block and size + len(line) > MAX_DOCUMENT_CHARS:  # never hold more than one document
                        yield from self._block(block, path, first)
                        block, size, first = [], 0, number
                    block.append(line)
                    size += len(line)
            yield from self._block(block, path, first)

    @staticmethod
    def _block(lines: list[str], path: Path, first: int) -> Iterator[list[str]]:
        if lines:
            yield from bounded(split_sentences(" ".join(lines)), f"{path}:{first}")

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
                where = f"{path}:{number}"
                record = _parse_json(line, where)
                if not isinstance(record, dict) or self.field not in record:
                    raise DataError(f"{where}: no field {self.field!r}; set data.field to the key holding the text")
                yield from bounded(as_sentences(record[self.field], where, self.field), where)

    def describe(self) -> str:
        return f"jsonl: {len(self.files)} file(s), text in field {self.field!r}"


def _parse_json(line: str, where: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not valid JSON ({e.msg}); each line must be one JSON object") from None
    except RecursionError:  # json.loads recurses per level of nesting
        raise DataError(f"{where}: JSON nested too deeply; a record is an object with a text field") from None


def as_sentences(value: object, where: str, field: str = "text") -> list[str]:
    """A record's text as sentences: a string is split; a list of strings is taken as its sentences.
    Anything else (a number, an object, null, a list holding other things) is a DataError."""
    if isinstance(value, str):
        return split_sentences(value)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return [" ".join(s.split()) for s in value if s.strip()]
    found = "a list holding non-text items" if isinstance(value, list) else _json_kind(value)
    raise DataError(f"{where}: field {field!r} holds {found}; expected a string or a list of strings")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return "an object" if isinstance(value, dict) else type(value).__name__


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
            where = f"{self.name_or_path} ({self.split}) row {number}"
            yield from bounded(as_sentences(row[self.field], where, self.field), where)

    def describe(self) -> str:
        return f"hf_dataset: {self.name_or_path} split {self.split!r}, field {self.field!r}"
