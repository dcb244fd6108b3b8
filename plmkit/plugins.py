"""The one plugin manager: plmkit's built-ins plus every package in the ``plmkit`` entry-point group.

Loading is contained, plugin by plugin. Built-ins load first, then entry points sorted by name.
Each plugin is registered with pluggy, its hook names are checked (``check_pending``), and its
``register_components`` hook is called through pluggy on its own, with a ``register`` callback
that records the plugin as the provider of what it registers. A plugin is all or nothing: if
its import fails, its hook raises, or anything it registers is refused (unknown kind, a name
already taken, a wrong Params class, a build that is not callable), none of its components
are added, its hooks are unregistered and ``plmkit plugins`` shows it as failed with the reason.
On a name collision the component registered first stays and the later plugin fails.

``PLMKIT_PLUGINS`` (comma-separated entry-point or distribution names; empty for none)
restricts which third-party plugins load; plmkit's own built-ins always load.

At run time, ``blame`` turns an exception raised by a plugin's code (a Params ``check``, a
``build``, a forward pass, a training hook) into one line naming the plugin, its component and
the recipe keys that use it (docs/plugins.md lists every failure and its message).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pluggy

from . import hookspecs
from .errors import PlmkitError, PluginError, Problem
from .registry import Component, Params, Registry, did_you_mean

__all__ = ["PluginInfo", "Plugins", "get_plugins", "get_registry", "reset", "blame", "attributed"]

ENTRY_POINT_GROUP = "plmkit"
ALLOW_ENV = "PLMKIT_PLUGINS"
BUILTIN = "plmkit"
HOOKS: tuple[str, ...] = tuple(n for n in vars(hookspecs) if hasattr(getattr(hookspecs, n), "plmkit_spec"))


@dataclass
class PluginInfo:
    """One plugin as ``plmkit plugins`` shows it."""

    name: str  # entry-point name (or "plmkit" for the built-ins)
    package: str  # distribution that provides it
    version: str
    status: str = "loaded"  # "loaded", "failed" or "excluded" (installed, but not in PLMKIT_PLUGINS)
    reason: str = ""  # why it failed or is excluded
    components: list[str] = field(default_factory=list)  # "kind/name", registered
    withdrawn: list[str] = field(default_factory=list)  # "kind/name" a failed plugin had registered
    hooks: list[str] = field(default_factory=list)  # the hooks it implements
    note: str = ""  # said of a loaded plugin that registers nothing
    location: str = ""  # its code: a package's folder or a module's file


class Plugins:
    """Loads plugins, fills the registry, and remembers what failed and why."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager("plmkit")
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []
        self.errors: dict[str, BaseException] = {}  # plugin name -> what made it fail (for --debug)

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> "Plugins":
        from . import components as builtins

        self._add(builtins, PluginInfo(BUILTIN, "plmkit", _version("plmkit")))
        allowed = _allow_list()
        for entry_point in _entry_points():
            package = entry_point.dist.name if entry_point.dist else entry_point.value
            info = PluginInfo(entry_point.name, package, _version(package))
            self.infos.append(info)
            if allowed is not None and entry_point.name not in allowed and package not in allowed:
                info.status, info.reason = "excluded", f"not in {ALLOW_ENV}"
                continue
            try:
                module = entry_point.load()
            except Exception as exc:  # a broken plugin must not break plmkit
                self._fail(info, None, f"{type(exc).__name__}: {_first_line(exc)}", exc)
                continue
            self._add(module, info)
        return self

    def _add(self, plugin: Any, info: PluginInfo) -> None:
        """Register one plugin and its components, all or nothing."""
        if info not in self.infos:
            self.infos.append(info)
        info.location = str(_location(plugin) or "")
        staged: list[Component] = []
        try:
            self.manager.register(plugin, name=info.name)
        except Exception as exc:  # pluggy refused it: a hook's arguments, a name taken twice
            self._fail(info, None, f"{type(exc).__name__}: {_first_line(exc, all_lines=True)}", exc)
            return
        try:
            self._check_hook_names(plugin)
            self._call_register(plugin, info, staged)
        except Exception as exc:
            self._fail(info, plugin, _hook_reason(exc, info), exc, staged)
            return
        for component in staged:  # every one was checked against the registry when registered
            self.registry.add(component)
        info.components = [f"{c.kind}/{c.name}" for c in staged]
        info.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])
        if not staged:
            info.note = ("registers no components: it implements no register_components hook"
                         if "register_components" not in info.hooks else
                         "registers no components: its register_components hook registered none")

    def _check_hook_names(self, plugin: Any) -> None:
        for caller in self.manager.get_hookcallers(plugin) or []:
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            if not caller.has_spec() and any(not impl.optionalhook for impl in impls):
                raise PluginError(f"implements unknown hook {caller.name!r}{did_you_mean(caller.name, list(HOOKS))}; "
                                  f"plmkit's hooks are: {', '.join(HOOKS)}")
        self.manager.check_pending()  # whatever else pluggy refuses

    def _call_register(self, plugin: Any, info: PluginInfo, staged: list[Component]) -> None:
        """Call this plugin's ``register_components`` (only its own) through pluggy."""
        refused: list[str] = []
        others = [p for p in self.manager.get_plugins() if p is not plugin]
        hook = self.manager.subset_hook_caller("register_components", remove_plugins=others)
        hook(register=self._register_callback(info, staged, refused))
        if refused:  # the plugin caught the error it was given: it still fails
            raise PluginError(refused[0])

    def _register_callback(self, info: PluginInfo, staged: list[Component], refused: list[str]) -> Callable[..., None]:
        def register(kind: str, name: str, params: type[Params], build: Callable[..., Any], description: str = "") -> None:
            doc = description or (getattr(params, "__doc__", None) or "").strip().split("\n")[0]
            component = Component(kind, name, params, build, doc, info.package, info.version)
            problem = self.registry.refusal(component)
            if problem is None and any((c.kind, c.name) == (kind, name) for c in staged):
                problem = f"{kind} {name!r} is registered twice by {info.package}"
            if problem is not None:
                refused.append(problem)
                raise PluginError(problem)
            staged.append(component)

        return register

    def _fail(self, info: PluginInfo, plugin: Any, reason: str, exc: BaseException,
              staged: list[Component] | None = None) -> None:
        info.status, info.reason, info.components = "failed", reason, []
        info.withdrawn = [f"{c.kind}/{c.name}" for c in staged or []]
        self.errors[info.name] = exc
        if plugin is not None and self.manager.is_registered(plugin):
            self.manager.unregister(plugin)  # its training hooks must not run either

    # -- queries ------------------------------------------------------------------------------
    def failed(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.status == "failed"]

    def unknown_hint(self, kind: str | None = None, name: str | None = None) -> str:
        """What to say when a name is unknown and some plugins could not be loaded."""
        provider = [i for i in self.failed() if f"{kind}/{name}" in i.withdrawn]
        if provider:
            i = provider[0]
            return f"; plugin {i.name} ({i.package}) provides it but failed to load: {i.reason}"
        failed = [f"plugin {i.name} ({i.package}) failed to load: {i.reason}" for i in self.failed()]
        failed += [f"plugin {i.name} ({i.package}) is installed but not loaded ({i.reason})"
                   for i in self.infos if i.status == "excluded"]
        return ("; " + "; ".join(failed) + " (it may provide this component)") if failed else ""

    def absence(self, package: str, requirement: str) -> str:
        """Why no component of ``package`` is registered, and what to do (for a saved run)."""
        info = next((i for i in self.infos if i.package == package), None)
        if info is None:
            return f"which is not installed; install it: pip install '{requirement}'"
        if info.status == "excluded":
            allowed = ",".join(sorted((_allow_list() or set()) | {info.name}))
            return (f"which is installed ({info.package} {info.version}) but excluded by {ALLOW_ENV}; "
                    f"include it: {ALLOW_ENV}={allowed}")
        if info.status == "failed":
            return f"which is installed ({info.package} {info.version}) but failed to load: {info.reason}"
        return (f"which is installed ({info.package} {info.version}) but does not register it; "
                f"install the version the run was made with: pip install '{requirement}'")

    def unmatched_allowed(self) -> list[str]:
        """Names in PLMKIT_PLUGINS that no installed plugin has (a typo, or not installed)."""
        allowed = _allow_list() or set()
        known = {i.name for i in self.infos} | {i.package for i in self.infos}
        return sorted(allowed - known)

    def provider_versions(self, providers: set[str]) -> dict[str, str]:
        return {i.package: i.version for i in self.infos if i.package in providers}

    def owner(self, filename: str) -> PluginInfo | None:
        """The loaded third-party plugin whose code ``filename`` is (the most specific location)."""
        path = _resolved(filename)
        owners = [i for i in self.infos if i.location and i.package != BUILTIN and i.status == "loaded"
                  and _inside(path, Path(i.location))]
        return max(owners, key=lambda i: len(i.location), default=None)


