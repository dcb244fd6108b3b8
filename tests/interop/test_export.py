"""plmkit export: small trained runs, loaded back by the real transformers, h5py and plmkit.

The hf folders are loaded offline with transformers' Auto classes and must give plmkit's logits
(1e-5) on held-out text of the run's own corpus; the elmo files go back through from_hdf5 and
must give the very same layers; what a format cannot hold is refused in one line naming the
component, before anything is written.
"""

from __future__ import annotations

import json

import pytest
import torch

from conftest import RECIPES, run_cli
from plmkit import load_recipe, load_run
from plmkit.data.corpus import generate
from plmkit.data.prepare import is_held_out
from plmkit.errors import RecipeError, RunError
from plmkit.interop.export import export_run
from small_runs import BERT, ELMO, GPT, trained

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    return trained(tmp_path_factory, "gpt.yaml", *GPT)


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    return trained(tmp_path_factory, "bert.yaml", *BERT)


@pytest.fixture(scope="module")
def elmo_run(tmp_path_factory):
    return trained(tmp_path_factory, "elmo.yaml", *ELMO)

ATOL = 1e-5
# sentences of the documents the runs held out (short enough for the smallest position table)
HELD_OUT = [s.text for i, d in enumerate(generate(200, 1234)) if is_held_out(i, 0.05) for s in d.sentences[:1]][:4]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def hf_logits(model, batch):
    with torch.no_grad():
        out = model(**batch)
    return out.prediction_logits if hasattr(out, "prediction_logits") else out.logits


