"""Tokenizer components: wordpiece (BERT), byte_bpe (GPT-2), word (ELMo), pretrained (a tokenizer.json).

``build(params, ctx=None, texts=None)`` returns a ``plmkit.data.tokenize.Tokenizer``: the trainable
kinds train on ``texts`` (an iterable of the training documents' text), ``pretrained`` loads its
file. Every params class has ``vocab_size``, the size the model is counted with before training
(a trained vocabulary can come out smaller on a small corpus). No torch or tokenizers import here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from plmkit.params import TokenizerParams


class WordPieceParams(TokenizerParams):
    """BERT WordPiece: [PAD] [UNK] [CLS] [SEP] [MASK], lowercased, ## continuations."""

    special_tokens: ClassVar[frozenset[str] | None] = frozenset({"pad", "unk", "cls", "sep", "mask"})

    vocab_size: int = Field(4000, ge=32, description="target vocabulary size, special tokens included")
    min_frequency: int = Field(2, ge=1, description="a merge must occur at least this often in the training text")
    lowercase: bool = Field(True, description="lowercase the text before tokenizing (BERT uncased)")


class ByteBPEParams(TokenizerParams):
    """GPT-2 byte-level BPE; <|endoftext|> separates documents and pads."""

    special_tokens: ClassVar[frozenset[str] | None] = frozenset({"pad", "bos", "eos"})

    vocab_size: int = Field(4000, ge=257, description="target vocabulary size: 256 bytes + <|endoftext|> + merges")
    min_frequency: int = Field(2, ge=1, description="a merge must occur at least this often in the training text")


class WordParams(TokenizerParams):
    """ELMo word vocabulary for the softmax: <PAD> <S> </S> <UNK>, then words by frequency; chars for input."""

    special_tokens: ClassVar[frozenset[str] | None] = frozenset({"pad", "bos", "eos", "unk"})
    one_id_per_word: ClassVar[bool] = True  # bidirectional_lm needs whole words

    vocab_size: int = Field(4000, ge=5, description="most frequent words kept, special tokens included")
    min_frequency: int = Field(1, ge=1, description="words seen fewer times map to <UNK>")


class PretrainedParams(TokenizerParams):
    """An existing tokenizer.json (any tool's); its vocabulary size is read from the file."""

    path: str = Field(min_length=1, description="tokenizer.json, or a folder holding one; relative to the recipe's folder")
    _file: Any = PrivateAttr(default=None)

    def file(self, base: Path | None = None) -> Path:
        """The tokenizer.json this names, ``path`` taken relative to ``base`` (default: the recipe's folder)."""
        if base is None and self._file is not None:
            return self._file
        path = Path(self.path)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return path / "tokenizer.json" if path.is_dir() else path

    def expected_vocab_size(self) -> int:
        from plmkit.data.tokenize import read_vocab_size

        return read_vocab_size(self.file())

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        base = Path(recipe.path).resolve().parent if getattr(recipe, "path", None) else Path.cwd()
        file = self.file(base)
        if not file.is_file():
            return [(f"{key}.path", f"no tokenizer file {self.path!r} (looked for {file}); "
                     f"give the path of a tokenizer.json or of a folder holding one")]
        self._file = file  # so vocab_size reads the file the recipe means
        return []


def _texts(texts, name: str):
    if texts is None:
        raise ValueError(f"the {name} tokenizer trains on the corpus: call build(params, ctx, texts=...)")
    return texts


def build_wordpiece(params: WordPieceParams, ctx=None, texts=None):
    from plmkit.data.tokenize import train_wordpiece

    return train_wordpiece(_texts(texts, "wordpiece"), params.vocab_size, params.min_frequency, params.lowercase)


def build_byte_bpe(params: ByteBPEParams, ctx=None, texts=None):
    from plmkit.data.tokenize import train_byte_bpe

    return train_byte_bpe(_texts(texts, "byte_bpe"), params.vocab_size, params.min_frequency)


def build_word(params: WordParams, ctx=None, texts=None):
    from plmkit.data.tokenize import train_word

    return train_word(_texts(texts, "word"), params.vocab_size, params.min_frequency)


def build_pretrained(params: PretrainedParams, ctx=None, texts=None):
    from plmkit.data.sources import base_dir
    from plmkit.data.tokenize import Tokenizer
    from plmkit.errors import DataError

    file = params.file(base_dir(ctx) if ctx is not None else None)
    if not file.is_file():
        raise DataError(f"tokenizer.path: no tokenizer file {params.path!r} (looked for {file})")
    return Tokenizer.load(file)


def register(register):
    register("tokenizer", "wordpiece", WordPieceParams, build_wordpiece)
    register("tokenizer", "byte_bpe", ByteBPEParams, build_byte_bpe)
    register("tokenizer", "word", WordParams, build_word)
    register("tokenizer", "pretrained", PretrainedParams, build_pretrained)
