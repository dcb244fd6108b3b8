"""ELMo: a whole training step of recipes/elmo.yaml vs a straightforward implementation of the same
maths, and one LSTM layer vs ``torch.nn.LSTM``.

The straightforward implementation (``Straightforward``) holds a copy of plmkit's weights and
does what the papers describe, plainly: the character CNN runs on every token of the batch
(bilm-tf: convolution, activation, max over characters), and each LSTM layer is a Python loop
over the steps that projects that step's input, slices the four gates and clips, as allennlp's
``LstmCellWithProjection`` does. plmkit encodes each distinct word of the batch once
(``torch.unique``), projects the inputs of all steps in one matmul and splits the gates. The
batch is a real one (recipes/elmo.yaml's batching over the generated corpus), so words repeat as
they do in text. Before timing, in eval mode, the logits of both LMs, the scalar mix and the loss
must be equal.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .common import ROOT, SEED, Contender, interleaved, load, ratios, top_ops

TARGET = 1.5
IGNORE = -100


class Straightforward(nn.Module):
    """recipes/elmo.yaml's model written out plainly, on a copy of plmkit's weights."""

    def __init__(self, ours: nn.Module) -> None:
        super().__init__()
        self.m = copy.deepcopy(ours)

    def forward(self, input_ids, attention_mask, char_ids, labels=None, **_) -> dict[str, torch.Tensor]:
        x = self.char_cnn(char_ids)  # (B, T, P)
        mask = attention_mask.bool()
        lengths = attention_mask.sum(1).tolist()
        forward, backward = [], []
        f = b = x
        for layer_f, layer_b in zip(self.m.encoder[0], self.m.encoder[1]):
            f = self.lstm(layer_f, f, mask)
            b = self.lstm(layer_b, reverse_rows(b, lengths), mask)
            b = reverse_rows(b, lengths)
            forward.append(f)
            backward.append(b)
        layers = [torch.cat([a, c], dim=-1) for a, c in zip(forward, backward)]
        head, mix = self.m.heads["lm"], self.m.heads["mix"]
        top_f, top_b = head.dropout(layers[-1]).split(head.projection_dim, dim=-1)
        out = {"logits": head.softmax(top_f), "backward_logits": head.softmax(top_b)}
        m = attention_mask.unsqueeze(-1).to(x.dtype)
        w = torch.softmax(mix.weights, dim=0)
        mixed = w[0] * torch.cat([x, x], dim=-1) * m
        for j, layer in enumerate(layers, start=1):
            mixed = mixed + w[j] * layer
        out["representation"] = mix.gamma * mixed
        if labels is not None:
            labels = labels.masked_fill(~mask, IGNORE)
            ignore = torch.full_like(labels[:, :1], IGNORE)
            nxt = torch.cat([labels[:, 1:], ignore], 1).masked_fill(~mask, IGNORE)
            prev = torch.cat([ignore, labels[:, :-1]], 1).masked_fill(~mask, IGNORE)
            V = out["logits"].shape[-1]
            out["loss"] = 0.5 * (F.cross_entropy(out["logits"].reshape(-1, V), nxt.reshape(-1), ignore_index=IGNORE)
                                 + F.cross_entropy(out["backward_logits"].reshape(-1, V), prev.reshape(-1),
                                                   ignore_index=IGNORE))
        return out

    def char_cnn(self, char_ids: torch.Tensor) -> torch.Tensor:
        cnn = self.m.embedding
        B, T, L = char_ids.shape
        chars = cnn.char_embed(char_ids.view(B * T, L)).transpose(1, 2)  # every token: (B*T, char_dim, L)
        x = torch.cat([cnn.activation(conv(chars)).max(dim=-1).values for conv in cnn.convolutions], dim=-1)
        for highway in cnn.highways:
            g = torch.sigmoid(highway.carry(x))
            x = g * torch.relu(highway.transform(x)) + (1 - g) * x
        return cnn.projection(x).view(B, T, -1) if cnn.projection is not None else x.view(B, T, -1)

    @staticmethod
    def lstm(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = layer.dropout(x)
        B, T, _ = x.shape
        C = layer.cell_dim
        h, c = x.new_zeros(B, layer.output_dim), x.new_zeros(B, C)
        outputs = []
        for t in range(T):
            z = layer.input_linearity(x[:, t]) + layer.state_linearity(h)  # (B, 4C): i, f, o, g
            i, f = torch.sigmoid(z[:, :C]), torch.sigmoid(z[:, C:2 * C])
            o, g = torch.sigmoid(z[:, 2 * C:3 * C]), torch.tanh(z[:, 3 * C:])
            c_new = (i * g + f * c).clamp(-layer.cell_clip, layer.cell_clip)
            h_new = layer.state_projection(o * torch.tanh(c_new)).clamp(-layer.proj_clip, layer.proj_clip)
            keep = mask[:, t:t + 1]
            h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            outputs.append(h_new)
        out = torch.stack(outputs, dim=1)
        out = out + x if layer.residual else out  # bilm-tf: residual between layers, not into the first
        return out * mask.unsqueeze(-1).to(out.dtype)


def reverse_rows(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Each row reversed within its length, padding left in place."""
    rows = [torch.cat([x[b, :n].flip(0), x[b, n:]]) for b, n in enumerate(lengths)]
    return torch.stack(rows)


def elmo_batch(quick: bool) -> tuple[Any, dict]:
    import plmkit
    from plmkit.data.prepare import prepare

    overrides = ["data.documents=300"] + (["model.recurrent.cell_dim=64", "train.batch_size=8"] if quick else [])
    recipe = plmkit.load_recipe(ROOT / "recipes/elmo.yaml", overrides)
    prepared = prepare(recipe)
    torch.manual_seed(SEED)
    model = plmkit.build_model(recipe, vocab_size=prepared.tokenizer.vocab_size, pad_id=prepared.tokenizer.pad_id)
    return model, next(prepared.train_batches())


