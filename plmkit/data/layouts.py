"""Which batch layout serves which heads: the one table validation and batching both read.

Each head's Params declares the batches it needs (``batch``: masked_lm, next_sentence,
causal_lm or bidirectional_lm); a recipe's heads together must be served by one layout.
No torch here: recipe validation uses it.
"""

from __future__ import annotations

from typing import Iterable

LAYOUTS: dict[frozenset[str], str] = {
    frozenset({"masked_lm", "next_sentence"}): "pairs",  # [CLS] A [SEP] B [SEP], masked
    frozenset({"next_sentence"}): "pairs",
    frozenset({"masked_lm"}): "segments",  # [CLS] text [SEP], masked
    frozenset({"causal_lm"}): "causal",  # contiguous chunks across documents
    frozenset({"bidirectional_lm"}): "bilm",  # <S> words </S> with character ids
}
COMBINATIONS = "masked_lm and/or next_sentence together, or causal_lm alone, or bidirectional_lm alone"


def layout_for(needs: Iterable[str]) -> str | None:
    """The layout serving heads with these batch needs, or None when no one layout can."""
    return LAYOUTS.get(frozenset(needs))
