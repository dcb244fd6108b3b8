"""Validate a loaded recipe: its sections, every component it names, then rules across them.

Three passes, each reporting every problem it finds:

1. each ``{type: NAME, ...}`` section is looked up in the registry and its parameters validated
   against that component's own pydantic model (so plugin components are checked exactly like
   built-ins), recursively for components that contain components;
2. the recipe's own sections (name, model, train, eval) are validated by ``schema.Recipe``;
3. if both passed, every component's ``Params.check(recipe, key)`` looks across the recipe
   (heads dividing the hidden size, a causal head needing a causal encoder, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from ..errors import Problem, RecipeError
from ..plugins import get_plugins, get_registry
from ..registry import Params, Spec, did_you_mean, spec_of
from ..data.layouts import COMBINATIONS, layout_for
from .loader import Loaded, load_data, load_file
from .messages import describe_error
from .schema import Recipe

# where the component sections of a recipe live: (dotted key, kind, is a mapping of name -> spec)
COMPONENT_SECTIONS: tuple[tuple[str, str, bool], ...] = (
    ("model.embedding", "embedding", False),
    ("model.attention", "attention", False),
    ("model.recurrent", "recurrent", False),
    ("model.head", "head", True),
    ("tokenizer", "tokenizer", False),
    ("data", "data", False),
    ("device", "device", False),
)


def load_recipe(path: str | Path, overrides: Iterable[str] = (), base: str | Path | None = None) -> Recipe:
    """Load, resolve and validate a recipe file; raise ``RecipeError`` listing every problem.

    Relative paths inside the recipe (data files, a tokenizer) are relative to the folder of
    ``base`` if given (a run folder's saved recipe names the file the run started from), else
    of the recipe file itself.
    """
    loaded = load_file(path, [overrides] if isinstance(overrides, str) else overrides)
    return validate(loaded, base)


def recipe_from_dict(
    data: dict[str, Any], source: str = "<dict>", overrides: Iterable[str] = (), base: str | Path | None = None
) -> Recipe:
    """Validate a recipe given as plain data (used by interop and by ``load_run``)."""
    return validate(load_data(data, source, overrides), base)


def validate(loaded: Loaded, base: str | Path | None = None) -> Recipe:
    problems: list[Problem] = []
    data = dict(loaded.data)
    data.setdefault("device", {"type": "auto"})  # a default component is resolved like a written one
    _fill_specs(data, loaded, problems)
    reported = {p.key for p in problems}  # a component problem is not repeated by the schema
    recipe = None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            if key in reported:
                continue
            problems.append(Problem(key, describe_error(error, Recipe), loaded.where(key)))
    if recipe is not None and not problems:
        recipe._source = Path(base) if base is not None else loaded.source  # checks resolve paths from here
        problems += _cross_checks(recipe, loaded)
    if problems:
        raise RecipeError(problems=sorted(_unique(problems), key=_reading_order))
    recipe._resolved = loaded.data
    return recipe


# -- pass 1: components -----------------------------------------------------------------------
def _fill_specs(data: dict[str, Any], loaded: Loaded, problems: list[Problem]) -> None:
    """Replace each component section's dict by a resolved ``Spec`` (in place, in a copy)."""
    for key, kind, is_mapping in COMPONENT_SECTIONS:
        parent, name = _parent(data, key)
        if parent is None or not isinstance(parent.get(name), (dict, Spec)):
            continue
        if is_mapping:
            parent[name] = dict(parent[name])
            for head_name, raw in parent[name].items():
                if isinstance(raw, dict):
                    parent[name][head_name] = resolve_spec(kind, raw, f"{key}.{head_name}", loaded, problems)
        else:
            parent[name] = resolve_spec(kind, parent[name], key, loaded, problems)


def _parent(data: dict[str, Any], key: str) -> tuple[dict[str, Any] | None, str]:
    *path, name = key.split(".")
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return None, name
        node[part] = dict(node[part])  # copy on the way down: never mutate the loaded data
        node = node[part]
    return node, name


def resolve_spec(kind: str, raw: dict[str, Any] | Spec, key: str, loaded: Loaded, problems: list[Problem]) -> Any:
    """Look ``raw['type']`` up among ``kind`` and validate the rest against its Params."""
    raw = raw.model_dump() if isinstance(raw, Spec) else raw
    registry = get_registry()
    name = raw.get("type")
    if not isinstance(name, str):
        problems.append(Problem(f"{key}.type", _missing_type(kind), loaded.where(key)))
        return raw
    component = registry.get(kind, name)
    if component is None:
        problems.append(Problem(f"{key}.type", _unknown(kind, name), loaded.where(f"{key}.type")))
        return raw
    params_raw = {k: v for k, v in raw.items() if k != "type"}
    try:
        params = component.params.model_validate(params_raw)
    except ValidationError as exc:
        for error in exc.errors():
            sub = ".".join(str(p) for p in error["loc"])
            full = f"{key}.{sub}" if sub else key
            problems.append(Problem(full, describe_error(error, component.params), loaded.where(full)))
        return raw
    for field_key, nested in _nested_specs(params, key):
        nested_params = nested.raw_params() | {"type": nested.type}
        resolved = resolve_spec(nested.kind, nested_params, field_key, loaded, problems)
        if isinstance(resolved, Spec):
            nested.attach(resolved.component, resolved.params)
    spec = spec_of(kind)(type=name, **params_raw)
    spec.attach(component, params)
    return spec


def _missing_type(kind: str) -> str:
    names = ", ".join(get_registry().names(kind)) or "none registered"
    return f"missing: name the {kind} component with type: NAME; registered: {names}"


def _unknown(kind: str, name: str) -> str:
    names = get_registry().names(kind)
    listing = ", ".join(names) or "none registered"
    return f"unknown {kind} {name!r}{did_you_mean(name, names)}; registered: {listing}{get_plugins().unknown_hint()}"


def _nested_specs(params: BaseModel, key: str) -> Iterable[tuple[str, Spec]]:
    """Specs inside a component's parameters (e.g. the ``parts`` of a ``sum`` embedding)."""
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


# -- pass 3: rules across components ---------------------------------------------------------
def iter_specs(recipe: Recipe) -> Iterable[tuple[str, Spec]]:
    """Every component in the recipe, nested ones included, with its dotted key."""
    for key, _kind, is_mapping in COMPONENT_SECTIONS:
        parent, name = _attr_parent(recipe, key)
        value = getattr(parent, name, None) if parent is not None else None
        items = value.items() if is_mapping and value else [(None, value)]
        for sub, spec in items:
            if isinstance(spec, Spec):
                spec_key = f"{key}.{sub}" if sub else key
                yield from _walk_spec(spec, spec_key)


def _walk_spec(spec: Spec, key: str) -> Iterable[tuple[str, Spec]]:
    yield key, spec
    for nested_key, nested in _nested_specs(spec.params, key):
        yield from _walk_spec(nested, nested_key)


def _attr_parent(recipe: Recipe, key: str) -> tuple[Any, str]:
    *path, name = key.split(".")
    node: Any = recipe
    for part in path:
        node = getattr(node, part, None)
    return node, name


def _cross_checks(recipe: Recipe, loaded: Loaded) -> list[Problem]:
    problems = []
    for key, spec in iter_specs(recipe):
        for problem_key, message in spec.params.check(recipe, key):
            problems.append(Problem(problem_key, message, loaded.where(problem_key)))
    for problem_key, message in _head_rules(recipe):
        problems.append(Problem(problem_key, message, loaded.where(problem_key)))
    return problems


def _head_rules(recipe: Recipe) -> list[tuple[str, str]]:
    """Rules about the heads together: one language model, one batch layout."""
    heads = {name: spec for name, spec in recipe.model.head.items() if spec is not None}
    lm_heads = [name for name, spec in heads.items() if spec.params.language_model]
    problems = []
    if len(lm_heads) > 1:
        problems.append(("model.head", f"heads {', '.join(lm_heads)} are all language models; keep one"))
    needs = {name: spec.params.objective for name, spec in heads.items()}
    used = {need for need in needs.values() if need}
    if used and layout_for(used) is None:
        listing = ", ".join(f"{n} ({need})" for n, need in needs.items() if need)
        problems.append(("model.head", f"these heads need batches of different shapes: {listing}; "
                                       f"plmkit batches {COMBINATIONS}"))
    return problems


# -- the resolved recipe as data --------------------------------------------------------------
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


def _reading_order(problem: Problem) -> tuple:
    """Problems in the order a person reads them: by file, then line; the command line last."""
    file, _, line = problem.where.rpartition(":")
    if not line.isdigit():
        return (1, problem.where, 0)
    return (0, file, int(line))


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, result = set(), []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            result.append(p)
    return result
