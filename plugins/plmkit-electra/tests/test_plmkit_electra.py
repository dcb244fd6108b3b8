"""plmkit-electra's own tests: found as a plugin, keeps plmkit's contracts, its batches and
objective do what ELECTRA does, and it trains, evaluates and embeds through the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import plmkit
from plmkit.modules import IGNORE
from plmkit.testing import check_batching, check_component

RECIPE = "electra:electra.yaml"
TINY = ["model.layers=1", "model.hidden=32", "model.attention.heads=2", "model.head.electra.generator_hidden=16",
        "model.head.electra.generator_layers=1", "train.seq_len=32", "model.max_positions=32", "train.batch_size=4",
        "data.documents=60", "tokenizer.vocab_size=300", "eval.batches=2", "device.type=cpu", "train.warmup_steps=2"]


def plmkit_cli(*args, cwd=None):
    env = {**os.environ, "PLMKIT_PLUGINS": "electra", "OMP_NUM_THREADS": "1", "CI": "true"}
    return subprocess.run([sys.executable, "-m", "plmkit", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_listed_by_plmkit_plugins():
    result = plmkit_cli("plugins")
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("electra ")]
    assert "plmkit-electra 0.1.0" in line and "loaded" in line and "2 components" in line


def test_head_keeps_plmkit_contracts():
    check_component("head", "electra", generator_hidden=8, generator_heads=2, generator_layers=1)


def test_batching_keeps_plmkit_contracts():
    check_batching("replaced_token")


@pytest.fixture(scope="module")
def prepared():
    from plmkit.data.prepare import prepare

    return prepare(plmkit.load_recipe(RECIPE, TINY))


def test_batches_pack_documents_and_mask_with_mask_tokens_only(prepared):
    tok = prepared.tokenizer
    batches = [b for b, _ in zip(prepared.train_batches(), range(30))]
    chosen = candidates = 0
    for batch in batches:
        ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
        assert ids.shape[1] <= 32 and (ids[:, 0] == tok.cls_id).all()
        is_label = labels != IGNORE
        assert (ids[is_label] == tok.mask_id).all()  # ELECTRA's generator input: every chosen token is [MASK]
        original = torch.where(is_label, labels, ids)
        special = torch.isin(original, torch.tensor(sorted(tok.special_ids)))
        assert not (is_label & special).any()
        chosen += int(is_label.sum())
        candidates += int((~special & (mask == 1)).sum())
    assert abs(chosen / candidates - 0.15) < 0.03
    lengths = torch.cat([b["attention_mask"].sum(1) for b in batches]).float()
    assert lengths.mean() > 0.75 * 32  # whole sentences packed up to the length
    crossing = [bool(((b["input_ids"][:, :-1] == tok.sep_id) & (b["attention_mask"][:, 1:] == 1)).any(1).float().mean() > 0)
                for b in batches]
    assert sum(crossing) > len(batches) // 2  # rows run on from the end of one document into the next


def test_the_discriminator_sees_the_generators_samples(prepared):
    recipe = plmkit.load_recipe(RECIPE, TINY)
    torch.manual_seed(0)
    model = plmkit.build_model(recipe, vocab_size=prepared.tokenizer.vocab_size).train()
    batch = next(prepared.train_batches())
    seen = []  # the embedding reads the masked text (generator), then the corrupted text (discriminator)
    model.embedding.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"]),
                                          with_kwargs=True)
    out = model(**batch)
    head = out.heads["electra"]
    assert len(seen) == 2 and torch.equal(seen[0], batch["input_ids"])
    corrupted, labels = seen[1], batch["labels"]
    chosen = labels != IGNORE
    assert (corrupted[~chosen] == batch["input_ids"][~chosen]).all()  # only masked positions change
    assert not (corrupted[chosen] == prepared.tokenizer.mask_id).all()  # ... to the generator's samples
    replaced = (corrupted != torch.where(chosen, labels, corrupted)) & (batch["attention_mask"] == 1)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        head["logits"][batch["attention_mask"] == 1], replaced[batch["attention_mask"] == 1].float())
    assert torch.allclose(head["discriminator_loss"], expected, atol=1e-6)
    assert torch.allclose(out.loss, head["generator_loss"] + 50.0 * expected, atol=1e-4)


def test_without_labels_the_text_is_read_as_it_is(prepared):
    recipe = plmkit.load_recipe(RECIPE, TINY)
    model = plmkit.build_model(recipe, vocab_size=prepared.tokenizer.vocab_size).eval()
    ids = torch.randint(5, 100, (2, 9))
    out = model(input_ids=ids, output_hidden_states=True)
    assert out.heads["electra"]["logits"].shape == (2, 9) and out.loss is None


def test_trains_evaluates_and_embeds_through_the_cli(tmp_path):
    out = tmp_path / "run"
    run = plmkit_cli("run", RECIPE, *TINY, "train.steps=12", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "electra_discriminator_accuracy" in run.stderr
    metrics = json.loads(plmkit_cli("eval", str(out), "--json").stdout)
    assert 0.5 < metrics["electra_discriminator_accuracy"] <= 1.0
    assert 0 <= metrics["electra_generator_accuracy"] <= 1 and metrics["electra_generator_nll"] > 0
    assert set(metrics) >= {"loss", "loss_electra", "electra_replaced_recall"}
    embedded = json.loads(plmkit_cli("embed", str(out), "--text", "the dogs are hungry .", "--json").stdout)
    assert len(embedded["vectors"][0]) == 32 and embedded["tokens"][0] == "the"


def test_the_discriminator_learns_to_find_uniformly_drawn_replacements():
    """The discriminator path alone: with the generator's samples swapped for uniform draws (mostly
    rare words, so easy to spot), the replaced-token loss falls well below the base rate's entropy."""
    from plmkit.data.prepare import prepare

    recipe = plmkit.load_recipe(RECIPE, [*TINY, "train.batch_size=16", "tokenizer.vocab_size=1000", "data.documents=200"])
    prepared = prepare(recipe)
    torch.manual_seed(0)
    model = plmkit.build_model(recipe, vocab_size=prepared.tokenizer.vocab_size).train()
    first = len(prepared.tokenizer.special_ids)
    model.heads["electra"].sample = lambda logits: torch.randint(first, prepared.tokenizer.vocab_size, logits.shape[:1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = prepared.train_batches()
    losses, shares = [], []
    for _ in range(120):
        out = model(**next(batches)).heads["electra"]
        optimizer.zero_grad()
        out["discriminator_loss"].backward()
        optimizer.step()
        losses.append(float(out["discriminator_loss"]))
        real = out["replaced"] != IGNORE
        shares.append(float((out["replaced"][real] == 1).float().mean()))
    p = sum(shares[-20:]) / 20
    base_rate_entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert sum(losses[:20]) / 20 > 0.95 * base_rate_entropy  # it starts knowing nothing ...
    assert sum(losses[-20:]) / 20 < 0.75 * base_rate_entropy, (losses[-20:], base_rate_entropy)  # ... and learns
