"""``plmkit.load_run``: a trained run back as model + tokenizer + recipe, wherever it is used from."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import RECIPES, reseal
from plmkit import load_recipe, load_run
from plmkit.errors import EnvironmentProblem, RunError
from plmkit.training.loop import train

TEXT = "\n\n".join(f"The cat number {i} sat on the mat. It was a good cat. The mat was red." for i in range(30))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A run on a text file named by a path relative to its recipe file."""
    base = tmp_path_factory.mktemp("text-run")
    (base / "data").mkdir()
    (base / "data" / "corpus.txt").write_text(TEXT)
    recipe_file = base / "recipe.yaml"
    recipe_file.write_text(f"extends: {RECIPES / 'gpt.yaml'}\ndata:\n  type: text\n  paths: [data/*.txt]\n")
    recipe = load_recipe(recipe_file, ["model.hidden=32", "model.layers=1", "model.attention.heads=2",
                                       "train.seq_len=16", "model.max_positions=16", "train.batch_size=4",
                                       "train.steps=4", "tokenizer.vocab_size=280", "eval.batches=1",
                                       "device.type=cpu"])
    return train(recipe, out_dir=base / "run", progress=False)


def test_a_loaded_run_evaluates_as_training_did_from_any_folder(text_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data/*.txt stays relative to the recipe file, not the working folder
    for folder in (text_run.run_dir, text_run.run_dir / "model"):
        run = load_run(folder)
        assert not run.model.training
        metrics = run.evaluate()
        assert metrics["loss"] == pytest.approx(text_run.metrics["loss"], rel=1e-6)
    tokens, vectors = run.embed("the cat sat")
    assert vectors.shape == (len(tokens), 32) and torch.isfinite(vectors).all()
    assert run.generate("the cat", max_tokens=5, temperature=0).startswith("the cat")


def test_the_final_model_holds_the_trained_weights(text_run):
    run = load_run(text_run.run_dir)
    for name, tensor in text_run.model.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], tensor), name


def test_a_missing_plugin_is_named_with_its_version(text_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(text_run.run_dir / "model", copy)
    versions = json.loads((copy / "versions.json").read_text())
    versions["components"].append({"key": "model.attention", "kind": "attention", "type": "talking_heads",
                                   "package": "plmkit-talking-heads", "version": "0.3.1"})
    (copy / "versions.json").write_text(json.dumps(versions))
    reseal(copy)  # as if the run had been trained with the plugin
    with pytest.raises(EnvironmentProblem) as info:
        load_run(copy)
    assert info.value.lines() == [
        "model.attention: this run's attention 'talking_heads' comes from the plugin package "
        "plmkit-talking-heads==0.3.1, which is not installed; "
        "install it: pip install 'plmkit-talking-heads==0.3.1'"]


def test_a_damaged_model_file_is_named(text_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(text_run.run_dir / "model", copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last weight
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(RunError) as info:
        load_run(copy)
    assert info.value.lines() == [f"{copy / 'model.safetensors'}: damaged (missing, or not the file plmkit wrote: "
                                  f"its checksum differs); use a checkpoint of the run, or train it again"]


def test_a_folder_without_a_model_is_refused_in_one_line(tmp_path):
    with pytest.raises(RunError, match="not a trained plmkit run"):
        load_run(tmp_path)
