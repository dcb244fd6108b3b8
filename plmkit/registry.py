"""The component registry: every kind, every registered name, and who provided it.

A component is a name within a kind, a pydantic model of its parameters and a builder.
Plugins (plmkit's own built-ins included) add components through the ``register`` callback
handed to their ``register_components`` hook; the registry records which plugin package
registered each name, and refuses a second registration of the same kind/name.

Nothing here imports torch: validating a recipe must stay fast.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from .errors import PluginError
from .params import KIND_BASES, Params, class_fact_problem

__all__ = ["KINDS", "Params", "Component", "Registry", "Spec", "spec_of", "did_you_mean"]

#: Every kind of component, in the order a model is assembled, then ``task`` (the downstream tasks
#: of ``plmkit compare``, not part of a recipe). The kind is also the recipe key and the folder
#: name under plmkit/components/.
KINDS: tuple[str, ...] = (
    "embedding",
    "attention",
    "recurrent",
    "head",
    "batching",
    "device",
    "tokenizer",
    "data",
    "task",
)


@dataclass(frozen=True)
class Component:
    """A registered component: ``kind``/``name``, its parameter model and its builder."""

    kind: str
    name: str
    params: type[Params]
    build: Callable[..., Any]
    description: str
    provider: str  # the plugin that registered it, e.g. "plmkit" or "plmkit-talking-heads"
    provider_version: str = ""

    def parameters(self) -> list[tuple[str, str, Any, str]]:
        """``(name, type, default, description)`` for each parameter, for listings."""
        rows = []
        for name, info in self.params.model_fields.items():
            annotation = type_name(info.annotation)
            default = "required" if info.is_required() else info.get_default(call_default_factory=True)
            rows.append((name, annotation, default, info.description or ""))
        return rows


def type_name(annotation: Any) -> str:
    """A readable type for listings: ``int``, ``int | None``, ``'pre' | 'post'``, ``list[...]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def did_you_mean(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Registry:
    """All registered components, by kind and name.

    ``refusal`` says why a component cannot be added (an unknown kind, a name already taken, a
    parameter model that does not subclass its kind's base, a build that is not callable), so a
    plugin's components can all be checked before any of them is added.
    """

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def refusal(self, component: Component) -> str | None:
        """Why ``component`` cannot be added, in one line; None if it can."""
        kind, name = component.kind, component.name
        if kind not in self._components:
            return (f"registers {name!r} under unknown kind {kind!r}{did_you_mean(str(kind), list(KINDS))}; "
                    f"kinds are: {', '.join(KINDS)}")
        if not isinstance(name, str) or not name:
            return f"{kind} {name!r}: a component's name must be a non-empty string"
        base = KIND_BASES.get(kind, Params)
        if not (isinstance(component.params, type) and issubclass(component.params, base)):
            return f"{kind} {name!r}: its Params must subclass plmkit.{base.__name__} (got {_described(component.params)})"
        fact = class_fact_problem(component.params)
        if fact is not None:
            return f"{kind} {name!r}: {fact}"
        if not callable(component.build):
            return f"{kind} {name!r}: its build must be callable as build(params, ctx) (got {_described(component.build)})"
        existing = self._components[kind].get(name)
        if existing is not None:
            if existing.provider == component.provider:
                return f"{kind} {name!r} is registered twice by {component.provider}"
            return (f"{kind} {name!r} is already registered by {existing.provider}, so {component.provider} "
                    f"cannot register it; rename it in {component.provider}, or leave one of the two out "
                    f"with PLMKIT_PLUGINS")
        return None

    def add(self, component: Component) -> None:
        """Add one component; ``PluginError`` (with the refusal) if it cannot be added."""
        problem = self.refusal(component)
        if problem is not None:
            raise PluginError(problem)
        self._components[component.kind][component.name] = component

    def get(self, kind: str, name: str) -> Component | None:
        return self._components.get(kind, {}).get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self._components.get(kind, {}))

    def of_kind(self, kind: str) -> list[Component]:
        return [self._components[kind][n] for n in self.names(kind)]

    def all(self) -> list[Component]:
        return [c for kind in KINDS for c in self.of_kind(kind)]

    def of_provider(self, provider: str) -> list[Component]:
        return [c for c in self.all() if c.provider == provider]


def _described(value: Any) -> str:
    """``class X, a subclass of plmkit.Params`` / ``str 'x'``: what a plugin passed, for messages."""
    if isinstance(value, type):
        bases = [b for b in value.__mro__[1:] if b.__module__.startswith("plmkit.")]
        base = f", a subclass of plmkit.{bases[0].__name__}" if bases else ""
        return f"class {value.__name__}{base}"
    return f"{type(value).__name__} {value!r}"[:120]


class Spec(BaseModel):
    """A reference to a registered component inside a recipe: ``{type: NAME, ...params}``.

    The recipe validator looks ``type`` up in the registry (for this spec's ``kind``), validates
    the remaining keys against the component's parameter model and attaches the result, so
    ``spec.params`` is the validated parameter model and ``spec.component`` the component.
    """

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str] = ""

    type: str
    _component: Any = PrivateAttr(default=None)
    _params: Any = PrivateAttr(default=None)

    def raw_params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def params(self) -> Params:
        if self._params is None:
            raise RuntimeError(f"{self.kind} {self.type!r} was not resolved against the registry")
        return self._params

    @property
    def component(self) -> Component:
        return self._component

    def attach(self, component: Component, params: Params) -> None:
        self._component = component
        self._params = params


_SPEC_CLASSES: dict[str, type[Spec]] = {}


def spec_of(kind: str) -> type[Spec]:
    """The ``Spec`` subclass for one kind; use it to type a parameter that names a component."""
    if kind not in _SPEC_CLASSES:
        _SPEC_CLASSES[kind] = type(f"{kind.title()}Spec", (Spec,), {"kind": kind, "__module__": __name__})
    return _SPEC_CLASSES[kind]