# -- attributing a plugin's exception ---------------------------------------------------------
def blame(exc: BaseException, recipe: Any = None) -> PluginError | None:
    """The one-line ``PluginError`` for an exception raised by a plugin's code; None if plmkit's own.

    The deepest frame of the traceback inside a loaded plugin's code names the plugin and the
    file:line; the recipe (given, or the innermost one the traceback's frames hold as ``recipe``
    or ``self.recipe``) gives the components of that plugin it uses and their keys.
    """
    if _PLUGINS is None or isinstance(exc, PlmkitError):
        return None
    try:
        return _blame(_PLUGINS, exc, recipe)
    except Exception:  # never hide the exception being reported behind one of our own
        return None


def _blame(plugins: Plugins, exc: BaseException, recipe: Any) -> PluginError | None:
    frames = _frames(exc)
    hits = [(frame, lineno, plugins.owner(frame.f_code.co_filename)) for frame, lineno in frames]
    hits = [(frame, lineno, info) for frame, lineno, info in hits if info is not None]
    if not hits:
        return None
    deepest, lineno, info = hits[-1]
    entry = next(frame for frame, _, owner in hits if owner is info)  # where plmkit called into it
    recipe = recipe if recipe is not None else _recipe_in(frames)
    used = _components_used(plugins, info, recipe, {frame.f_code for frame, _, _ in hits})
    keys = ", ".join(key for _, keys_of in used for key in keys_of)
    named = ", ".join(f"{c.kind} {c.name!r}" for c, _ in used)
    what = f"plugin {info.package}" + (f" ({named})" if named else "")
    name = entry.f_code.co_name
    qualname = getattr(entry.f_code, "co_qualname", name).rpartition("<locals>.")[2]  # Block.forward
    where = f"its {name} hook" if name in HOOKS else f"{qualname}()"
    message = f"{what} raised {type(exc).__name__} in {where}" + (f": {_first_line(exc)}" if str(exc).strip() else "")
    return PluginError(problems=[Problem(keys, message, f"{deepest.f_code.co_filename}:{lineno}")])


