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

from pydantic import ValidationError

from ..errors import Problem, RecipeError
from ..plugins import attributed, get_plugins, get_registry
from ..registry import Spec, did_you_mean, spec_of
from .loader import Loaded, load_data, load_file
from .messages import describe_error
from .objectives import default_batching, objective_problems, untrainable
from .schema import Recipe
from .walk import COMPONENT_SECTIONS, iter_specs, nested_specs, recipe_to_dict

__all__ = ["load_recipe", "recipe_from_dict", "validate", "resolve_spec", "iter_specs", "recipe_to_dict"]


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
    _default_batching(data, loaded, problems)
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
    recipe._warnings = _warnings(recipe, loaded)
    return recipe


def _warnings(recipe: Recipe, loaded: Loaded) -> list[Problem]:
    """Things a recipe author probably did not mean, which do not make the recipe invalid."""
    found = []
    why = untrainable(recipe)
    if why:
        found.append(Problem("model.head", why, loaded.where("model.head")))
    train = recipe.train
    if train.warmup_steps > train.steps:
        found.append(Problem("train.warmup_steps", f"{train.warmup_steps} warm-up steps are more than the run's "
                             f"{train.steps} steps: the learning rate never reaches train.lr; lower warmup_steps",
                             loaded.where("train.warmup_steps")))
    return found


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
    for field_key, nested in nested_specs(params, key):
        nested_params = nested.raw_params() | {"type": nested.type}
        resolved = resolve_spec(nested.kind, nested_params, field_key, loaded, problems)
        if isinstance(resolved, Spec):
            nested.attach(resolved.component, resolved.params)
    spec = spec_of(kind)(type=name, **params_raw)
    spec.attach(component, params)
    return spec


def _default_batching(data: dict[str, Any], loaded: Loaded, problems: list[Problem]) -> None:
    """Without a ``batching:`` section, the built-in (else the only plugin) batching serving the heads."""
    heads = (data.get("model") or {}).get("head") if isinstance(data.get("model"), dict) else None
    if data.get("batching") is not None or not isinstance(heads, dict):
        return
    specs = {name: spec for name, spec in heads.items() if spec is not None}
    if not specs or not all(isinstance(spec, Spec) for spec in specs.values()):
        return  # a head is wrong: its own problem is reported; nothing to choose from
    name, problem = default_batching(specs, get_registry())
    if problem:
        problems.append(Problem("model.head", problem, loaded.where("model.head")))
    elif name is not None:
        data["batching"] = resolve_spec("batching", {"type": name}, "batching", loaded, problems)


def _missing_type(kind: str) -> str:
    names = ", ".join(get_registry().names(kind)) or "none registered"
    return f"missing: name the {kind} component with type: NAME; registered: {names}"


def _unknown(kind: str, name: str) -> str:
    names = get_registry().names(kind)
    listing = ", ".join(names) or "none registered"
    return f"unknown {kind} {name!r}{did_you_mean(name, names)}; registered: {listing}{get_plugins().unknown_hint(kind, name)}"


# -- pass 3: rules across components ---------------------------------------------------------
def _cross_checks(recipe: Recipe, loaded: Loaded) -> list[Problem]:
    problems = []
    for key, spec in iter_specs(recipe):
        with attributed(recipe):  # a plugin's check() that raises: one line naming it, not a traceback
            found = spec.params.check(recipe, key)
        for problem_key, message in found:
            problems.append(Problem(problem_key, message, loaded.where(problem_key)))
    for problem_key, message in objective_problems(recipe):
        problems.append(Problem(problem_key, message, loaded.where(problem_key)))
    return problems


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
