"""Lookup embeddings: ``token``, ``segment``, ``learned_position``, ``sinusoidal_position``, ``rotary``.

Usually parts of a ``sum`` embedding (BERT: token + segment + learned_position; GPT-2: token +
learned_position); each can also be a model's whole embedding. The torch code is in _lookup.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from plmkit.params import EmbeddingParams


class TokenParams(EmbeddingParams):
    """Token table (wte): one learned vector per vocabulary entry; LM heads tie to it."""

    padding: bool = Field(False, description="give the pad token a zero row that the lookup never updates (BERT)")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")

    def output_width(self, recipe: Any) -> int:
        return recipe.model.hidden

    def token_table(self) -> bool:
        return True


class SegmentParams(EmbeddingParams):
    """Segment (token type) table: sentence A / sentence B, added to the token vectors (BERT)."""

    types: int = Field(2, ge=1, description="number of segment types (BERT: 2)")
    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")


class LearnedPositionParams(EmbeddingParams):
    """Learned absolute positions (wpe): one vector per position up to model.max_positions."""

    init_std: float = Field(0.02, gt=0, description="standard deviation of the normal initialisation")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        seq_len, max_positions = recipe.train.seq_len, recipe.model.max_positions
        if seq_len > max_positions:
            return [("train.seq_len", f"train.seq_len {seq_len} is longer than model.max_positions {max_positions}, "
                     f"the size of the learned position table ({key}); raise model.max_positions "
                     f"or shorten train.seq_len")]
        return []


class SinusoidalPositionParams(EmbeddingParams):
    """Fixed sinusoidal positions (Vaswani et al. 2017); nothing learned, any length."""

    base: float = Field(10000.0, gt=1, description="wavelength base: PE[p, 2i] = sin(p / base^(2i/D))")


class RotaryParams(EmbeddingParams):
    """Rotary positions (RoPE): rotates each head's queries and keys; adds nothing to the sum."""

    base: float = Field(10000.0, gt=1, description="frequency base: pair i turns at base^(-2i/d_head) per position")

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        attention = recipe.model.attention
        if attention is None:
            return [(key, "rotary positions rotate attention queries and keys: they need model.attention "
                     "(a transformer), not model.recurrent; use learned_position or sinusoidal_position")]
        heads = getattr(attention.params, "heads", None)
        if not isinstance(heads, int):
            return [(key, f"rotary needs to know the attention head size, but {attention.type!r} has no "
                     f"'heads' parameter; use learned_position or sinusoidal_position")]
        if heads and recipe.model.hidden % heads == 0 and (recipe.model.hidden // heads) % 2:
            return [(key, f"rotary needs an even head size; model.hidden {recipe.model.hidden} / "
                     f"{heads} heads = {recipe.model.hidden // heads}")]
        return []


def build_token(params: TokenParams, ctx):
    from plmkit.modules import TokenEmbedding

    return TokenEmbedding(ctx.vocab_size, ctx.hidden, params.init_std, ctx.pad_id if params.padding else None)


def build_segment(params: SegmentParams, ctx):
    from plmkit.modules import SegmentEmbedding

    return SegmentEmbedding(params.types, ctx.hidden, params.init_std)


def build_learned_position(params: LearnedPositionParams, ctx):
    from plmkit.modules import LearnedPosition

    return LearnedPosition(ctx.max_positions, ctx.hidden, params.init_std)


def build_sinusoidal_position(params: SinusoidalPositionParams, ctx):
    from plmkit.modules import SinusoidalPosition

    return SinusoidalPosition(ctx.hidden, params.base)


def build_rotary(params: RotaryParams, ctx):
    from plmkit.modules import RotaryPosition

    heads = ctx.recipe.model.attention.params.heads  # the head size is the transformer's
    return RotaryPosition(ctx.hidden, ctx.hidden // heads, params.base)


def register(register):
    register("embedding", "token", TokenParams, build_token)
    register("embedding", "segment", SegmentParams, build_segment)
    register("embedding", "learned_position", LearnedPositionParams, build_learned_position)
    register("embedding", "sinusoidal_position", SinusoidalPositionParams, build_sinusoidal_position)
    register("embedding", "rotary", RotaryParams, build_rotary)
