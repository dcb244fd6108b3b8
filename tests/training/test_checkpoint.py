"""Checkpoints: safetensors + JSON only, tied weights, exact optimiser/RNG restore, atomic commits."""

import json
import os
import random
from types import SimpleNamespace

import torch
from torch import nn

from plmkit.training import checkpoint as ckpt
from plmkit.training.optim import make_optimizer

TRAIN = SimpleNamespace(lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 6)
        self.norm = nn.LayerNorm(6)
        self.out = nn.Linear(6, 11)
        self.out.weight = self.embed.weight  # shared storage: safetensors must store it once

    def forward(self, ids):
        return self.out(torch.dropout(self.norm(self.embed(ids)), 0.3, True))


def _step(model, optimizer):
    ids = torch.randint(0, 11, (4, 5))
    loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _fresh(seed=1):
    torch.manual_seed(seed)
    model = Tied()
    return model, make_optimizer(model, TRAIN)


def test_resume_from_checkpoint_continues_identically(tmp_path):
    model, optimizer = _fresh()
    for _ in range(3):
        _step(model, optimizer)
    ckpt.save_checkpoint(tmp_path, 3, model, optimizer, {"best": {"loss": 1.5}})
    for _ in range(2):  # the uninterrupted run goes on
        _step(model, optimizer)
    torch.manual_seed(99)  # scramble the RNG: the checkpoint must restore it
    random.random()
    resumed, resumed_optimizer = _fresh(seed=7)
    state = ckpt.load_checkpoint(tmp_path / "step-3", resumed, resumed_optimizer)
    assert state["step"] == 3 and state["best"] == {"loss": 1.5}
    assert resumed.out.weight is resumed.embed.weight  # re-tied
    for _ in range(2):
        _step(resumed, resumed_optimizer)
    for (name, a), (_, b) in zip(model.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_files_are_safetensors_and_json_never_pickle(tmp_path):
    model, optimizer = _fresh()
    _step(model, optimizer)
    path = ckpt.save_checkpoint(tmp_path, 1, model, optimizer, {})
    names = sorted(p.name for p in path.iterdir())
    assert names == ["model.safetensors", "optimizer.json", "optimizer.safetensors", "trainer_state.json"]
    for p in path.iterdir():
        head = p.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", p  # neither a pickle nor torch.save's zip
        if p.suffix == ".json":
            json.loads(p.read_text())
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert len([k for k in f.keys() if k.endswith("weight") and f.get_slice(k).get_shape() == [11, 6]]) == 1


def test_only_complete_checkpoints_count_and_two_are_kept(tmp_path):
    model, optimizer = _fresh()
    for step in (10, 20, 30):
        ckpt.save_checkpoint(tmp_path, step, model, optimizer, {})
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [20, 30]
    # what a run killed while writing step 40 leaves behind: a hidden temporary folder, a
    # temporary file, and a step folder without its trainer_state.json
    (tmp_path / ".tmp-step-40-1234").mkdir()
    (tmp_path / ".tmp-step-40-1234" / "model.safetensors").write_bytes(b"partial")
    (tmp_path / ".trainer_state.json.tmp-1234").write_text("{")
    half = tmp_path / "step-50"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    assert ckpt.latest_checkpoint(tmp_path) == tmp_path / "step-30"
    ckpt.save_checkpoint(tmp_path, 40, model, optimizer, {})
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [30, 40]
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_a_write_killed_before_its_rename_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    ckpt.atomic_write_json(target, {"step": 1})

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies between writing the data and renaming it

    monkeypatch.setattr(os, "replace", killed)
    try:
        ckpt.atomic_write_json(target, {"step": 2})
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # an interrupted write cleans up after itself
