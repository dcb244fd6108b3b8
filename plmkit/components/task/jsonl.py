"""``jsonl``: a user's own labelled JSON Lines file as a probe task (classification or tagging).

One JSON object per line::

    {"text": "the film was not good", "label": "negative"}                  classification
    {"text": "the dog runs", "tags": ["DET", "NOUN", "VERB"]}                tagging: a tag per word
    optional on any line: "split": "train" | "dev" | "test"

Words are the text's whitespace-separated words. Without ``split``, line k goes to train, dev or
test as corpus documents do (6 / 1 / 3 in every 10). ``plmkit compare ... --tasks reviews.jsonl``
runs the file as task ``reviews``; ``kind`` is read from the first line unless given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from plmkit.params import TaskParams


class JsonlTaskParams(TaskParams):
    """Your labelled JSON Lines file: {"text", "label"} per line (classification) or {"text", "tags"} (tagging)."""

    measure: ClassVar[str] = "probe"

    path: str = Field(min_length=1, description="the .jsonl file (relative to the working folder)")
    kind: Literal["auto", "classification", "tagging"] = Field(
        "auto", description="classification (a label per text) or tagging (a tag per word); auto: from the first line")

    @model_validator(mode="before")
    @classmethod
    def _kind_from_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind", "auto") == "auto" and isinstance(data.get("path"), str):
            data = {**data, "kind": _detect(Path(data["path"]))}
        return data

    @property
    def read(self) -> str:  # type: ignore[override]  # per file, not per class
        return "words" if self.kind == "tagging" else "text"


def _detect(path: Path) -> str:
    if not path.is_file():
        raise ValueError(f"{path}: no such file; give a JSON Lines file of labelled texts")
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:1: not JSON ({exc.msg})") from None
                return "tagging" if isinstance(record, dict) and "tags" in record else "classification"
    raise ValueError(f"{path}: the file is empty")


class JsonlTask:
    def __init__(self, params: JsonlTaskParams, base: Path):
        self.params = params
        self.path = Path(params.path) if Path(params.path).is_absolute() else base / params.path

    def examples(self, corpus=None):
        from plmkit.errors import DataError, Problem
        from plmkit.evaluation.tasks import Examples, SPLITS, split_of

        tagging = self.params.kind == "tagging"
        texts, raw, split, problems = [], [], [], []
        for k, (number, record) in enumerate(_records(self.path)):
            problem = _check(record, tagging)
            if problem:
                problems.append(Problem(*problem, where=f"{self.path}:{number}"))
                continue
            part = record.get("split", split_of(k))
            if part not in SPLITS:
                problems.append(Problem("split", f"expected one of train, dev, test, got {part!r}", f"{self.path}:{number}"))
                continue
            texts.append(record["text"])
            raw.append(record["tags"] if tagging else record["label"])
            split.append(part)
        if problems:
            raise DataError(problems=problems[:20])
        if "test" not in split or not {"train", "dev"} & set(split):
            raise DataError(f"{self.path}: needs training and test examples (got {len(texts)} lines, splits: "
                            f"{', '.join(sorted(set(split))) or 'none'})")
        names = sorted({t for r in raw for t in (r if tagging else [r])}, key=str)
        index = {n: i for i, n in enumerate(names)}
        labels = [[index[t] for t in r] if tagging else index[r] for r in raw]
        return Examples(texts, labels, [str(n) for n in names], split)


def _records(path: Path):
    from plmkit.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not JSON ({exc.msg} at column {exc.colno})") from None


def _check(record: Any, tagging: bool) -> tuple[str, str] | None:
    """(key, what is wrong) with one record, or None."""
    if not isinstance(record, dict):
        return "", f"expected a JSON object, got {type(record).__name__}"
    text = record.get("text")
    if not isinstance(text, str) or not text.split():
        return "text", f"expected a non-empty string, got {text!r}"[:100]
    if not tagging:
        label = record.get("label")
        return None if isinstance(label, (str, int, bool)) else ("label", f"expected a string or integer, got {label!r}"[:100])
    tags = record.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, (str, int)) for t in tags):
        return "tags", f"expected a list of tags, one per word, got {tags!r}"[:100]
    words = len(text.split())
    return None if len(tags) == words else ("tags", f"expected {words} tags (one per word of the text), got {len(tags)}")


def register(register):
    register("task", "jsonl", JsonlTaskParams, lambda params, ctx=None: JsonlTask(params, ctx.base if ctx else Path.cwd()))
