"""``plmkit schema``: every shipped recipe passes the emitted JSON Schema (the real ``jsonschema``
package), and the mistakes people make fail it at the key where they are."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from conftest import RECIPES, run_cli
from plmkit.plugins import get_registry
from plmkit.recipe.jsonschema import recipe_schema
from plmkit.recipe.loader import parse_value

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def schema():
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    emitted = json.loads(result.stdout)
    jsonschema.Draft7Validator.check_schema(emitted)
    return emitted


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft7Validator(schema)


def read(path) -> dict:
    return parse_value(Path(path).read_text(encoding="utf-8"))  # YAML as plmkit reads it (3e-4 is a number)


def errors(validator, data) -> list[tuple[str, str]]:
    """(dotted key, message) of each error, as jsonschema's best_match reads it (the alternatives
    of an optional section or a value that may also be ${...} are looked into)."""
    found = [jsonschema.exceptions.best_match([e]) for e in validator.iter_errors(data)]
    return sorted((".".join(map(str, e.absolute_path)), e.message) for e in found)


def every_error(errors_):
    for error in errors_:
        yield error
        yield from every_error(error.context or [])


def test_every_shipped_recipe_passes(validator):
    shipped = json.loads(run_cli("recipes", "--json").stdout)
    names = {r["recipe"] for r in shipped}
    assert {"plmkit:gpt.yaml", "plmkit:bert.yaml", "plmkit:elmo.yaml", "plmkit:gpt-rotary.yaml"} <= names
    for recipe in shipped:
        assert errors(validator, read(recipe["path"])) == [], recipe["recipe"]


def test_every_registered_component_is_described(schema):
    definitions = schema["definitions"]
    for component in get_registry().all():
        definition = definitions[f"{component.kind}.{component.name}"]
        assert definition["properties"]["type"] == {"const": component.name, "description": component.description}
        assert definition["additionalProperties"] is False
        assert component.name in definitions[component.kind]["properties"]["type"]["enum"]
    heads = definitions["attention.transformer"]["properties"]["heads"]
    assert heads["description"] == "attention heads; must divide model.hidden" and heads["default"] == 4
    assert heads["anyOf"][0] == {"minimum": 1, "type": "integer"}
    assert definitions["attention.transformer"]["properties"]["norm"]["anyOf"][0]["enum"] == ["pre", "post"]


def test_plugin_components_are_in_it():
    pytest.importorskip("plmkit_alibi")
    definitions = recipe_schema()["definitions"]
    assert "[plmkit-alibi]" in definitions["attention.alibi"]["description"]


GPT = RECIPES / "gpt.yaml"


@pytest.mark.parametrize("where,change,expected", [
    ("unknown key", lambda r: r["model"]["attention"].update(hedas=4),
     ("model.attention", "Additional properties are not allowed ('hedas' was unexpected)")),
    ("another type's key", lambda r: r["model"]["attention"].update(cell_dim=64),
     ("model.attention", "Additional properties are not allowed ('cell_dim' was unexpected)")),
    ("unknown component", lambda r: r["model"]["attention"].update(type="transformr"),
     ("model.attention.type", "'transformr' is not one of")),
    ("wrong type", lambda r: r["train"].update(steps="many"), ("train.steps", "'many' is not of type 'integer'")),
    ("out of bounds", lambda r: r["eval"].update(holdout=0.7), ("eval.holdout", "0.7 is greater than or equal to the maximum of 0.5")),
    ("below bounds", lambda r: r["model"]["attention"].update(dropout=-0.1), ("model.attention.dropout", "-0.1 is less than the minimum of 0")),
    ("not a choice", lambda r: r["model"]["attention"].update(norm="middle"), ("model.attention.norm", "'middle' is not one of ['pre', 'post']")),
    ("nested component", lambda r: r["model"]["embedding"]["parts"].append({"type": "rotary", "bse": 3}),
     ("model.embedding.parts.2", "Additional properties are not allowed ('bse' was unexpected)")),
    ("misspelt section", lambda r: r.update(trian=r.pop("train")), ("", "Additional properties are not allowed ('trian' was unexpected)")),
])
def test_typical_mistakes_fail_where_they_are(validator, where, change, expected):
    recipe = read(GPT)
    change(recipe)
    assert errors(validator, recipe), where
    assert _any_message(validator, recipe, *expected), (where, errors(validator, recipe))


def _any_message(validator, recipe, key, message) -> bool:
    """The message at the key, among the errors and the alternatives tried there."""
    return any(".".join(map(str, e.absolute_path)) == key and message in e.message
               for e in every_error(validator.iter_errors(recipe)))


def test_interpolations_and_partial_recipes_pass_but_partial_keys_are_still_checked(validator):
    recipe = read(GPT)
    recipe["model"]["max_positions"] = "${train.seq_len}"
    assert errors(validator, recipe) == []
    child = {"extends": "gpt.yaml", "name": "wider", "model": {"hidden": 256, "attention": {"heads": 8}}}
    assert errors(validator, child) == []  # no type: the parent's transformer, nothing required
    child["model"]["attention"] = {"type": "transformer", "hedas": 8}
    assert errors(validator, child) == [("model.attention", "Additional properties are not allowed ('hedas' was unexpected)")]
    del child["extends"]
    assert ("", "'train' is a required property") in errors(validator, child)


def test_the_schema_command_writes_a_file_and_imports_no_torch(tmp_path):
    probe = ("import sys; from plmkit.cli.main import main; code = main(['schema', '--out', sys.argv[1]]); "
             "print([m for m in ('torch', 'tokenizers', 'transformers') if m in sys.modules])")
    import subprocess

    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "s.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / "s.json"), "[]"]
    assert json.loads((tmp_path / "s.json").read_text())["title"] == "plmkit recipe"


def test_the_partial_schema_is_the_full_one_without_requirements():
    schema = recipe_schema()
    full, partial = schema["definitions"]["recipe"], schema["definitions"]["partial.recipe"]
    assert full["required"] == ["name", "model", "tokenizer", "data", "train"]
    assert partial["required"] == ["extends"] and set(partial["properties"]) == {"extends", *full["properties"]}
    assert copy.deepcopy(full["properties"]["train"]) == {"$ref": "#/definitions/recipe.TrainSection"}