@contextlib.contextmanager
def attributed(recipe: Any = None) -> Iterator[None]:
    """``with attributed(recipe): ...`` re-raises a plugin's exception as its one-line ``PluginError``."""
    try:
        yield
    except Exception as exc:
        error = blame(exc, recipe)
        if error is None:
            raise
        raise error from exc


def _frames(exc: BaseException) -> list[tuple[Any, int]]:
    """The traceback's frames, outermost first, each with the line it was at."""
    frames, tb = [], exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _recipe_in(frames: list[tuple[Any, int]]) -> Any:
    from .recipe.schema import Recipe

    for frame, _ in reversed(frames):
        owner = frame.f_locals.get("self")
        for value in (frame.f_locals.get("recipe"), getattr(owner, "__dict__", {}).get("recipe")):
            if isinstance(value, Recipe):
                return value
    return None


def _components_used(plugins: Plugins, info: PluginInfo, recipe: Any,
                     codes: set[Any]) -> list[tuple[Component, list[str]]]:
    """The plugin's components the recipe uses, with their keys (the one whose code raised, if known)."""
    used: dict[tuple[str, str], tuple[Component, list[str]]] = {}
    if recipe is not None:
        from .recipe.walk import iter_specs

        for key, spec in iter_specs(recipe):
            if spec.component is not None and spec.component.provider == info.package:
                used.setdefault((spec.component.kind, spec.component.name), (spec.component, []))[1].append(key)
    else:
        used = {(c.kind, c.name): (c, []) for c in plugins.registry.of_provider(info.package)}
    raised = [entry for entry in used.values() if _own_codes(entry[0]) & codes]
    if raised:
        return raised
    return list(used.values()) if recipe is not None or len(used) == 1 else []


