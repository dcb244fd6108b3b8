"""Load ELMo weights in the released bilm-tf layout (options.json + weights.hdf5) into plmkit.

    model = from_hdf5("elmo_options.json", "elmo_weights.hdf5")      # stateful, like allennlp
    layers, mask = elmo_layers(model, [["The", "cat", "."], ["Hi"]])  # 3 x (B, T, 2P)

The model is an ordinary plmkit ``LanguageModel`` (char_cnn + lstm_projection, direction bilm)
with a ``scalar_mix`` head; the released files hold no softmax, so there is no biLM head. Weight
names and their mapping are in models.md 3.7. h5py is needed only here and imported lazily.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.chars import BOS_WORD, EOS_WORD, char_ids
from ..errors import EnvironmentProblem
from ..models.elmo_family import elmo_recipe

__all__ = ["from_hdf5", "recipe_from_options", "load_hdf5_weights", "batch_to_ids", "elmo_layers"]


def recipe_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """The plmkit recipe dict (stateful LSTMs, scalar_mix head) for a bilm-tf options.json."""
    cnn, lstm = options["char_cnn"], options["lstm"]
    return elmo_recipe(
        "original",
        projection_dim=lstm["projection_dim"],
        cell_dim=lstm["dim"],
        layers=lstm["n_layers"],
        char_dim=cnn["embedding"]["dim"],
        filters=cnn["filters"],
        highway=cnn["n_highway"],
        activation=cnn["activation"],
        max_chars=cnn["max_characters_per_token"],
        cell_clip=lstm.get("cell_clip"),
        proj_clip=lstm.get("proj_clip"),
        residual=lstm.get("use_skip_connections", False),
        dropout=options.get("dropout", 0.1),
        stateful=True,
        heads={"mix": {"type": "scalar_mix"}},
        name="elmo-pretrained",
    )


def from_hdf5(options_path: str | Path, weights_path: str | Path) -> Any:
    """A ``LanguageModel`` in eval mode holding the weights of a released ELMo biLM."""
    from ..models.build import build_model
    from ..recipe.validate import recipe_from_dict

    options = json.loads(Path(options_path).read_text())
    recipe = recipe_from_dict(recipe_from_options(options), source=str(options_path))
    model = build_model(recipe, vocab_size=1)  # no softmax: the vocabulary is never used
    load_hdf5_weights(model, weights_path)
    return model.eval()


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise EnvironmentProblem("reading ELMo .hdf5 weights needs h5py: pip install h5py") from exc
    return h5py


def load_hdf5_weights(model: Any, weights_path: str | Path) -> None:
    """Copy bilm-tf weights (models.md 3.7) into a char_cnn + lstm_projection bilm model, in place."""
    import torch

    with _h5py().File(weights_path, "r") as f, torch.no_grad():
        _load_char_cnn(model.embedding, f)
        for direction, stack in enumerate(model.encoder):  # RNN_0 forward, RNN_1 backward
            for index, layer in enumerate(stack):
                _load_lstm(layer, f[f"RNN_{direction}/RNN/MultiRNNCell/Cell{index}/LSTMCell"])


def _copy(target: Any, array: Any) -> None:
    import torch

    value = torch.as_tensor(array, dtype=target.dtype)
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(f"ELMo weight of shape {tuple(value.shape)} does not fit {tuple(target.shape)}")
    target.copy_(value)


def _load_char_cnn(cnn: Any, f: Any) -> None:
    table = f["char_embed"][...]  # (261, char_dim): row 0 of ours is the padded token, kept zero
    cnn.char_embed.weight.zero_()
    _copy(cnn.char_embed.weight[1 : 1 + table.shape[0]], table)
    for i, conv in enumerate(cnn.convolutions):
        _copy(conv.weight, f[f"CNN/W_cnn_{i}"][...][0].transpose(2, 1, 0))  # (1, w, d, c) -> (c, d, w)
        _copy(conv.bias, f[f"CNN/b_cnn_{i}"][...])
    for k, highway in enumerate(cnn.highways):  # TF computes x @ W: nn.Linear holds W.T
        _copy(highway.carry.weight, f[f"CNN_high_{k}/W_carry"][...].T)
        _copy(highway.carry.bias, f[f"CNN_high_{k}/b_carry"][...])
        _copy(highway.transform.weight, f[f"CNN_high_{k}/W_transform"][...].T)
        _copy(highway.transform.bias, f[f"CNN_high_{k}/b_transform"][...])
    if cnn.projection is not None:
        _copy(cnn.projection.weight, f["CNN_proj/W_proj"][...].T)
        _copy(cnn.projection.bias, f["CNN_proj/b_proj"][...])


def _load_lstm(layer: Any, cell: Any) -> None:
    """TF LSTMCell: W_0 (in+P, 4C) on [x, h], gates i, j, f, o; +1.0 forget bias added at run time."""
    import numpy as np

    C = layer.cell_dim
    W, B = cell["W_0"][...], cell["B"][...].copy()
    B[2 * C : 3 * C] += 1.0  # store TF's run-time forget bias
    blocks = [0, 2, 3, 1]  # ours i, f, o, g  <-  TF i, f, o, j
    order = np.concatenate([np.arange(b * C, (b + 1) * C) for b in blocks])
    d_in = layer.input_linearity.in_features
    _copy(layer.input_linearity.weight, W[:d_in, order].T)
    _copy(layer.input_linearity.bias, B[order])
    _copy(layer.state_linearity.weight, W[d_in:, order].T)
    _copy(layer.state_projection.weight, cell["W_P_0"][...].T)


def batch_to_ids(sentences: list[list[str]], max_chars: int = 50) -> tuple[Any, Any]:
    """char_ids (B, T+2, max_chars) long and attention_mask (B, T+2), with <S> / </S> added per row.

    As allennlp: <S> at position 0, </S> right after each row's last word; padded tokens are all 0.
    """
    import torch

    width = max(len(words) for words in sentences) + 2
    ids = torch.zeros(len(sentences), width, max_chars, dtype=torch.long)
    mask = torch.zeros(len(sentences), width, dtype=torch.long)
    for row, words in enumerate(sentences):
        tokens = [BOS_WORD, *words, EOS_WORD]
        ids[row, : len(tokens)] = torch.tensor(char_ids(tokens, max_chars))
        mask[row, : len(tokens)] = 1
    return ids, mask


def elmo_layers(model: Any, sentences: list[list[str]]) -> tuple[list[Any], Any]:
    """ELMo's L+1 layers for tokenised sentences, without <S> / </S>: ([(B, T, 2P)], mask (B, T)).

    Layer 0 is the token representation duplicated to [x; x]; layer j the [forward; backward]
    output of LSTM layer j. Positions past a row's end are 0. A stateful model carries its LSTM
    state from this call into the next (``model.reset_states()`` forgets it).
    """
    import torch

    device = next(model.parameters()).device
    char, mask = batch_to_ids(sentences, model.embedding.max_chars)
    char, mask = char.to(device), mask.to(device)
    out = model(char_ids=char, attention_mask=mask, output_hidden_states=True)
    x, *layers = out.hidden_states
    layers = [torch.cat([x, x], dim=-1), *layers]
    lengths = mask.sum(dim=1) - 2  # words per row
    T = int(lengths.max())
    keep = (torch.arange(T, device=device)[None, :] < lengths[:, None])  # (B, T)
    # Words sit at 1..n in the boundary-augmented sequence: drop <S> and everything from </S> on.
    return [a[:, 1 : T + 1] * keep.unsqueeze(-1).to(a.dtype) for a in layers], keep.long()
