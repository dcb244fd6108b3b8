"""Tokenizers: trained with the ``tokenizers`` library and saved as its standard tokenizer.json.

Kinds (special tokens first, in id order):

* ``wordpiece`` (BERT): [PAD]=0 [UNK] [CLS] [SEP] [MASK]; lowercased; BERT normaliser and
  pre-tokeniser; "##" continuations; a [CLS] A [SEP] B [SEP] post-processor for other tools.
* ``byte_bpe`` (GPT-2): byte-level BPE, every word with its leading space (add_prefix_space), so
  a word is tokenised the same at the start of a document; ``<|endoftext|>``=0 separates
  documents and also serves as padding (bos = eos = pad).
* ``word`` (ELMo): whole words split on white space, case kept: <PAD>=0 <S>=1 </S>=2 <UNK>=3,
  then words by descending frequency (bilm-tf's order); ``char_ids`` gives the character input.

``Tokenizer.encode`` never adds special tokens: the batcher (``batching.py``) places them.
``save(dir)`` writes ``tokenizer.json`` and ``plmkit_tokenizer.json`` ({"kind": ...});
``Tokenizer.load`` reads a folder or a tokenizer.json made by any tool.

A tokenizer component's builder is ``build(params, ctx=None, texts=None)``: ``texts`` iterates
over the training documents' text (once); components that load a file ignore it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = [
    "Tokenizer", "train_wordpiece", "train_byte_bpe", "train_word", "read_vocab_size", "SPECIALS",
    "word_ends", "word_last_tokens",
]

METADATA = "plmkit_tokenizer.json"

#: role -> token, per kind; the first of these are the special tokens in id order
SPECIALS: dict[str, dict[str, str]] = {
    "wordpiece": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
    "byte_bpe": {"pad": "<|endoftext|>", "bos": "<|endoftext|>", "eos": "<|endoftext|>"},
    "word": {"pad": "<PAD>", "bos": "<S>", "eos": "</S>", "unk": "<UNK>"},
}
_MODEL_KINDS = {"WordPiece": "wordpiece", "BPE": "byte_bpe", "WordLevel": "word"}
ROLES = ("pad", "unk", "cls", "sep", "mask", "bos", "eos")


class Tokenizer:
    """A trained ``tokenizers.Tokenizer`` plus what plmkit needs: its kind and special ids."""

    def __init__(self, backend, kind: str):
        self.backend, self.kind = backend, kind
        specials = SPECIALS.get(kind) or _guess_specials(backend)
        for role in ROLES:
            token = specials.get(role)
            setattr(self, f"{role}_id", backend.token_to_id(token) if token else None)
        if self.pad_id is None:  # a pretrained file without a known pad token: pad with id 0
            self.pad_id = 0
        added = {t.content for t in backend.get_added_tokens_decoder().values() if t.special}
        ids = {backend.token_to_id(t) for t in set(specials.values()) | added}
        self.special_ids: frozenset[int] = frozenset(i for i in ids if i is not None)

    # -- sizes and conversions
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def token_to_id(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def id_to_token(self, index: int) -> str | None:
        return self.backend.id_to_token(index)

    def encode(self, text: str) -> list[int]:
        """Token ids of a text, no special tokens added."""
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def encodings(self, texts: list[str]):
        """The library's ``Encoding`` objects (ids and character offsets) of many texts."""
        return self.backend.encode_batch(texts, add_special_tokens=False)

    def token_text(self, index: int) -> str:
        """How one token reads: its bytes decoded for byte-level BPE, its vocabulary entry otherwise."""
        if self.kind == "byte_bpe":
            return self.backend.decode([index], skip_special_tokens=False)
        return self.backend.id_to_token(index) or ""

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        text = self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)
        return text[1:] if self.kind == "byte_bpe" and text.startswith(" ") else text  # the prefix space

    # -- word tokenizers (ELMo)
    def words(self, text: str) -> list[str]:
        return text.split()

    def char_ids(self, words: list[str], max_chars: int = 50) -> list[list[int]]:
        """Character ids (1..261, allennlp's convention) of each word, from ``plmkit.data.chars``."""
        from .chars import char_ids

        return char_ids(words, max_chars)

    # -- files
    def save(self, directory) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / "tokenizer.json"))
        (directory / METADATA).write_text(json.dumps({"kind": self.kind}) + "\n")
        return directory / "tokenizer.json"

    @classmethod
    def load(cls, path) -> "Tokenizer":
        """From a folder holding tokenizer.json (and plmkit's metadata), or a tokenizer.json file."""
        from tokenizers import Tokenizer as Backend

        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            backend = Backend.from_file(str(file))
        except Exception as exc:  # the library raises a bare Exception for a malformed file
            from ..errors import DataError

            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"tokenizer.path: {file} is not a tokenizer.json the tokenizers library can read "
                            f"({reason})") from None
        meta = file.parent / METADATA
        kind = json.loads(meta.read_text())["kind"] if meta.exists() else _kind_of(file)
        return cls(backend, kind)

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size})"


_WORD = re.compile(r"\S+")


