"""Tasks, budgets, probes and marks of plmkit compare, without training anything."""

from __future__ import annotations

import json

import pytest
import torch

from plmkit.errors import DataError, RecipeError
from plmkit.evaluation.budget import budget_overrides, parse_budget, steps_for
from plmkit.evaluation.features import random_features
from plmkit.evaluation.probes import Rows, majority, probe_layers, probe_mix
from plmkit.evaluation.tasks import Examples, build_task, check_task, resolve_tasks, split_of, task_corpus
from plmkit.plugins import get_registry


@pytest.fixture(scope="module")
def corpus():
    return task_corpus(1234, 0.05, 40)


@pytest.mark.parametrize("name", get_registry().names("task"))
def test_every_registered_task_keeps_the_contract(name, tmp_path, monkeypatch):
    params = {}
    if name == "jsonl":
        path = tmp_path / "mine.jsonl"
        path.write_text("".join(json.dumps({"text": f"text {i} here", "label": i % 2}) + "\n" for i in range(20)))
        params = {"path": str(path)}
    check_task(name, **params)


def test_the_corpus_is_held_out_by_every_recipe_and_split_by_document(corpus):
    from plmkit.data.prepare import is_held_out

    assert len(corpus.documents) == 40 and all(is_held_out(i, 0.05) for i in corpus.indices)
    assert corpus.split[:10] == ["train"] * 6 + ["dev"] + ["test"] * 3 == [split_of(k) for k in range(10)]
    assert [d.text for d in corpus.documents[:3]] == [d.text for d in task_corpus(1234, 0.05, 3).documents]
    training = list(corpus.training_documents(5))
    assert len(training) == 5 and not {d.text for d in training} & {d.text for d in corpus.documents}


def test_agreement_hides_the_verb_and_never_gives_the_number_away(corpus):
    from plmkit.data.parse import Parser

    (spec,) = resolve_tasks(["agreement"])
    examples = build_task(spec).examples(corpus)
    info = Parser().info
    verbs = {w for w, i in info.items() if i.cls == "verb"} | {"is", "are", "does", "do"}
    for text, label in zip(examples.texts, examples.labels):
        words = text.split()
        assert not verbs & set(words[1:]) or "that" in words, text  # only a relative clause's verb may come before
        subjects = [w for w in words if info.get(w) is not None and info[w].cls == "noun"]
        assert subjects, text
    attractors = examples.groups["attractor"]
    assert attractors and all(" that " in f" {examples.texts[i]} " for i in attractors)
    for i in attractors:  # the dogs that the farmer feeds [are]: the last noun has the other number
        nouns = [info[w].form for w in examples.texts[i].split() if info.get(w) is not None and info[w].cls == "noun"]
        assert nouns[-1] != ("sg" if examples.labels[i] == 0 else "pl")


def test_tasks_and_options_are_validated_with_one_line_each(tmp_path):
    with pytest.raises(RecipeError) as error:
        resolve_tasks(["pos", "sentimnet"], ["lm.pll_sentences=3", "pos.sentences=-1", "pos"])
    lines = error.value.lines()
    assert "--tasks: unknown task 'sentimnet' (did you mean 'sentiment'?)" in lines[0]
    assert any(line.startswith("--option: 'lm.pll_sentences=3': no task 'lm' in this comparison") for line in lines)
    assert any(line.startswith("--option pos.sentences: expected an integer >= 0, got -1") for line in lines)
    assert any("expected TASK.KEY=VALUE" in line for line in lines)
    (lm,) = resolve_tasks(["lm"], ["lm.pseudo_log_likelihood=true"])
    assert lm.params.pseudo_log_likelihood is True and lm.params.measure == "direct"


