"""The ELMo family as recipe data: ``elmo_recipe(preset, **sizes) -> dict`` (no torch here).

A character CNN encodes each word, two separate stacks of LSTM-with-projection layers read the
sentence forward and backward (``model.direction: bilm``), and heads turn the result into the
biLM loss (``bidirectional_lm``) or the downstream representation (``scalar_mix``). The presets
are the released ELMo sizes (models.md 3.1); ``test`` is allennlp's test fixture.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ELMO_PRESETS", "elmo_recipe"]

_CHAR_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]  # 2048 in all

#: sizes of the released ELMo models (original / medium / small) and of allennlp's test fixture
ELMO_PRESETS: dict[str, dict[str, Any]] = {
    "original": dict(projection_dim=512, cell_dim=4096, highway=2, filters=_CHAR_FILTERS, char_dim=16),
    "medium": dict(projection_dim=256, cell_dim=2048, highway=1, filters=_CHAR_FILTERS, char_dim=16),
    "small": dict(projection_dim=128, cell_dim=1024, highway=1, filters=_CHAR_FILTERS, char_dim=16),
    "test": dict(projection_dim=16, cell_dim=64, highway=2, filters=[[1, 4], [2, 8], [3, 16], [4, 32], [5, 64]], char_dim=4),
}


def elmo_recipe(
    preset: str = "original",
    *,
    layers: int = 2,
    activation: str = "relu",
    max_chars: int = 50,
    cell_clip: float | None = 3.0,
    proj_clip: float | None = 3.0,
    residual: bool = True,
    dropout: float = 0.1,
    stateful: bool = False,
    heads: dict[str, Any] | None = None,
    vocab_size: int = 4000,
    name: str = "elmo",
    **sizes: Any,
) -> dict[str, Any]:
    """A complete recipe dict for an ELMo-shaped biLM; validate it with plmkit.recipe.validate.

    ``sizes`` override the preset: projection_dim, cell_dim, highway, filters, char_dim.
    ``heads`` default to the biLM loss plus the scalar mix.
    """
    if preset not in ELMO_PRESETS:
        raise ValueError(f"unknown ELMo preset {preset!r}; choose one of {', '.join(ELMO_PRESETS)}")
    unknown = set(sizes) - set(ELMO_PRESETS[preset])
    if unknown:
        raise TypeError(f"elmo_recipe() got unknown sizes {sorted(unknown)}; sizes are {sorted(ELMO_PRESETS[preset])}")
    s = {**ELMO_PRESETS[preset], **sizes}
    embedding = dict(type="char_cnn", char_dim=s["char_dim"], filters=[list(f) for f in s["filters"]],
                     highway=s["highway"], activation=activation, max_chars=max_chars)
    recurrent = dict(type="lstm_projection", cell_dim=s["cell_dim"], cell_clip=cell_clip, proj_clip=proj_clip,
                     residual=residual, dropout=dropout, stateful=stateful)
    if heads is None:
        heads = {"lm": {"type": "bidirectional_lm"}, "mix": {"type": "scalar_mix"}}
    return {
        "name": name,
        "description": f"ELMo biLM ({preset} sizes): char CNN + {layers}-layer LSTM-with-projection per direction",
        "model": dict(hidden=s["projection_dim"], layers=layers, direction="bilm", embedding=embedding,
                      recurrent=recurrent, head=heads),
        "tokenizer": {"type": "word", "vocab_size": vocab_size},
        "data": {"type": "generated"},
        "device": {"type": "auto"},
        "train": {"steps": 1000, "batch_size": 32, "seq_len": 40, "lr": 2.0e-3, "weight_decay": 0.0, "grad_clip": 10.0},
    }
