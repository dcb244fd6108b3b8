"""The two facts a run on N processes rests on, checked in this process (no process group):

* every global micro-batch splits over the ranks without overlap or loss, whatever the data
  source (the split is after batching): the ranks' rows, in rank order, are the micro-batch;
* weighting each rank's head losses by ``N * (its targets) / (all targets)`` makes the average
  of the ranks' gradients (what DDP and FSDP compute) the gradient of the whole micro-batch,
  for every built-in head (each reports ``loss_targets``).
"""

from __future__ import annotations

import json

import pytest
import torch

from conftest import RECIPES
from plmkit import load_recipe
from plmkit.data.prepare import prepare
from plmkit.errors import RunError
from plmkit.models.build import build_model
from plmkit.training.distributed import Group

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["model.hidden=32", "model.layers=1", "train.seq_len=32", "train.batch_size=8", "data.documents=80",
         "tokenizer.vocab_size=300"]


def _sources(tmp_path) -> dict[str, list[str]]:
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join(f"the dog number {i} runs home . a cat sleeps by the door {i} ." for i in range(60)))
    lines = tmp_path / "corpus.jsonl"
    lines.write_text("\n".join(json.dumps({"text": f"a farmer feeds {i} horses . the rain falls ."})
                               for i in range(60)))
    return {"generated": [], "text": [f"data={{type: text, paths: [{text}]}}"],
            "jsonl": [f"data={{type: jsonl, paths: [{lines}]}}"]}


@pytest.mark.parametrize("source", ["generated", "text", "jsonl"])
@pytest.mark.parametrize("family", ["gpt", "bert"])
def test_the_ranks_rows_are_the_micro_batch_without_overlap_or_loss(family, source, tmp_path):
    extra = ["model.attention.heads=2"] + _sources(tmp_path)[source]
    prepared = prepare(load_recipe(RECIPES / f"{family}.yaml", SMALL + extra))
    stream = prepared.train_batches()
    for _ in range(3):
        batch = next(stream)
        for world in (2, 4, 8):
            shards = [Group(rank=r, world=world).shard(batch) for r in range(world)]
            for key, value in batch.items():
                assert all(s[key].shape[0] == value.shape[0] // world for s in shards), key
                assert torch.equal(torch.cat([s[key] for s in shards]), value), key


def test_a_micro_batch_that_does_not_split_is_one_line_naming_the_keys():
    with pytest.raises(RunError) as caught:
        Group(rank=0, world=3).per_rank(8)
    assert caught.value.lines() == ["train.batch_size: a micro-batch of 8 sequences does not split over 3 processes; "
                                    "make train.batch_size / train.grad_accum a multiple of 3"]


def _gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("family,extra", [
    ("gpt", ["model.attention.heads=2", "model.head.lm.fused_loss=false"]),
    ("gpt", ["model.attention.heads=2", "model.head.lm.fused_loss=true"]),
    ("bert", ["model.attention.heads=2", "model.embedding.dropout=0", "model.attention.dropout=0",
              "model.attention.attn_dropout=0"]),
    ("elmo", ["model.recurrent.cell_dim=64", "model.embedding.filters=[[1,8],[2,8]]", "model.recurrent.dropout=0",
              "model.head.lm.dropout=0", "train.seq_len=16"]),
])
def test_target_weighted_rank_gradients_average_to_the_whole_batch_gradient(family, extra):
    recipe = load_recipe(RECIPES / f"{family}.yaml", SMALL + extra)
    prepared = prepare(recipe)
    torch.manual_seed(0)
    model = build_model(recipe, vocab_size=prepared.tokenizer.vocab_size, pad_id=prepared.tokenizer.pad_id)
    batch = next(prepared.train_batches())
    out = model(**batch)
    out.loss.backward()
    whole = _gradients(model)
    whole_counts = {name: float(out.heads[name]["loss_targets"]) for name in out.losses}
    world = 2
    shards = [Group(rank=r, world=world).shard(batch) for r in range(world)]
    with torch.no_grad():  # what the ranks all-reduce before their backward
        counts = [{name: float(o.heads[name]["loss_targets"]) for name in o.losses}
                  for o in (model(**shard) for shard in shards)]
    totals = {name: sum(c[name] for c in counts) for name in whole_counts}
    assert totals == whole_counts
    summed: dict[str, torch.Tensor] = {}
    for shard, own in zip(shards, counts):
        model.zero_grad(set_to_none=True)
        out = model(**shard)
        sum(world * own[name] / totals[name] * out.losses[name] for name in out.losses).backward()
        for name, grad in _gradients(model).items():
            summed[name] = summed.get(name, 0) + grad / world  # DDP's average of the ranks' gradients
    assert summed.keys() == whole.keys()
    for name in whole:
        torch.testing.assert_close(summed[name], whole[name], atol=1e-6, rtol=1e-4)