def test_a_users_jsonl_file_is_a_task_classification_or_tagging(tmp_path):
    tagged = tmp_path / "tags.jsonl"
    tagged.write_text("".join(json.dumps({"text": "a b c", "tags": ["X", "Y", "X"], **({"split": "test"} if i > 7 else {})})
                              + "\n" for i in range(10)))
    (spec,) = resolve_tasks([str(tagged)])
    assert spec.name == "tags" and spec.params.kind == "tagging" and spec.params.read == "words"
    examples = build_task(spec).examples()
    assert examples.names == ["X", "Y"] and examples.labels[0] == [0, 1, 0] and examples.split[-2:] == ["test", "test"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a b", "label": "p"}) + "\n" + json.dumps({"text": "c", "label": None}) + "\nnot json\n")
    (spec,) = resolve_tasks([str(bad)])
    with pytest.raises(DataError) as error:
        build_task(spec).examples()
    assert str(error.value) == f"{bad}:3: not JSON (Expecting value at column 1)"
    bad.write_text(json.dumps({"text": "a b", "tags": ["X"]}) + "\n" + json.dumps({"text": "c", "label": None}) + "\n")
    (spec,) = resolve_tasks([str(bad)])
    with pytest.raises(DataError) as error:
        build_task(spec).examples()
    assert error.value.lines() == [f"{bad}:1: tags: expected 2 tags (one per word of the text), got 1",
                                   f"{bad}:2: tags: expected a list of tags, one per word, got None"]
    with pytest.raises(RecipeError) as error:
        resolve_tasks([str(tmp_path / "absent.jsonl")])
    assert "absent.jsonl: no such file" in error.value.lines()[0]


@pytest.mark.parametrize("text,kind,amount", [
    ("10m", "seconds", 600), ("1h30m", "seconds", 5400), ("90s", "seconds", 90), ("time=2m", "seconds", 120),
    ("steps=600", "steps", 600), ("tokens=2M", "tokens", 2e6), ("tokens=500k", "tokens", 5e5),
    ("flops=1e15", "flops", 1e15),
])
def test_budgets_parse(text, kind, amount):
    budget = parse_budget(text)
    assert (budget.kind, budget.amount) == (kind, amount)


@pytest.mark.parametrize("text", ["ten minutes", "steps=1.5", "tokens=-3", "flops=", "m", "speed=3"])
def test_a_wrong_budget_is_one_line(text):
    with pytest.raises(RecipeError) as error:
        parse_budget(text)
    assert error.value.exit_code == 2 and error.value.lines()[0].startswith("--budget: expected")


def test_a_budget_becomes_steps_and_keeps_the_schedules_shape():
    import plmkit

    calibration = {"tokens_per_step": 4096.0, "flops_per_token": 6e6, "seconds_per_step": 0.25}
    assert steps_for(parse_budget("tokens=2M"), calibration, 600) == 488
    assert steps_for(parse_budget("flops=1e15"), calibration, 600) == 40690
    assert steps_for(parse_budget("1m"), calibration, 600) == 240
    assert steps_for(None, calibration, 600) == 600
    recipe = plmkit.load_recipe("recipes/gpt.yaml")  # 600 steps, 50 of warm-up
    assert budget_overrides(recipe, 120) == ["train.steps=120", "train.warmup_steps=10", "eval.every=15",
                                             "train.checkpoint_every=30"]


def _rows(labels, split):
    examples = Examples([f"t{i}" for i in range(len(labels))], labels, ["a", "b", "c"], split)
    return Rows.of(examples)


def test_probes_find_the_informative_layer_and_the_majority_is_the_majority():
    g = torch.Generator().manual_seed(0)
    n = 300
    labels = torch.randint(0, 3, (n,), generator=g)
    informative = torch.nn.functional.one_hot(labels, 3).float() @ torch.randn(3, 8, generator=g) * 3
    noise = torch.randn(2, n, 8, generator=g)
    features = torch.stack([noise[0], informative + 0.1 * noise[1], noise[1]])  # layer 1 knows the label
    rows = _rows(labels.tolist(), [split_of(k) for k in range(n)])
    layers = probe_layers(features, rows)
    assert layers[1]["accuracy"] == 1.0 and max(layers[0]["accuracy"], layers[2]["accuracy"]) < 0.6
    mix = probe_mix(features, rows)
    assert mix["accuracy"] == 1.0 and mix["mix_weights"][1] == max(mix["mix_weights"])
    again = probe_layers(features, rows)
    assert [a["accuracy"] for a in again] == [a["accuracy"] for a in layers]  # deterministic
    test = [k for k in range(n) if split_of(k) == "test"]
    fit = [k for k in range(n) if split_of(k) != "test"]
    top = torch.bincount(labels[fit]).argmax()
    assert majority(rows)["accuracy"] == pytest.approx(float((labels[test] == top).float().mean()))


def test_random_embeddings_are_fixed_per_word_and_a_bag_for_texts():
    words = random_features(["a b", "b a"], "words", 16, seed=3)
    texts = random_features(["a b", "b a"], "text", 16, seed=3)
    assert words.shape == (1, 4, 16) and torch.equal(words[0, 0], words[0, 3]) and torch.equal(texts[0, 0], texts[0, 1])
    assert not torch.equal(random_features(["a"], "words", 16, seed=4)[0, 0], words[0, 0])


def _report(cells):
    from plmkit.evaluation.report import _mark

    rows = [{"id": k, "kind": "model"} for k in cells]
    table = {k: {"c": v} for k, v in cells.items()}
    return _mark(table, rows, {"id": "c", "higher_is_better": True}), table


def test_the_best_cell_is_marked_only_beyond_the_combined_deviation():
    mark, table = _report({"a": {"mean": 0.90, "std": 0.01, "n": 3}, "b": {"mean": 0.85, "std": 0.02, "n": 3}})
    assert mark == {"best": "a", "tie": []} and table["a"]["c"]["mark"] == "best" and "mark" not in table["b"]["c"]
    mark, table = _report({"a": {"mean": 0.90, "std": 0.03, "n": 3}, "b": {"mean": 0.87, "std": 0.02, "n": 3},
                           "c": {"mean": 0.50, "std": 0.01, "n": 3}})
    assert mark == {"best": None, "tie": ["a", "b"]} and "mark" not in table["c"]["c"]
    mark, _ = _report({"a": {"mean": 0.90, "std": 0.0, "n": 1}, "b": {"mean": 0.10, "std": 0.0, "n": 1}})
    assert mark["best"] is None and mark["note"] == "one seed: no deviation, nothing marked"
