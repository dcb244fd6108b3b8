"""The recipe format as a JSON Schema, for editors (``plmkit schema``). No torch here.

Built from the same pydantic models that validate a recipe, and from every registered component
(plugins' included), so an editor knows exactly what ``plmkit validate`` knows of each key's type,
default, bounds, choices and description. A component section (``{type: NAME, ...}``) is a
list of ``if: {type: NAME} then: <NAME's parameters>`` over that kind's components, each
forbidding keys it does not have: the ``type`` written selects the parameters an editor completes
and checks, and a wrong key is reported as that component's. JSON Schema draft-07, the dialect the
YAML language server and most editors implement (pydantic's tuples become draft-07 ``items`` lists).

Two things the schema allows because the recipe loader does:

* ``${...}`` interpolations (``max_positions: ${train.seq_len}``) wherever a value is expected;
* a recipe that ``extends`` another gives only what it changes: with ``extends`` nothing is
  required, and a component section without ``type`` (the parent's component) is not checked.

Rules across sections (heads dividing the hidden size, ...) stay with ``plmkit validate``.
"""

from __future__ import annotations

import copy
from typing import Any

from ..registry import KINDS, Component
from .schema import Recipe

__all__ = ["recipe_schema", "DIALECT"]

DIALECT = "http://json-schema.org/draft-07/schema#"
PARTIAL = "partial."
_SPEC_DEFS = {f"{kind.title()}Spec": kind for kind in KINDS}  # pydantic's names for registry.spec_of(kind)
_INTERPOLATION = {
    "type": "string", "pattern": r"\$\{.+\}",
    "description": "an interpolation, resolved when the recipe is loaded: ${train.seq_len}, ${mul:4,${model.hidden}}",
}
_EXTENDS = {
    "description": "recipe file(s) this one starts from (a path relative to this file, or PACKAGE:NAME.yaml); "
                   "this file gives only what it changes",
    "anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string", "minLength": 1}}],
}


def recipe_schema(registry: Any = None) -> dict[str, Any]:
    """The JSON Schema (draft-07) of a recipe file, with every component of ``registry``
    (default: plmkit's and the installed plugins')."""
    if registry is None:
        from ..plugins import get_registry

        registry = get_registry()
    defs: dict[str, Any] = {"interpolation": _INTERPOLATION}
    for component in registry.all():
        defs.update(_component_defs(component))
    for kind in KINDS:
        defs[kind] = _kind_union(kind, registry.of_kind(kind))
    defs.update(_recipe_defs())
    defs.update({PARTIAL + name: _partial(name, schema) for name, schema in list(defs.items())
                 if name != "interpolation"})
    defs[PARTIAL + "recipe"]["properties"] = {"extends": _EXTENDS, **defs[PARTIAL + "recipe"]["properties"]}
    defs[PARTIAL + "recipe"]["required"] = ["extends"]
    return {
        "$schema": DIALECT,
        "title": "plmkit recipe",
        "description": "A plmkit recipe: the model, tokenizer, data, device and training of one run "
                       "(plmkit validate checks the rules across sections too).",
        "if": {"required": ["extends"]},
        "then": {"$ref": f"#/definitions/{PARTIAL}recipe"},
        "else": {"$ref": "#/definitions/recipe"},
        "definitions": _draft7(defs),
    }


# -- pieces ------------------------------------------------------------------------------------
def _component_defs(component: Component) -> dict[str, Any]:
    """``{kind.name: schema}`` (+ the definitions its parameters use, under the same prefix)."""
    name = f"{component.kind}.{component.name}"
    try:
        schema = component.params.model_json_schema()
    except Exception:  # a plugin's parameter type with no JSON form: the component, its keys unchecked
        schema = {"type": "object", "properties": {}}
    own = schema.pop("$defs", {})
    schema = _tidy(_rename_refs(schema, name), top=True)
    schema["title"] = f"{component.kind} {component.name}"
    schema["description"] = f"{component.description} [{component.provider}]".strip()
    schema["properties"] = {"type": {"const": component.name, "description": component.description},
                            **schema.get("properties", {})}
    schema["required"] = ["type", *schema.get("required", [])]
    defs = {name: schema}
    defs.update({f"{name}.{sub}": _tidy(_rename_refs(value, name)) for sub, value in own.items()
                 if sub not in _SPEC_DEFS})
    return defs


