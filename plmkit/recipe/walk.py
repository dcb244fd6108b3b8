"""Walking a recipe: its component sections, every component in it, plain data.

Below both ``schema`` and ``validate`` (they import this; it imports neither), so the three have
no import cycle. No torch here.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel

from ..params import Params
from ..registry import Spec

__all__ = ["COMPONENT_SECTIONS", "iter_specs", "nested_specs", "recipe_to_dict"]

# where the component sections of a recipe live: (dotted key, kind, is a mapping of name -> spec)
COMPONENT_SECTIONS: tuple[tuple[str, str, bool], ...] = (
    ("model.embedding", "embedding", False),
    ("model.attention", "attention", False),
    ("model.recurrent", "recurrent", False),
    ("model.head", "head", True),
    ("batching", "batching", False),
    ("tokenizer", "tokenizer", False),
    ("data", "data", False),
    ("device", "device", False),
)


def nested_specs(params: BaseModel, key: str) -> Iterable[tuple[str, Spec]]:
    """Specs inside a component's parameters (e.g. the ``parts`` of a ``sum`` embedding), with their keys."""
    for field_name in type(params).model_fields:
        value = getattr(params, field_name)
        if isinstance(value, Spec):
            yield f"{key}.{field_name}", value
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, Spec):
                    yield f"{key}.{field_name}.{index}", item
        elif isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, Spec):
                    yield f"{key}.{field_name}.{name}", item


def iter_specs(recipe: Any) -> Iterable[tuple[str, Spec]]:
    """Every component in a validated recipe, nested ones included, with its dotted key."""
    for key, _kind, is_mapping in COMPONENT_SECTIONS:
        value = _attribute(recipe, key)
        items = value.items() if is_mapping and value else [(None, value)]
        for sub, spec in items:
            if isinstance(spec, Spec):
                yield from _walk_spec(spec, f"{key}.{sub}" if sub else key)


def _walk_spec(spec: Spec, key: str) -> Iterable[tuple[str, Spec]]:
    yield key, spec
    for nested_key, nested in nested_specs(spec.params, key):
        yield from _walk_spec(nested, nested_key)


def _attribute(obj: Any, key: str) -> Any:
    for part in key.split("."):
        obj = getattr(obj, part, None)
    return obj


def recipe_to_dict(value: Any) -> Any:
    """A recipe (or part of one) as plain data, each component as ``{type, ...all params}``."""
    if isinstance(value, Spec):
        params = value._params
        body = recipe_to_dict(params) if isinstance(params, Params) else value.raw_params()
        return {"type": value.type, **body}
    if isinstance(value, BaseModel):
        return {name: recipe_to_dict(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: recipe_to_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [recipe_to_dict(v) for v in value]
    return value
