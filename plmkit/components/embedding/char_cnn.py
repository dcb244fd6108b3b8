"""``char_cnn``: ELMo's character-CNN token encoder (bilm-tf), shared by both directions.

Characters -> embeddings -> one convolution per (width, count) filter, max over the word ->
activation -> highway layers -> linear projection to the model width. It has no token table
(``token_embedding`` is None) and reads ``char_ids`` (B, T, max_chars) in the convention of
plmkit.data.chars (ids 1..261, padded tokens all 0). The torch code is in _char_cnn.py.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from plmkit.params import EmbeddingParams


class CharCNNParams(EmbeddingParams):
    """ELMo character CNN: char embeddings, max-pooled convolutions, highway layers, projection."""

    char_dim: int = Field(16, ge=1, description="character embedding size")
    filters: list[tuple[int, int]] = Field(
        [(1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)],
        description="convolution filters as [width, count] pairs; the counts add up to the CNN output width",
    )
    highway: int = Field(2, ge=0, description="highway layers after the convolutions")
    activation: Literal["relu", "tanh"] = Field("relu", description="activation after the max-pool (ELMo: relu)")
    max_chars: int = Field(50, ge=3, description="characters per token, begin/end-of-word marks included")
    n_characters: int = Field(262, ge=262, description="rows of the character table (261 characters + padded-token row 0)")
    projection_dim: Optional[int] = Field(
        None, ge=1, description="output width; default model.hidden (no projection when it equals the filter total)"
    )

    def output_width(self, recipe: Any) -> int:
        return self.projection_dim or recipe.model.hidden

    def chars_per_token(self) -> int:
        return self.max_chars

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        problems = []
        if not self.filters:
            problems.append((f"{key}.filters", "needs at least one [width, count] filter"))
        elif any(w < 1 or c < 1 for w, c in self.filters):
            problems.append((f"{key}.filters", f"widths and counts must be >= 1, got {self.filters}"))
        elif max(w for w, _ in self.filters) > self.max_chars:
            widest = max(w for w, _ in self.filters)
            problems.append((f"{key}.max_chars", f"{self.max_chars} characters per token is shorter than the "
                             f"widest filter ({widest}); raise max_chars or narrow the filter"))
        if recipe.model.direction != "bilm":
            problems.append((key, "char_cnn reads the characters of whole words, which plmkit's batches carry "
                             "for word-level biLMs only: use it with model.direction: bilm and a "
                             "bidirectional_lm head"))
        return problems


def build(params: CharCNNParams, ctx):
    from plmkit.modules import CharCNN

    return CharCNN(
        char_dim=params.char_dim,
        filters=[tuple(f) for f in params.filters],
        highway=params.highway,
        activation=params.activation,
        max_chars=params.max_chars,
        n_characters=params.n_characters,
        projection_dim=params.projection_dim or ctx.hidden,
    )


def register(register):
    register("embedding", "char_cnn", CharCNNParams, build)
