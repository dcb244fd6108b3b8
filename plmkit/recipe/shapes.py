"""What a recipe implies about widths and tables, read from component Params (nothing is built).

Components state their output width with ``Params.output_width(recipe)`` and whether they have
a token table with ``Params.token_table()``; the rules here combine them so that mismatches
are recipe errors before anything is built, not shape errors at the first training step.
"""

from __future__ import annotations

from typing import Any


def embedding_width(recipe: Any) -> int | None:
    """Width of the embedding's output vectors (None: not known before building)."""
    return recipe.model.embedding.params.output_width(recipe)


def encoder_width(recipe: Any) -> int | None:
    """Width of one direction's encoder output."""
    encoder = recipe.model.attention if recipe.model.attention is not None else recipe.model.recurrent
    return encoder.params.output_width(recipe)


def head_input_width(recipe: Any) -> int | None:
    """Width of what heads read: the encoder output, [forward; backward] for a biLM."""
    width = encoder_width(recipe)
    return None if width is None else width * (2 if recipe.model.direction == "bilm" else 1)


def has_token_table(recipe: Any) -> bool:
    return recipe.model.embedding.params.token_table()


def tie_problems(recipe: Any, key: str, name: str, tie: bool) -> list[tuple[str, str]]:
    """A head that ties its softmax to the token table needs one, as wide as its input."""
    if not tie:
        return []
    if not has_token_table(recipe):
        return [(f"{key}.tie", f"{name} ties its softmax to the token table, but the embedding "
                 f"({recipe.model.embedding.type}) has none; add a token part or set tie: false")]
    width = head_input_width(recipe)
    if width is not None and width != recipe.model.hidden:
        return [(f"{key}.tie", f"{name} ties its softmax to the {recipe.model.hidden}-wide token table "
                 f"(model.hidden), but the encoder outputs {width} values per token; make them equal "
                 f"or set tie: false")]
    return []
