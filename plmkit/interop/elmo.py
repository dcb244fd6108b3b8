"""ELMo weights in the released bilm-tf layout (options.json + weights.hdf5), in and out of plmkit.

    model = from_hdf5("elmo_options.json", "elmo_weights.hdf5")      # stateful, like allennlp
    layers, mask = elmo_layers(model, [["The", "cat", "."], ["Hi"]])  # 3 x (B, T, 2P)
    to_hdf5(trained_model, "out/options.json", "out/weights.hdf5")   # a plmkit char-CNN + LSTM biLM

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

__all__ = ["from_hdf5", "recipe_from_options", "load_hdf5_weights", "batch_to_ids", "elmo_layers",
           "elmo_refusal", "options_from_recipe", "to_hdf5", "save_hdf5_weights"]


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


# -- plmkit -> bilm-tf ------------------------------------------------------------------------------
def elmo_refusal(recipe: Any) -> str | None:
    """Why the bilm-tf format cannot hold this recipe's model, in one line; None if it can."""
    m, problems = recipe.model, []
    if m.embedding.type != "char_cnn":
        problems.append(f"model.embedding: {m.embedding.type!r}; the bilm-tf format holds a char_cnn token encoder")
    if m.recurrent is None or m.recurrent.type != "lstm_projection":
        encoder = m.recurrent or m.attention
        problems.append(f"model.{'recurrent' if m.recurrent else 'attention'}: {encoder.type!r}; the bilm-tf "
                        f"format holds lstm_projection layers")
    if m.direction != "bilm" and not problems:
        problems.append(f"model.direction: {m.direction}; the bilm-tf format holds a biLM (direction: bilm)")
    if problems:
        return "; ".join(problems)
    cnn, lstm = m.embedding.params, m.recurrent.params
    if cnn.n_characters != 262:
        problems.append(f"model.embedding.n_characters: {cnn.n_characters}; the bilm-tf format has 261 characters "
                        f"(262 rows with the padded token)")
    if (cnn.projection_dim or m.hidden) != (lstm.projection_dim or m.hidden):
        problems.append(f"model.recurrent.projection_dim: {lstm.projection_dim or m.hidden}, but the char_cnn "
                        f"outputs {cnn.projection_dim or m.hidden}; the bilm-tf format has one projection_dim")
    return "; ".join(problems) or None


def options_from_recipe(recipe: Any) -> dict[str, Any]:
    """The bilm-tf options.json of a char_cnn + lstm_projection biLM recipe (``recipe_from_options`` inverted)."""
    m = recipe.model
    cnn, lstm = m.embedding.params, m.recurrent.params
    return {
        "bidirectional": True,
        "dropout": lstm.dropout,
        "lstm": {"cell_clip": lstm.cell_clip, "use_skip_connections": lstm.residual, "n_layers": m.layers,
                 "proj_clip": lstm.proj_clip, "projection_dim": lstm.projection_dim or m.hidden, "dim": lstm.cell_dim},
        "char_cnn": {"embedding": {"dim": cnn.char_dim}, "filters": [list(f) for f in cnn.filters],
                     "n_highway": cnn.highway, "n_characters": 262, "max_characters_per_token": cnn.max_chars,
                     "activation": cnn.activation},
    }


def to_hdf5(model: Any, options_path: str | Path, weights_path: str | Path) -> None:
    """Write a plmkit char_cnn + lstm_projection biLM as bilm-tf options.json + weights.hdf5.

    ``ValueError`` (with ``elmo_refusal``'s line) for a model the format cannot hold. The
    released files hold no softmax: a ``bidirectional_lm`` head and a ``scalar_mix`` stay behind.
    """
    why = elmo_refusal(model.recipe)
    if why:
        raise ValueError(why)
    Path(options_path).write_text(json.dumps(options_from_recipe(model.recipe), indent=2) + "\n", encoding="utf-8")
    save_hdf5_weights(model, weights_path)


def save_hdf5_weights(model: Any, weights_path: str | Path) -> None:
    """The weights of a char_cnn + lstm_projection biLM in the bilm-tf layout (models.md 3.7)."""
    m = model.recipe.model
    sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    with _h5py().File(weights_path, "w") as f:
        _save_char_cnn(f, sd, m.embedding.params)
        for direction in range(2):  # RNN_0 forward, RNN_1 backward
            for index in range(m.layers):
                cell = f.create_group(f"RNN_{direction}/RNN/MultiRNNCell/Cell{index}/LSTMCell")
                _save_lstm(cell, sd, f"encoder.{direction}.{index}", m.recurrent.params.cell_dim)


def _save_char_cnn(f: Any, sd: dict, cnn: Any) -> None:
    e = "embedding"
    f["char_embed"] = sd[f"{e}.char_embed.weight"][1:]  # (261, char_dim): row 0 is ours, the padded token
    for i in range(len(cnn.filters)):
        f[f"CNN/W_cnn_{i}"] = sd[f"{e}.convolutions.{i}.weight"].transpose(2, 1, 0)[None]  # (c, d, w) -> (1, w, d, c)
        f[f"CNN/b_cnn_{i}"] = sd[f"{e}.convolutions.{i}.bias"]
    for k in range(cnn.highway):  # TF computes x @ W: the transpose of nn.Linear's weight
        for name in ("carry", "transform"):
            f[f"CNN_high_{k}/W_{name}"] = sd[f"{e}.highways.{k}.{name}.weight"].T
            f[f"CNN_high_{k}/b_{name}"] = sd[f"{e}.highways.{k}.{name}.bias"]
    if f"{e}.projection.weight" in sd:  # only when the filter total differs from the projection
        f["CNN_proj/W_proj"] = sd[f"{e}.projection.weight"].T
        f["CNN_proj/b_proj"] = sd[f"{e}.projection.bias"]


def _save_lstm(cell: Any, sd: dict, prefix: str, C: int) -> None:
    """Ours i, f, o, g -> TF i, j, f, o; W_0 (in+P, 4C) on [x, h]; TF adds the +1.0 forget bias at run time."""
    import numpy as np

    blocks = [0, 3, 1, 2]  # TF i, j, f, o  <-  ours i, g, f, o
    order = np.concatenate([np.arange(b * C, (b + 1) * C) for b in blocks])
    W_x, W_h = sd[f"{prefix}.input_linearity.weight"], sd[f"{prefix}.state_linearity.weight"]  # (4C, in), (4C, P)
    cell["W_0"] = np.concatenate([W_x[order].T, W_h[order].T], axis=0)
    B = sd[f"{prefix}.input_linearity.bias"][order].copy()
    B[2 * C : 3 * C] = _minus_one(B[2 * C : 3 * C])
    cell["B"] = B
    cell["W_P_0"] = sd[f"{prefix}.state_projection.weight"].T


def _minus_one(x: Any) -> Any:
    """float32 y with float32(y + 1) == x wherever one exists (the loader adds 1.0 back in float32),
    so that exporting and loading again gives the very same forget bias."""
    import numpy as np

    one = np.float32(1.0)
    y = (x.astype(np.float64) - 1.0).astype(np.float32)
    for _ in range(4):  # a neighbouring float32 where the nearest one rounds the wrong way
        wrong = (y + one) != x
        if not wrong.any():
            break
        step = np.where((y + one)[wrong] > x[wrong], -np.inf, np.inf).astype(np.float32)
        y[wrong] = np.nextafter(y[wrong], step)
    return y
