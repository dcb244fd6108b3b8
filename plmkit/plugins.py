"""The one plugin manager: plmkit's built-ins plus every package in the ``plmkit`` entry-point group.

Entry points are loaded one by one (pluggy's bulk loader stops at the first that fails), so a
broken plugin is recorded with its reason and everything else keeps working. ``PLMKIT_PLUGINS``
(comma-separated entry-point or distribution names; empty for none) restricts which
third-party plugins load; plmkit's own built-ins always load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Component, Params, Registry

__all__ = ["PluginInfo", "Plugins", "get_plugins", "get_registry", "reset"]

ENTRY_POINT_GROUP = "plmkit"
ALLOW_ENV = "PLMKIT_PLUGINS"
BUILTIN = "plmkit"


@dataclass
class PluginInfo:
    """One plugin as ``plmkit plugins`` shows it."""

    name: str  # entry-point name (or "plmkit" for the built-ins)
    package: str  # distribution that provides it
    version: str
    status: str = "loaded"  # "loaded", "failed" or "excluded" (installed, but not in PLMKIT_PLUGINS)
    reason: str = ""
    components: list[str] = field(default_factory=list)  # "kind/name"


class Plugins:
    """Loads plugins, fills the registry, and remembers what failed and why."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager("plmkit")
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []
        self.collisions: list[str] = []

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
                self._fail(info, f"{type(exc).__name__}: {exc}")
                continue
            self._add(module, info)
        return self

    def _add(self, module: Any, info: PluginInfo) -> None:
        if info not in self.infos:
            self.infos.append(info)
        try:
            self.manager.register(module, name=info.name)
            self.manager.check_pending()
        except Exception as exc:
            self._fail(info, f"{type(exc).__name__}: {exc}")
            return
        register = self._register_callback(info)
        for impl in self.manager.hook.register_components.get_hookimpls():
            if impl.plugin_name != info.name:
                continue
            try:
                impl.function(**{"register": register} if impl.argnames else {})
            except PluginError as exc:  # a kind/name collision: keep the first, report both
                self.collisions.append(str(exc))
                self._fail(info, str(exc))
            except Exception as exc:
                self._fail(info, f"{type(exc).__name__} in register_components: {exc}")

    def _register_callback(self, info: PluginInfo) -> Callable[..., None]:
        def register(kind: str, name: str, params: type[Params], build: Callable[..., Any], description: str = "") -> None:
            if not (isinstance(params, type) and issubclass(params, Params)):
                raise TypeError(f"{kind} {name!r}: params must be a subclass of plmkit.Params")
            doc = description or (params.__doc__ or "").strip().splitlines()[0:1]
            doc = doc if isinstance(doc, str) else (doc[0] if doc else "")
            component = Component(kind, name, params, build, doc, info.package, info.version)
            self.registry.add(component)
            info.components.append(f"{kind}/{name}")

        return register

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.status, info.reason = "failed", reason
        self.registry.remove_provider(info.package)
        if self.manager.get_plugin(info.name) is not None:
            self.manager.unregister(name=info.name)

    # -- queries ------------------------------------------------------------------------------
    def failed(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.status == "failed"]

    def unknown_hint(self) -> str:
        """What to say when a name is unknown and some plugins could not be loaded."""
        failed = [f"plugin {i.name} ({i.package}) failed to load: {i.reason}" for i in self.failed()]
        failed += [f"plugin {i.name} ({i.package}) is installed but not loaded ({i.reason})"
                   for i in self.infos if i.status == "excluded"]
        return ("; " + "; ".join(failed) + " (it may provide this component)") if failed else ""

    def unmatched_allowed(self) -> list[str]:
        """Names in PLMKIT_PLUGINS that no installed plugin has (a typo, or not installed)."""
        allowed = _allow_list() or set()
        known = {i.name for i in self.infos} | {i.package for i in self.infos}
        return sorted(allowed - known)

    def provider_versions(self, providers: set[str]) -> dict[str, str]:
        return {i.package: i.version for i in self.infos if i.package in providers}


def _allow_list() -> set[str] | None:
    raw = os.environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in points}  # editable installs can list twice
    return sorted(unique.values(), key=lambda ep: ep.name)


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
        _PLUGINS = Plugins().load()
    return _PLUGINS


def get_registry() -> Registry:
    """The registry of every loaded component; two plugins claiming one name is an error."""
    plugins = get_plugins()
    if plugins.collisions:
        raise PluginError("\n".join(plugins.collisions))
    return plugins.registry


def reset() -> None:
    """Forget loaded plugins (tests that change PLMKIT_PLUGINS call this)."""
    global _PLUGINS
    _PLUGINS = None

