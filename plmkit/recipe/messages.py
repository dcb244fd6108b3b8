"""Turn pydantic's validation errors into sentences a recipe author can act on.

Each message says what was expected and what was received, e.g.
``expected an integer >= 1, got 'two'``; an unknown key gets the allowed keys and a
did-you-mean suggestion.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..registry import did_you_mean

_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
}


def describe_error(error: dict[str, Any], model: type[BaseModel]) -> str:
    """One sentence for one pydantic error dict, validated against ``model``."""
    kind = error["type"]
    loc = tuple(error["loc"])
    received = _show(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"required, but missing{_describe_field(model, loc)}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        name = str(loc[-1]) if loc else ""
        listing = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown key{did_you_mean(name, allowed)}{listing}"
    if kind == "finite_number":
        return f"expected a finite number, got {received}"
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"expected {bound} {limit} item(s), got {received}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {received}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"expected {_expected_word(model, loc)}{_bounds(model, loc)}, got {received}"
    base = kind.split("_")[0] if kind.split("_")[0] in _KIND_WORDS else kind.rsplit("_", 1)[0]
    if kind.endswith(("_parsing", "_type")) or kind == "int_from_float":
        word = _KIND_WORDS.get(base, _expected_word(model, loc))
        return f"expected {word}{_bounds(model, loc)}, got {received}"
    message = str(error.get("msg", kind))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- finding the field an error is about -------------------------------------------------------
def _field(model: type[BaseModel], loc: tuple) -> FieldInfo | None:
    """The FieldInfo at ``loc`` inside ``model``, following nested models, lists and dicts."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        # list indexes and dict keys: step into the item type
        elif typing.get_origin(current) in (list, tuple, dict):
            args = typing.get_args(current)
            current = args[-1] if args else Any
        else:
            return info
    return info


def _unwrap(annotation: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    target: Any = model
    if loc:
        info = _field(model, loc)
        target = _unwrap(info.annotation) if info is not None else None
        while typing.get_origin(target) in (list, dict):
            target = _unwrap(typing.get_args(target)[-1])
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _expected_word(model: type[BaseModel], loc: tuple) -> str:
    info = _field(model, loc)
    annotation = _unwrap(info.annotation) if info is not None else None
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    return "a value"


def _bounds(model: type[BaseModel], loc: tuple) -> str:
    info = _field(model, loc)
    if info is None:
        return ""
    words = []
    for constraint in info.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(constraint, attr, None)
            if value is not None:
                words.append(f"{symbol} {value}")
    return (" " + " and ".join(words)) if words else ""


def _describe_field(model: type[BaseModel], loc: tuple) -> str:
    info = _field(model, loc)
    if info is None or not info.description:
        return ""
    return f" ({info.description})"