def run_step_case(quick: bool, warmup: int, rounds: int) -> dict:
    """The whole step; the profile on a miss (not in --quick)."""
    load_before = load()
    ours, batch = elmo_batch(quick)
    plain = Straightforward(ours)
    checks = _check(ours, plain, batch)
    models = {"straightforward": plain, "plmkit": ours}
    steps = {}
    for name, model in models.items():
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        steps[name] = _step(model, optimizer, batch)
        model.train()
    times = interleaved([Contender(n, s) for n, s in steps.items()], warmup, rounds)
    stats = ratios(times, "straightforward")
    tokens = int(batch["attention_mask"].sum())
    for st in stats.values():
        st["tokens_per_s"] = tokens / st["median_s"]
    B, T, L = batch["char_ids"].shape
    distinct = len(torch.unique(batch["char_ids"].view(B * T, L), dim=0))
    speedup = 1 / stats["plmkit"]["ratio_paired"]
    result = {"case": "elmo step", "shape": f"recipes/elmo.yaml; a real batch {B} x {T} ({tokens} tokens, "
              f"{distinct} distinct words of {B * T} positions)", "contenders": stats, "checks": checks,
              "target": {"goal": f">= {TARGET}x the straightforward implementation", "speedup": speedup,
                         "met": speedup >= TARGET}, "load": [load_before, load()]}
    if not result["target"]["met"] and not quick:
        result["profile"] = {"plmkit": top_ops(steps["plmkit"])}
    return result


def _check(ours: nn.Module, plain: nn.Module, batch: dict) -> dict[str, float]:
    ours.eval()
    plain.eval()
    with torch.no_grad():
        a = ours(**batch)
        b = plain(**batch)
    diffs = {"loss": abs(float(a.loss) - float(b["loss"])),
             "logits": float((a.logits - b["logits"]).abs().max()),
             "backward_logits": float((a.heads["lm"]["backward_logits"] - b["backward_logits"]).abs().max()),
             "representation": float((a.heads["mix"]["representation"] - b["representation"]).abs().max())}
    assert all(d < 1e-4 for d in diffs.values()), f"ELMo: plmkit and the straightforward implementation differ: {diffs}"
    return diffs


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(**batch)
        (out.loss if hasattr(out, "loss") else out["loss"]).backward()
        optimizer.step()
    return step


# -- one LSTM layer vs torch.nn.LSTM ----------------------------------------------------------------
class TorchLSTM(nn.Module):
    """The plain-PyTorch floor: input dropout (as lstm_projection does) + torch.nn.LSTM(proj_size=P).
    nn.LSTM cannot clip the cell or the projection; its gates are ordered i, f, g, o."""

    def __init__(self, ours: nn.Module) -> None:
        super().__init__()
        D, C, P = ours.input_linearity.in_features, ours.cell_dim, ours.output_dim
        self.dropout = nn.Dropout(ours.dropout.p)
        self.lstm = nn.LSTM(D, C, proj_size=P, batch_first=True)
        order = torch.cat([torch.arange(0, 2 * C), torch.arange(3 * C, 4 * C), torch.arange(2 * C, 3 * C)])
        with torch.no_grad():
            self.lstm.weight_ih_l0.copy_(ours.input_linearity.weight[order])
            self.lstm.bias_ih_l0.copy_(ours.input_linearity.bias[order])
            self.lstm.weight_hh_l0.copy_(ours.state_linearity.weight[order])
            self.lstm.bias_hh_l0.zero_()
            self.lstm.weight_hr_l0.copy_(ours.state_projection.weight)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.dropout(x))[0]  # (B, T, P); the batch has no padding


def run_lstm_case(quick: bool, warmup: int, rounds: int) -> dict:
    import plmkit

    load_before = load()
    quick_sizes = ["model.hidden=32", "model.recurrent.cell_dim=64"]
    recipe = plmkit.load_recipe(ROOT / "recipes/elmo.yaml", quick_sizes if quick else [])
    torch.manual_seed(SEED)
    ours = plmkit.build_model(recipe).encoder[0][0]
    unclipped = copy.deepcopy(ours)
    unclipped.cell_clip = unclipped.proj_clip = None
    floor = TorchLSTM(ours)
    B, T = (8, 10) if quick else (32, 40)
    g = torch.Generator().manual_seed(SEED)
    x, target = torch.randn(B, T, ours.input_linearity.in_features, generator=g), torch.randn(B, T, ours.output_dim, generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    models = {"torch.nn.LSTM": floor, f"plmkit (clips {ours.cell_clip})": ours, "plmkit (no clips)": unclipped}
    for model in models.values():
        model.eval()
    with torch.no_grad():
        diff = float((floor(x, mask) - unclipped(x, mask)).abs().max())
    assert diff < 1e-4, f"lstm_projection without clips differs from nn.LSTM by {diff}"
    steps = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        steps[name] = _lstm_step(model, optimizer, x, mask, target)
    stats = ratios(interleaved([Contender(n, s) for n, s in steps.items()], warmup, rounds), "torch.nn.LSTM")
    for st in stats.values():
        st["tokens_per_s"] = B * T / st["median_s"]
    return {"case": "elmo lstm layer", "shape": f"input {ours.input_linearity.in_features}, cell {ours.cell_dim}, "
            f"projection {ours.output_dim}; batch {B} x {T}", "output_diff_unclipped": diff, "contenders": stats,
            "load": [load_before, load()]}


def _lstm_step(model, optimizer, x, mask, target):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(x, mask), target).backward()
        optimizer.step()
    return step