def _kind_union(kind: str, components: list[Component]) -> dict[str, Any]:
    names = [c.name for c in components]
    return {
        "type": "object",
        "description": f"a {kind} component: type names it, the other keys are its parameters",
        "required": ["type"],
        "properties": {"type": {"enum": names, "description": f"the registered {kind}: {', '.join(names)}"}},
        "allOf": [{"if": {"properties": {"type": {"const": n}}, "required": ["type"]},
                   "then": {"$ref": f"#/$defs/{kind}.{n}"}} for n in names],
    }


def _recipe_defs() -> dict[str, Any]:
    """The recipe's own sections (pydantic's ``Recipe`` schema), component sections pointing at the kinds."""
    schema = Recipe.model_json_schema()
    own = schema.pop("$defs", {})
    defs = {"recipe": _tidy(_rename_refs(schema, "recipe"), top=True)}
    defs.update({f"recipe.{name}": _tidy(_rename_refs(value, "recipe"), top=True) for name, value in own.items()
                 if name not in _SPEC_DEFS})
    return defs


def _rename_refs(node: Any, prefix: str) -> Any:
    """pydantic's local ``#/$defs/X`` -> ``#/$defs/<kind>`` for a component section, else ``#/$defs/<prefix>.X``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = ref.removeprefix("#/$defs/")
            node = {**node, "$ref": f"#/$defs/{_SPEC_DEFS.get(target) or f'{prefix}.{target}'}"}
        return {k: _rename_refs(v, prefix) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, prefix) for v in node]
    return node


def _tidy(schema: dict[str, Any], top: bool = False) -> dict[str, Any]:
    """Drop pydantic's generated titles; let every plain value be an interpolation too."""
    schema = {k: v for k, v in schema.items() if not (k == "title" and not top)}
    if "properties" in schema:
        schema["properties"] = {key: _value(_tidy(value)) for key, value in schema["properties"].items()}
    if top:
        schema.pop("title", None)
    return schema


def _value(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop``, or ``${...}`` in its place (a value that holds no section or component)."""
    if _has_ref(prop) or (prop.get("type") == "string" and "enum" not in prop):  # any text is fine already
        return prop
    meta = {k: prop[k] for k in ("description", "default") if k in prop}
    body = {k: v for k, v in prop.items() if k not in meta}
    choices = body["anyOf"] if list(body) == ["anyOf"] else [body]
    return {**meta, "anyOf": [*choices, {"$ref": "#/$defs/interpolation"}]}


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    return isinstance(node, list) and any(_has_ref(v) for v in node)


def _partial(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The same definition for a recipe that extends another: nothing required, refs to partial
    definitions, and a component section without ``type`` left to its parent's component."""
    partial = _without_required(_rename_partial(copy.deepcopy(schema)))
    if name in KINDS:  # without type: the parent's component; with it: that component's keys
        for branch in partial["allOf"]:
            branch["if"]["required"] = ["type"]
    return partial


def _rename_partial(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref != "#/$defs/interpolation":
            node = {**node, "$ref": ref.replace("#/$defs/", f"#/$defs/{PARTIAL}", 1)}
        return {k: _rename_partial(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_partial(v) for v in node]
    return node


def _without_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required" or not isinstance(v, list)}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _draft7(node: Any) -> Any:
    """pydantic writes draft 2020-12: ``$defs`` -> ``definitions``, ``prefixItems`` -> a list of ``items``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/$defs/", "#/definitions/", 1)
            elif key == "prefixItems" and "items" not in node:
                out["items"] = _draft7(value)
            else:
                out[key] = _draft7(value)
        return out
    if isinstance(node, list):
        return [_draft7(v) for v in node]
    return node
