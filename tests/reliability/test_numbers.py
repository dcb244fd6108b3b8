"""Numbers that must be finite are finite, true/false is never read as a number, and every line
plmkit writes to metrics.jsonl (and every JSON file) is strict JSON."""

from __future__ import annotations

import json
import math
import typing

import pytest

from plmkit import load_recipe
from plmkit.errors import RecipeError
from plmkit.plugins import get_registry
from plmkit.training.checkpoint import atomic_write_json
from plmkit.training.rundir import RunDir

from tiny import RECIPES

GPT = RECIPES / "gpt.yaml"


def problems(*overrides):
    with pytest.raises(RecipeError) as info:
        load_recipe(GPT, list(overrides))
    return info.value.lines()


@pytest.mark.parametrize("override, expected", [
    ("train.lr=.inf", "command line: train.lr: expected a finite number, got inf"),
    ("train.lr=-.inf", "command line: train.lr: expected a finite number, got -inf"),
    ("eval.holdout=.nan", "command line: eval.holdout: expected a finite number, got nan"),
    ("model.attention.init_std=.inf", "command line: model.attention.init_std: expected a finite number, got inf"),
    ("train.steps=true", "command line: train.steps: expected an integer >= 1, got True"),
    ("model.hidden=false", "command line: model.hidden: expected an integer >= 1, got False"),
    ("train.lr=true", "command line: train.lr: expected a number > 0, got True"),
    ("train.betas=[true,0.9]", "command line: train.betas: expected a number, got [True, 0.9]"),
    ("model.attention.heads=true", "command line: model.attention.heads: expected an integer >= 1, got True"),
])
def test_infinities_and_booleans_are_not_numbers(override, expected):
    assert problems(override) == [expected]


def test_every_float_parameter_of_every_component_refuses_inf_and_nan():
    for component in get_registry().all():
        for name, info in component.params.model_fields.items():
            annotation = info.annotation
            if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
                annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), None)
            if annotation is not float:
                continue
            for bad in (math.inf, math.nan):
                errors = _errors(component.params, {name: bad})
                assert any(e["loc"] == (name,) and e["type"] == "finite_number" for e in errors), (component.name, name)


def _errors(params_class, values):
    from pydantic import ValidationError

    try:
        params_class.model_validate(values)
    except ValidationError as exc:
        return exc.errors()
    return []


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_metrics_are_strict_json_with_non_finite_values_flagged(tmp_path):
    run = RunDir(tmp_path)
    run.append_metrics({"step": 1, "loss": math.nan, "lr": math.inf, "grad_norm": 0.5})
    run.append_metrics({"step": 2, "loss": 1.25, "lr": 1e-3})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    first, second = (_strict(line) for line in lines)
    assert first == {"step": 1, "loss": None, "lr": None, "grad_norm": 0.5, "nonfinite": ["loss", "lr"]}
    assert second == {"step": 2, "loss": 1.25, "lr": 1e-3}


def test_json_files_are_strict_too(tmp_path):
    atomic_write_json(tmp_path / "summary.json", {"eval": {"loss": math.inf, "ok": [1.0, math.nan]}})
    assert _strict((tmp_path / "summary.json").read_text()) == {"eval": {"loss": None, "ok": [1.0, None]}}