def test_a_gpt_run_loads_in_transformers_with_its_tokenizer(gpt_run, tmp_path, offline):
    result = run_cli("export", str(gpt_run), "--format", "hf", "--out", str(tmp_path / "hf"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "hf") and result.stderr == ""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(model).__name__ == "GPT2LMHeadModel" and tokenizer.is_fast
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|endoftext|>",) * 3
    assert (tokenizer.padding_side, tokenizer.model_max_length) == ("right", 64)
    run = load_run(gpt_run)
    theirs = tokenizer(HELD_OUT, padding=True, return_tensors="pt")
    ours = run.encode(HELD_OUT).batch
    assert torch.equal(theirs["input_ids"], ours["input_ids"])  # <|endoftext|> text, as plmkit trained
    mask = ours["attention_mask"].bool()
    difference = (hf_logits(model, theirs) - run.model(**ours).logits.detach())[mask].abs().max().item()
    assert difference < ATOL


def test_a_bert_run_loads_for_pretraining_and_masked_lm(bert_run, tmp_path, offline):
    export_run(bert_run, tmp_path / "hf", "hf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    specials = (tokenizer.cls_token, tokenizer.sep_token, tokenizer.mask_token, tokenizer.pad_token, tokenizer.unk_token)
    assert specials == ("[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]") and tokenizer.model_max_length == 32
    run = load_run(bert_run)
    theirs = tokenizer(HELD_OUT, padding=True, return_tensors="pt")
    ours = run.encode(HELD_OUT).batch
    assert torch.equal(theirs["input_ids"], ours["input_ids"])  # [CLS] text [SEP], as plmkit lays it out
    assert torch.equal(theirs["token_type_ids"], ours["token_type_ids"])
    expected = run.model(**ours).logits.detach()
    for auto in (transformers.AutoModelForPreTraining, transformers.AutoModelForMaskedLM):
        model = auto.from_pretrained(tmp_path / "hf").eval()
        assert (hf_logits(model, theirs) - expected).abs().max().item() < ATOL, auto.__name__
    assert type(transformers.AutoModelForPreTraining.from_pretrained(tmp_path / "hf")).__name__ == "BertForPreTraining"


def test_the_model_card_says_what_was_trained_and_reached(bert_run, tmp_path):
    export_run(bert_run, tmp_path / "st", "safetensors")
    card = (tmp_path / "st" / "README.md").read_text()
    summary = json.loads((bert_run / "summary.json").read_text())
    assert card.startswith("---\nlibrary_name: plmkit\n") and "\n# bert\n" in card
    assert "Trained with plmkit 0.1.0 for 4 steps of 8 x 32 tokens" in card
    assert f"| loss | {summary['eval']['loss']:.4f} |" in card
    assert f"| mlm_accuracy | {summary['eval']['mlm_accuracy']:.4f} |" in card
    assert "- source: `generated` (documents: 200, seed: 1234)" in card
    assert "```yaml\nname: bert\n" in card and "- plmkit 0.1.0, torch " in card


def test_a_safetensors_export_is_a_run_plmkit_loads(elmo_run, tmp_path):
    export_run(elmo_run, tmp_path / "st", "safetensors")
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == [
        "README.md", "model.safetensors", "recipe.yaml", "tokenizer", "versions.json"]
    original, copy = load_run(elmo_run), load_run(tmp_path / "st")
    batch = original.encode(HELD_OUT[:2]).batch
    with torch.no_grad():
        a = original.model(**batch, output_hidden_states=True)
        b = copy.model(**batch, output_hidden_states=True)
    assert torch.equal(a.logits, b.logits) and all(torch.equal(x, y) for x, y in zip(a.hidden_states, b.hidden_states))


def test_an_elmo_run_round_trips_through_the_bilm_tf_files(elmo_run, tmp_path):
    import h5py

    from plmkit.interop.elmo import batch_to_ids, from_hdf5

    export_run(elmo_run, tmp_path / "elmo", "elmo")
    options = json.loads((tmp_path / "elmo" / "options.json").read_text())
    assert options["lstm"] == {"cell_clip": 3.0, "use_skip_connections": True, "n_layers": 2, "proj_clip": 3.0,
                               "projection_dim": 16, "dim": 32}
    assert options["char_cnn"]["filters"] == [[1, 4], [2, 8], [3, 16]] and options["char_cnn"]["n_characters"] == 262
    with h5py.File(tmp_path / "elmo" / "weights.hdf5", "r") as f:
        names = set()
        f.visititems(lambda name, obj: names.add(name) if isinstance(obj, h5py.Dataset) else None)
        assert f["char_embed"].shape == (261, 16) and f["CNN/W_cnn_2"].shape == (1, 3, 16, 16)
        assert f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"].shape == (16 + 16, 4 * 32)
    assert names == {"char_embed", *(f"CNN/{w}_cnn_{i}" for w in "Wb" for i in range(3)),
                     *(f"CNN_high_0/{n}" for n in ("W_carry", "b_carry", "W_transform", "b_transform")),
                     "CNN_proj/W_proj", "CNN_proj/b_proj",
                     *(f"RNN_{d}/RNN/MultiRNNCell/Cell{c}/LSTMCell/{n}" for d in "01" for c in "01" for n in ("W_0", "B", "W_P_0"))}
    ours = load_run(elmo_run).model
    theirs = from_hdf5(tmp_path / "elmo" / "options.json", tmp_path / "elmo" / "weights.hdf5")
    char_ids, mask = batch_to_ids([text.split() for text in HELD_OUT], max_chars=50)
    with torch.no_grad():
        a = ours(char_ids=char_ids, attention_mask=mask, output_hidden_states=True).hidden_states
        b = theirs(char_ids=char_ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert len(a) == len(b) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_what_transformers_cannot_express_is_refused_naming_the_component(elmo_run, tmp_path):
    result = run_cli("export", str(elmo_run), "--format", "hf", "--out", str(tmp_path / "hf"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "--format: hf: transformers cannot express this model: model.embedding: 'char_cnn' has no BERT/GPT-2 "
        "equivalent in transformers (they add token, (segment,) learned_position tables); model.recurrent: "
        "'lstm_projection': a recurrent encoder has no BERT/GPT-2 equivalent in transformers; --format "
        "safetensors exports it as it is")
    assert not (tmp_path / "hf").exists()


def test_the_elmo_format_refuses_a_transformer(bert_run, tmp_path):
    with pytest.raises(RecipeError, match=r"^format: elmo: the bilm-tf \(ELMo\) format cannot hold this model: "
                                          r"model.embedding: 'sum'; .* model.attention: 'transformer'; "):
        export_run(bert_run, tmp_path / "elmo", "elmo")
    assert not (tmp_path / "elmo").exists()


@pytest.mark.parametrize("recipe,why", [
    ("gpt-rotary.yaml", "model.embedding.parts.1: rotary positions have no BERT/GPT-2 equivalent in transformers"),
    ("gpt-lstm.yaml", "model.recurrent: 'lstm_projection': a recurrent encoder has no BERT/GPT-2 equivalent"),
    ("plmkit-alibi:gpt-alibi.yaml", "model.attention: 'alibi' (from the plugin plmkit-alibi) has no BERT/GPT-2 "
                                    "equivalent in transformers"),
    ("plmkit-electra:electra.yaml", "model.head.electra: 'electra' (from the plugin plmkit-electra) has no "
                                    "equivalent in transformers' BertForPreTraining"),
])
def test_the_refusal_names_the_component_that_prevents_it(recipe, why):
    from plmkit.interop.hf_shape import hf_refusal

    if ":" in recipe:
        pytest.importorskip(recipe.split(":")[0].replace("-", "_"))
    assert why in hf_refusal(load_recipe(recipe if ":" in recipe else RECIPES / recipe))


def test_an_export_never_writes_into_a_folder_that_holds_files(gpt_run, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(RunError, match="folder exists and is not empty; choose another --out"):
        export_run(gpt_run, tmp_path, "safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
