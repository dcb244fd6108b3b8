"""Data components: the embedded generated corpus, text files, JSON lines and HF datasets.

Each ``build(params, ctx=None)`` returns a ``plmkit.data.sources.Source``. Relative paths are
relative to the recipe file's folder when the recipe was loaded from a file (``ctx.recipe.path``),
else to the working directory. No torch here.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from plmkit.registry import Params


class GeneratedParams(Params):
    """plmkit's embedded generated corpus: topical documents with known labels and log-probabilities."""

    documents: int = Field(6000, ge=2, description="number of documents to generate (at least 2: one is held out)")
    seed: int = Field(1234, ge=0, description="seed of the generator; the same seed gives the same text")


class TextParams(Params):
    """Plain UTF-8 text files; sentences split after . ! ? followed by white space."""

    paths: list[str] = Field(min_length=1, description="files or glob patterns, relative to the recipe's folder")
    split: Literal["blank_line", "file"] = Field(
        "blank_line", description="a document per blank-line-separated block, or one per file"
    )


class JsonlParams(Params):
    """JSON lines: one document per line, its text (a string or a list of sentences) in one field."""

    paths: list[str] = Field(min_length=1, description="files or glob patterns, relative to the recipe's folder")
    field: str = Field("text", min_length=1, description="the key holding each document's text")


class HFDatasetParams(Params):
    """A Hugging Face dataset (needs `pip install datasets`), streamed; local files via data_files."""

    name_or_path: str = Field(min_length=1, description="dataset name, local folder, or a builder such as json / text")
    split: str = Field("train", description="which split to read")
    field: str = Field("text", min_length=1, description="the column holding each document's text")
    data_files: Optional[list[str]] = Field(None, description="data files for builders such as json / text")


def build_generated(params: GeneratedParams, ctx=None):
    from plmkit.data.sources import GeneratedSource

    return GeneratedSource(params.documents, params.seed)


def build_text(params: TextParams, ctx=None):
    from plmkit.data.sources import TextSource, base_dir, resolve_paths

    return TextSource(resolve_paths(params.paths, base_dir(ctx)), params.split)


def build_jsonl(params: JsonlParams, ctx=None):
    from plmkit.data.sources import JsonlSource, base_dir, resolve_paths

    return JsonlSource(resolve_paths(params.paths, base_dir(ctx)), params.field)


def build_hf_dataset(params: HFDatasetParams, ctx=None):
    from plmkit.data.sources import HFDatasetSource, base_dir, resolve_paths

    files = [str(p) for p in resolve_paths(params.data_files, base_dir(ctx))] if params.data_files else None
    return HFDatasetSource(params.name_or_path, params.split, params.field, files)


def register(register):
    register("data", "generated", GeneratedParams, build_generated)
    register("data", "text", TextParams, build_text)
    register("data", "jsonl", JsonlParams, build_jsonl)
    register("data", "hf_dataset", HFDatasetParams, build_hf_dataset)
