"""Invariants over every registered component, plmkit's and the installed plugins' alike:

* whatever ``plmkit validate`` accepts, ``plmkit run --dry-run`` builds (device, data source,
  batching and model): a rule only discovered while building belongs in validation;
* a device this machine lacks is one line and exit 1, never a traceback.

Each component is put in a small recipe as ``plmkit.testing.tiny_recipe`` does, written to a
file, and driven through the CLI's entry point in this process (the same code as the command).
"""

from __future__ import annotations

import json

import pytest
import yaml

from plmkit.cli.main import main
from plmkit.plugins import get_registry
from plmkit.testing import tiny_recipe

from test_contracts import PARTS_ONLY, SETUPS

UNAVAILABLE_DEVICES = {"cuda", "mps"}  # not on this machine: a clean exit 1 is their dry run


def _base(tmp_path) -> dict:
    return tiny_recipe("attention", "transformer", heads=2)


def _data_setup(tmp_path) -> dict[str, dict]:
    text = tmp_path / "corpus.txt"
    text.write_text("the dog runs . the cat sleeps .\n\na farmer feeds the horses .\n", encoding="utf-8")
    lines = tmp_path / "corpus.jsonl"
    lines.write_text(json.dumps({"text": "the dog runs ."}) + "\n" + json.dumps({"text": "a cat sleeps ."}) + "\n")
    return {"text": {"paths": [str(text)]}, "jsonl": {"paths": [str(lines)]},
            "hf_dataset": {"name_or_path": "json", "data_files": [str(lines)]}}


def _tokenizer_file(tmp_path) -> str:
    from plmkit.data.tokenize import train_byte_bpe

    return str(train_byte_bpe(["the dog runs . a cat sleeps ."] * 20, 300).save(tmp_path / "tok"))


def recipe_for(kind: str, name: str, tmp_path) -> dict:
    """A small recipe (as data) that uses component ``kind``/``name``."""
    if kind in ("embedding", "attention", "recurrent", "head"):
        return tiny_recipe(kind, name, **SETUPS.get((kind, name), {}))
    data = _base(tmp_path)
    if kind == "batching":
        from plmkit.testing import _heads_for  # the heads whose objectives it serves

        heads = _heads_for(get_registry().get("batching", name).params.objectives)
        data = tiny_recipe("head", next(iter(heads.values())).name)
        data["model"]["head"] = {c.name: {"type": c.name} for c in heads.values()}
    params = {"data": _data_setup(tmp_path), "tokenizer": {"pretrained": {"path": _tokenizer_file(tmp_path)}}}
    data[kind] = {"type": name, **params.get(kind, {}).get(name, {})}
    return data


def every_component():
    registry = get_registry()
    for component in registry.all():
        if component.kind == "embedding" and component.name in PARTS_ONLY:
            continue
        if component.kind == "task":  # not part of a recipe; tests/evaluation/test_tasks.py checks every task
            continue
        yield pytest.param(component.kind, component.name, id=f"{component.kind}-{component.name}")


@pytest.mark.parametrize("kind,name", list(every_component()))
def test_what_validates_also_builds(kind, name, tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe_for(kind, name, tmp_path)))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    code = main(["run", str(path), "--dry-run"])
    err = capsys.readouterr().err
    if kind == "device" and name in UNAVAILABLE_DEVICES and code == 1:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return
    assert code == 0, err