def _own_codes(component: Component) -> set[Any]:
    """Code objects of a component's build and of the methods its plugin wrote on its Params."""
    build = component.build
    codes = {getattr(build, "__code__", None), getattr(getattr(build, "__init__", None), "__code__", None)}
    for cls in component.params.__mro__:
        if cls.__module__.split(".")[0] == "plmkit" or cls.__module__ == "pydantic.main":
            break
        codes |= {getattr(v, "__code__", None) for v in vars(cls).values()}
    return codes - {None}


def _location(plugin: Any) -> Path | None:
    """The folder of a plugin's top-level regular package, or its module's file."""
    module = plugin if isinstance(plugin, ModuleType) else sys.modules.get(type(plugin).__module__)
    if module is None:
        return None
    parts = module.__name__.split(".")
    for end in range(1, len(parts) + 1):
        top = sys.modules.get(".".join(parts[:end]))
        file = getattr(top, "__file__", None)
        if file:
            path = _resolved(file)
            return path.parent if path.name == "__init__.py" else path
    return None


def _resolved(filename: str) -> Path:
    try:
        return Path(filename).resolve()
    except (OSError, RuntimeError):
        return Path(filename)


def _inside(path: Path, location: Path) -> bool:
    return path == location or location in path.parents


def _hook_reason(exc: BaseException, info: PluginInfo) -> str:
    """Why loading a registered plugin failed: a refusal as it is, anything else with file:line."""
    if isinstance(exc, PlmkitError) or isinstance(exc, pluggy.PluginValidationError):
        return _first_line(exc, all_lines=True)
    where = ""
    location = Path(info.location) if info.location else None
    for frame, lineno in reversed(_frames(exc)):
        if location is not None and _inside(_resolved(frame.f_code.co_filename), location):
            where = f" ({frame.f_code.co_filename}:{lineno})"
            break
    return f"{type(exc).__name__} in register_components: {_first_line(exc)}{where}"


def _first_line(exc: BaseException, all_lines: bool = False) -> str:
    text = str(exc).strip()
    if all_lines:
        return "; ".join(line.strip() for line in text.splitlines() if line.strip())
    return text.splitlines()[0] if text else type(exc).__name__


def _allow_list() -> set[str] | None:
    raw = os.environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in points}  # editable installs can list twice
    return sorted(unique.values(), key=lambda ep: (ep.name, ep.value))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, loaded on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins()  # set first: a plugin that asks for the registry while loading gets this one
        try:
            _PLUGINS.load()
        except BaseException:
            _PLUGINS = None
            raise
    return _PLUGINS


def get_registry() -> Registry:
    """The registry of every loaded component (failed plugins add nothing)."""
    return get_plugins().registry


def reset() -> None:
    """Forget loaded plugins (tests that change PLMKIT_PLUGINS call this)."""
    global _PLUGINS
    _PLUGINS = None
