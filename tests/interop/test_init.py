"""init.checkpoint: a run starts from a plmkit run, a transformers folder or an ELMo weight pair.

What fits is loaded (heads and embedding parts matched by type), what the checkpoint lacks is
fresh and reported, a shape that does not fit is a recipe error before anything is written, and
the run's tokenizer is the checkpoint's.
"""

from __future__ import annotations

import json

import pytest
import torch

from conftest import RECIPES
from plmkit import load_recipe, load_run
from plmkit.errors import RecipeError
from plmkit.interop.export import export_run
from plmkit.interop.init import initialise
from plmkit.models.build import build_model
from plmkit.training.loop import train
from small_runs import BERT, ELMO, GPT, SMALL, trained

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    return trained(tmp_path_factory, "gpt.yaml", *GPT)


@pytest.fixture(scope="module")
def bert_hf(tmp_path_factory):
    pytest.importorskip("transformers")
    run = trained(tmp_path_factory, "bert.yaml", *BERT)
    return run, export_run(run, tmp_path_factory.mktemp("bert-hf") / "hf", "hf")


@pytest.fixture(scope="module")
def elmo_files(tmp_path_factory):
    run = trained(tmp_path_factory, "elmo.yaml", *ELMO)
    return run, export_run(run, tmp_path_factory.mktemp("elmo-files") / "elmo", "elmo")


def recipe_from(name: str, checkpoint, *overrides: str):
    return load_recipe(RECIPES / name, [*SMALL, f"init.checkpoint={checkpoint}", *overrides])


def test_a_run_starts_from_a_plmkit_run_with_its_weights_and_tokenizer(gpt_run, tmp_path):
    recipe = recipe_from("gpt.yaml", gpt_run, *GPT, "train.steps=1", "tokenizer.vocab_size=300", "train.lr=1e-12")
    result = train(recipe, out_dir=tmp_path / "run", progress=False)
    report = json.loads((tmp_path / "run" / "init.json").read_text())
    original = load_run(gpt_run)
    assert report["kind"] == "plmkit" and report["fresh"] == [] and report["unused"] == []
    assert report["loaded"] == sorted(original.model.state_dict())
    # the checkpoint's tokenizer (400 entries), not a new one of the recipe's 300
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").read_text() == \
        (gpt_run / "model" / "tokenizer" / "tokenizer.json").read_text()
    # one step at lr 1e-12 leaves the weights where the checkpoint had them
    start = original.model.state_dict()
    assert all((result.model.state_dict()[k].cpu() - v).abs().max() < 1e-6 for k, v in start.items())


def test_a_run_starts_from_a_transformers_folder_its_heads_matched_by_type(bert_hf):
    run, folder = bert_hf
    recipe = recipe_from("bert.yaml", folder, *BERT, "model.head.mlm=null", "model.head.nsp=null",
                         "model.head.masked={type: masked_lm}")
    original = load_run(run)
    model = build_model(recipe, vocab_size=original.tokenizer.vocab_size, pad_id=original.tokenizer.pad_id)
    report = initialise(model, recipe)
    assert report.checkpoint.kind == "transformers" and report.fresh == []
    assert report.unused == sorted(f"heads.nsp.{n}.{w}" for n in ("pooler", "seq_relationship") for w in ("weight", "bias"))
    ours, theirs = model.state_dict(), original.model.state_dict()
    assert torch.equal(ours["heads.masked.dense.weight"], theirs["heads.mlm.dense.weight"])
    assert torch.equal(ours["encoder.0.1.attn.c_attn.weight"], theirs["encoder.0.1.attn.c_attn.weight"])


def test_an_elmo_pair_fills_the_encoder_and_leaves_the_softmax_fresh(elmo_files):
    run, folder = elmo_files
    recipe = recipe_from("elmo.yaml", folder / "options.json", *ELMO)
    original = load_run(run)
    model = build_model(recipe, vocab_size=original.tokenizer.vocab_size)
    report = initialise(model, recipe)
    assert report.checkpoint.kind == "elmo" and report.unused == []
    assert report.fresh == ["heads.lm.softmax.bias", "heads.lm.softmax.weight", "heads.mix.gamma", "heads.mix.weights"]
    theirs = original.model.state_dict()
    assert all(torch.equal(model.state_dict()[k], theirs[k]) for k in report.loaded)
    assert len(report.loaded) == 29 and report.lines()[1].startswith("init: initialised fresh (not in the checkpoint): heads.lm")


def test_shapes_that_do_not_fit_are_refused_before_anything_is_written(gpt_run, tmp_path):
    recipe = recipe_from("gpt.yaml", gpt_run, "model.hidden=48", "model.layers=2", "model.attention.heads=2",
                         "model.max_positions=64")
    with pytest.raises(RecipeError) as caught:
        train(recipe, out_dir=tmp_path / "run", progress=False)
    (line,) = caught.value.lines()
    assert line.startswith(f"init.checkpoint: {gpt_run}: 28 tensors do not fit this recipe's model: "
                           "embedding.parts.0.table.weight (400, 32) into (400, 48)")
    assert not (tmp_path / "run").exists()


def test_a_transformers_model_without_a_tokenizer_names_the_table_that_does_not_fit(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=123, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    recipe = recipe_from("gpt.yaml", tmp_path / "gpt2", *GPT)
    with pytest.raises(RecipeError, match=r"1 tensors do not fit this recipe's model: "
                                          r"embedding.parts.0.table.weight \(123, 32\) into \(400, 32\)"):
        initialise(build_model(recipe, vocab_size=400), recipe)


def test_a_checkpoint_that_is_not_there_or_not_a_model_is_a_recipe_error(tmp_path):
    recipe = recipe_from("gpt.yaml", "no/such/run", *GPT)
    with pytest.raises(RecipeError, match=r"^init.checkpoint: 'no/such/run': no such file or folder"):
        initialise(build_model(recipe), recipe)
    (tmp_path / "notes").mkdir()
    recipe = recipe_from("gpt.yaml", tmp_path / "notes", *GPT)
    with pytest.raises(RecipeError, match="not a plmkit run folder, a transformers folder"):
        initialise(build_model(recipe), recipe)