def word_last_tokens(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """For each whitespace word of ``text``, the index of the token holding its last character."""
    if not offsets:
        return []
    starts = np.array([o[0] for o in offsets])
    ends = [m.end() for m in _WORD.finditer(text)]
    return [int(i) for i in np.maximum(np.searchsorted(starts, ends, side="left") - 1, 0)]


def word_ends(text: str, offsets: list[tuple[int, int]]) -> np.ndarray:
    """Per token, how many whitespace words of ``text`` end in it (their last character's token)."""
    return np.bincount(np.asarray(word_last_tokens(text, offsets), dtype=np.int64), minlength=len(offsets))


def _kind_of(file: Path) -> str:
    model = json.loads(Path(file).read_text(encoding="utf-8")).get("model", {})
    return _MODEL_KINDS.get(model.get("type"), "other")


def _guess_specials(backend) -> dict[str, str]:
    """Roles of a foreign tokenizer's special tokens, by their usual spellings."""
    spellings = {
        "pad": ("[PAD]", "<pad>", "<PAD>", "<|endoftext|>"), "unk": ("[UNK]", "<unk>", "<UNK>"),
        "cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "mask": ("[MASK]", "<mask>"),
        "bos": ("<s>", "<S>", "<|endoftext|>"), "eos": ("</s>", "</S>", "<|endoftext|>"),
    }
    return {role: next((t for t in names if backend.token_to_id(t) is not None), None)
            for role, names in spellings.items()}


def read_vocab_size(file) -> int:
    """Vocabulary size of a tokenizer.json (largest id + 1), read as JSON without ``tokenizers``."""
    data = json.loads(Path(file).read_text(encoding="utf-8"))
    vocab = data.get("model", {}).get("vocab", {})
    ids = list(vocab.values()) if isinstance(vocab, dict) else list(range(len(vocab)))
    ids += [t["id"] for t in data.get("added_tokens", [])]
    return max(ids) + 1 if ids else 0


# ---------------------------------------------------------------------------------------------
# Training


def train_wordpiece(texts: Iterable[str], vocab_size: int, min_frequency: int = 2, lowercase: bool = True) -> Tokenizer:
    """BERT's WordPiece, trained on ``texts`` (the same result on every run).

    ``tokenizers``' WordPieceTrainer numbers the "##" continuation symbols in hash order, so ties
    between merges go differently from run to run. Here the same BPE learning runs with each
    continuation character written as a private-use character of its own, an alphabet the
    trainer sorts, and the pieces are renamed back ("##" + piece) afterwards.
    """
    from tokenizers import Tokenizer as Backend, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = list(SPECIALS["wordpiece"].values())
    backend = Backend(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)))
    marked = Counter({w[0] + "".join(map(_continuation, w[1:])): c for w, c in counts.items()})
    bpe = Backend(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=max(vocab_size - len(specials), 1), min_frequency=min_frequency,
                                  initial_alphabet=sorted({ch for w in marked for ch in w}), show_progress=False)
    bpe.train_from_iterator(_repeat(marked), trainer)
    pieces = sorted(_unmark(t) for t in bpe.get_vocab())
    backend.model = models.WordPiece({t: i for i, t in enumerate(specials + pieces)}, unk_token="[UNK]")
    backend.add_special_tokens(specials)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return Tokenizer(backend, "wordpiece")


_PRIVATE = 0xF0000  # Unicode plane 15, private use: one continuation character per BMP character


def _continuation(ch: str) -> str:
    return chr(_PRIVATE + ord(ch)) if ord(ch) < 0xFFFE else ch


def _unmark(token: str) -> str:
    """A BPE token of marked text back to a WordPiece piece ("##" for a continuation)."""
    plain = "".join(chr(ord(c) - _PRIVATE) if ord(c) >= _PRIVATE else c for c in token)
    return "##" + plain if ord(token[0]) >= _PRIVATE else plain


def _repeat(counts: Counter, per_line: int = 1000) -> Iterable[str]:
    """Each word as often as it occurs, a thousand to a line (what the trainer counts)."""
    for word, count in sorted(counts.items()):
        for start in range(0, count, per_line):
            yield " ".join([word] * min(per_line, count - start))


def train_byte_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """GPT-2's byte-level BPE, trained on ``texts``; ``<|endoftext|>`` is id 0."""
    from tokenizers import Tokenizer as Backend, decoders, models, pre_tokenizers, trainers

    backend = Backend(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(texts, trainer)
    return Tokenizer(backend, "byte_bpe")


def train_word(texts: Iterable[str], vocab_size: int, min_frequency: int = 1) -> Tokenizer:
    """A word vocabulary: <PAD> <S> </S> <UNK>, then words by descending frequency (ties: a-z)."""
    from tokenizers import Tokenizer as Backend, models, pre_tokenizers

    counts = Counter(word for text in texts for word in text.split())
    specials = list(dict.fromkeys(SPECIALS["word"][r] for r in ("pad", "bos", "eos", "unk")))
    ranked = sorted((w for w, c in counts.items() if c >= min_frequency and w not in specials),
                    key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate(specials + ranked[: max(0, vocab_size - len(specials))])}
    backend = Backend(models.WordLevel(vocab, unk_token="<UNK>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(specials)
    return Tokenizer(backend, "word")
