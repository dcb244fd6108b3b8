"""ELMo character ids: each word becomes ``max_chars`` byte-level ids (allennlp's inference convention).

A word is its UTF-8 bytes (0-255, undecodable parts dropped), truncated to ``max_chars - 2`` and
wrapped in begin-of-word / end-of-word characters, then padded with the padding character:
``[258, b1 .. bn, 259, 260, 260, ...]``. The sentence boundaries ``<S>`` and ``</S>`` have rows of
their own, ``[258, 256, 259, 260, ...]`` and ``[258, 257, 259, 260, ...]``.

At inference allennlp adds 1 to every id (so ids run 1..261) and keeps 0 for padded *tokens*
(a whole row of zeros), which is why the character table has 262 rows, row 0 being zero. plmkit
uses that convention everywhere, training included. Padding *characters* inside a real word are
ordinary trained characters (id 261 after the shift). No torch here.
"""

from __future__ import annotations

__all__ = [
    "BOS_CHAR",
    "EOS_CHAR",
    "BOW_CHAR",
    "EOW_CHAR",
    "PAD_CHAR",
    "BOS_WORD",
    "EOS_WORD",
    "N_CHARACTERS",
    "PADDED_TOKEN_ID",
    "char_ids",
    "word_char_ids",
]

# Special characters before the +1 shift (bilm-tf's numbering).
BOS_CHAR = 256  # begin of sentence
EOS_CHAR = 257  # end of sentence
BOW_CHAR = 258  # begin of word
EOW_CHAR = 259  # end of word
PAD_CHAR = 260  # padding character inside a word's row

BOS_WORD = "<S>"
EOS_WORD = "</S>"

#: rows of the character table: 261 characters + the all-zero row of padded tokens
N_CHARACTERS = 262
#: every character id of a padded token (a position with no word)
PADDED_TOKEN_ID = 0


def _row(chars: list[int], max_chars: int) -> list[int]:
    """``[BOW, *chars, EOW, PAD, ...]`` of length ``max_chars``, shifted by +1."""
    row = [BOW_CHAR, *chars, EOW_CHAR] + [PAD_CHAR] * (max_chars - len(chars) - 2)
    return [c + 1 for c in row]


def word_char_ids(word: str, max_chars: int = 50) -> list[int]:
    """The ``max_chars`` character ids (1..261) of one word; ``<S>`` / ``</S>`` get the boundary rows."""
    if max_chars < 3:
        raise ValueError(f"max_chars must be at least 3 (begin, one character, end), got {max_chars}")
    if word == BOS_WORD:
        return _row([BOS_CHAR], max_chars)
    if word == EOS_WORD:
        return _row([EOS_CHAR], max_chars)
    encoded = word.encode("utf-8", "ignore")[: max_chars - 2]
    return _row(list(encoded), max_chars)


def char_ids(words: list[str], max_chars: int = 50) -> list[list[int]]:
    """Character ids of each word: ``len(words)`` rows of ``max_chars`` ids in 1..261."""
    return [word_char_ids(word, max_chars) for word in words]
