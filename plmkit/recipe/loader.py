"""Read recipe files: safe YAML with line numbers, ``extends``, overrides and interpolation.

The result is a plain dict (every ``${...}`` resolved) plus a map from dotted key to the place
that set it (``recipes/gpt.yaml:14`` or ``command line``), so that every later error can say
where to look. Only plmkit's own resolvers are allowed: a recipe is data, never code.
"""

from __future__ import annotations

import copy
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import Problem, RecipeError
from . import shipped
from .dotted import leaves
from .limits import (MAX_DEPTH, MAX_RECIPE_BYTES, LimitExceeded, LimitedComposer, check_data, check_interpolations,
                     check_nodes, height)

COMMAND_LINE = "command line"
EXTENDS = "extends"


# -- resolvers: the only functions a recipe may call ------------------------------------------
def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


RESOLVERS = {
    "add": lambda *xs: _number(sum(float(x) for x in xs)),
    "sub": lambda a, b: _number(float(a) - float(b)),
    "mul": lambda *xs: _number(_product(float(x) for x in xs)),
    "div": lambda a, b: _number(float(a) / float(b)),
    "min": lambda *xs: min(xs),
    "max": lambda *xs: max(xs),
}


def _product(values: Iterable[float]) -> float:
    result = 1.0
    for v in values:
        result *= v
    return result


_register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver  # 2.4 renamed it
for _name, _fn in RESOLVERS.items():
    if not OmegaConf.has_resolver(_name):  # omegaconf's registry is process-wide: don't clobber a host's
        _register(_name, _fn)

_RESOLVER_USE = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")


# -- YAML with line numbers, within limits.py's bounds ------------------------------------------------
class _SafeLoader(LimitedComposer, yaml.SafeLoader):
    """PyYAML's safe loader, reading ``3e-4`` as a float (YAML 1.2, as people write it) and never
    making dates; composing stops past the nesting and size bounds of ``limits.py``."""


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
# YAML 1.2 has no dates: 2026-11-30 is the text it looks like (new lists: PyYAML shares them)
_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


def _compose_limited(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data of one document; raises ``LimitExceeded``
    beyond limits.py's bounds and ``yaml.YAMLError`` for text that is not YAML."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_nodes(node)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _compose(text: str, display: str) -> tuple[yaml.Node | None, Any]:
    """``_compose_limited`` with its errors as one ``file:line`` problem each."""
    try:
        return _compose_limited(text)
    except LimitExceeded as exc:
        line = f"{display}:{exc.mark.line + 1}" if exc.mark is not None else display
        raise RecipeError(problems=[Problem("", exc.message, line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{display}:{mark.line + 1}" if mark else display
        raise RecipeError(problems=[Problem("", f"YAML syntax error: {exc.problem or exc}", line)]) from None
    except yaml.YAMLError as exc:
        raise RecipeError(problems=[Problem("", f"YAML error: {_first_line(exc)}", display)]) from None


def parse_value(text: str) -> Any:
    """A command-line value, read as YAML would read it (``3e-4`` -> float, ``[1,2]`` -> list).

    Text that is not YAML is taken as a string. A value beyond limits.py's bounds (too long,
    too deep, an alias bomb, a tag) raises ``LimitExceeded``.
    """
    if len(text) > MAX_RECIPE_BYTES:
        raise LimitExceeded(f"a value of {len(text):,} characters; a value holds at most {MAX_RECIPE_BYTES:,}")
    if not text.strip():
        return ""
    try:
        return _compose_limited(text)[1]
    except yaml.YAMLError:
        return text


@dataclass
class Loaded:
    """A recipe's data before validation, with where each key came from."""

    data: dict[str, Any]
    lines: dict[str, str] = field(default_factory=dict)  # dotted key -> "file:line"
    source: Path | None = None

    def where(self, key: str) -> str:
        """The place that set ``key``, or the nearest enclosing key that has one."""
        parts = key.split(".") if key else []
        while parts:
            found = self.lines.get(".".join(parts))
            if found:
                return found
            parts.pop()
        return self.lines.get("", str(self.source or ""))


def _read_text(path: Path, display: str) -> str:
    """The text of a recipe file: a regular file, at most ``MAX_RECIPE_BYTES``, UTF-8."""
    def refuse(message: str) -> RecipeError:
        return RecipeError(problems=[Problem("", message, display)])

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # /dev/zero, a pipe, a socket: never opened
            raise refuse("not a regular file (a device, pipe or socket); name a recipe file")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise refuse(f"cannot read the recipe file ({exc.strerror})") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise refuse(f"larger than {MAX_RECIPE_BYTES // 1024} KiB; a recipe is a few KB of YAML")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_data(path: str | Path) -> Any:
    """The plain data of a YAML file (no ``extends``, overrides or interpolation), read within
    limits.py's bounds; ``RecipeError`` (one line) for a file that is not such YAML."""
    path = Path(path)
    display = _display(path)
    return _compose(_read_text(path, display), display)[1]


def _read_yaml(path: Path, display: str) -> tuple[dict[str, Any], dict[str, str], list[Problem]]:
    node, data = _compose(_read_text(path, display), display)
    data = {} if node is None else data
    if not isinstance(data, dict):
        raise RecipeError(problems=[Problem("", "a recipe must be a mapping of keys (name:, model:, ...)", f"{display}:1")])
    lines: dict[str, str] = {"": f"{display}:1"}
    problems: list[Problem] = []
    _mark_lines(node, "", display, lines, problems)
    return data, lines, problems


def _mark_lines(node: yaml.Node, prefix: str, display: str, lines: dict[str, str], problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            where = f"{display}:{key_node.start_mark.line + 1}"
            if not key_node.tag.endswith(":str"):
                problems.append(Problem(path, f"a key must be a name, got {key_node.value!r}; quote it "
                                              f"if you mean the text {key_node.value!r}", where))
                continue
            if key in seen:
                problems.append(Problem(path, "key appears twice in this mapping; keep one", where))
            seen.add(key)
            lines[path] = where
            _mark_lines(value_node, path, display, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}.{index}"
            lines[path] = f"{display}:{item.start_mark.line + 1}"
            _mark_lines(item, path, display, lines, problems)


# -- extends ----------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _load_file(path: Path, chain: tuple[Path, ...], display: str | None = None) -> Loaded:
    display = display or _display(path)
    data, lines, problems = _read_yaml(path, display)
    if problems:
        raise RecipeError(problems=problems)
    parents = data.pop(EXTENDS, None)
    if parents is None:
        return Loaded(data, lines, path)
    parents = [parents] if isinstance(parents, str) else parents
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise RecipeError(problems=[Problem(EXTENDS, "expected a file name or a list of file names", lines[EXTENDS])])
    merged = OmegaConf.create({})
    merged_lines: dict[str, str] = {}
    for parent in parents:
        base = _load_parent(path, parent, chain, lines[EXTENDS], display)
        merged = _merge(merged, base.data)
        merged_lines.update(base.lines)
    merged = _merge(merged, data)
    merged_lines.update(lines)
    result = OmegaConf.to_container(merged, resolve=False)
    # a parent's marks for keys the merge dropped (a component whose type changed) would place
    # errors about defaults in the parent's file: keep marks only for keys that are still there
    present = {key for key, _ in leaves(result, containers=True)} | {""}
    return Loaded(result, {k: v for k, v in merged_lines.items() if k in present}, path)  # type: ignore[arg-type]


def _merge(base: Any, child: dict[str, Any]) -> Any:
    """omegaconf's deep merge, except that a component whose ``type`` changes starts afresh."""
    base_data = OmegaConf.to_container(OmegaConf.create(base), resolve=False)
    _drop_replaced_components(base_data, child)
    return OmegaConf.merge(OmegaConf.create(base_data), OmegaConf.create(child))


def _drop_replaced_components(base: Any, child: Any) -> None:
    """Where ``child`` names another component type than ``base``, forget ``base``'s parameters."""
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return
    for key, value in child.items():
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if "type" in value and value["type"] != old.get("type"):
                base[key] = {}
            else:
                _drop_replaced_components(old, value)


def _load_parent(child: Path, name: str, chain: tuple[Path, ...], where: str, child_display: str) -> Loaded:
    if not name.strip():
        raise RecipeError(problems=[Problem(EXTENDS, "extends names no file; give a recipe file's path", where)])
    if shipped.is_reference(name):  # extends: plmkit:gpt.yaml, inside the installed package
        parent, display = _shipped(name, EXTENDS, where)
    else:
        parent = (child.parent / name).resolve()
        display = shipped.sibling(child_display, name) or _display(parent)  # plmkit:bert.yaml's neighbours
    if parent.is_dir():
        raise RecipeError(problems=[Problem(EXTENDS, f"extends {name!r}, but {_display(parent)} is a folder; "
                                                     f"name a recipe file in it", where)])
    if parent in chain or parent == child.resolve():
        cycle = " -> ".join(_display(p) for p in (*chain, child.resolve(), parent))
        raise RecipeError(problems=[Problem(EXTENDS, f"extends forms a cycle: {cycle}; remove one of the extends", where)])
    if not parent.is_file():
        what = "is not a regular file (a device, pipe or socket)" if parent.exists() else "does not exist"
        raise RecipeError(problems=[Problem(EXTENDS, f"extends {name!r}, but {_display(parent)} {what}", where)])
    return _load_file(parent, (*chain, child.resolve()), display)


def _shipped(reference: str, key: str, where: str) -> tuple[Path, str]:
    """The installed file ``PACKAGE:NAME.yaml`` names, shown as written (``plmkit:gpt.yaml:14``)."""
    try:
        return shipped.locate(reference).path.resolve(), reference.strip()
    except shipped.NotShipped as exc:
        raise RecipeError(problems=[Problem(key, str(exc), where)]) from None


# -- overrides and interpolation ----------------------------------------------------------------
def _apply_overrides(loaded: Loaded, overrides: Iterable[str]) -> list[Problem]:
    problems: list[Problem] = []
    config = OmegaConf.create(loaded.data)
    for text in overrides:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][\w]*(\.[\w]+)*", key):
            problems.append(Problem("", f"{_short(text)!r}: expected KEY=VALUE with a dotted key, e.g. train.lr=3e-4",
                                    COMMAND_LINE))
            continue
        try:
            value = parse_value(raw)
            if len(key.split(".")) + height(value) > MAX_DEPTH:
                raise LimitExceeded(f"the key and value nest more than {MAX_DEPTH} levels deep; recipes need a handful")
        except LimitExceeded as exc:
            problems.append(Problem(key, exc.message, COMMAND_LINE))
            continue
        blocked = _scalar_on_the_way(config, key)
        if blocked:
            problems.append(Problem(key, f"cannot set {_short(text)!r}: {blocked} is a single value, not a mapping "
                                         f"of keys; set {blocked}=... instead", COMMAND_LINE))
            continue
        # ``a.b.type=x`` names another component for a.b, exactly like ``a.b={type: x}``
        target, value = (key.rpartition(".")[0], {"type": value}) if key.endswith(".type") else (key, value)
        try:
            replaced = _set(config, target, value)
        except (OmegaConfBaseException, ValueError, TypeError) as exc:
            problems.append(Problem(key, f"cannot set {_short(text)!r}: {_first_line(exc)}", COMMAND_LINE))
            continue
        _locate_override(loaded.lines, config, target, value, replaced)
    loaded.data = OmegaConf.to_container(config, resolve=False)  # type: ignore[assignment]
    return problems


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _scalar_on_the_way(config: Any, key: str) -> str | None:
    """The first enclosing key of ``key`` that holds a plain value (so ``key`` cannot exist)."""
    parts = key.split(".")
    for depth in range(1, len(parts)):
        prefix = ".".join(parts[:depth])
        value = OmegaConf.select(config, prefix, default=None, throw_on_resolution_failure=False)
        if value is not None and not OmegaConf.is_config(value):
            return prefix
    return None


def _set(config: Any, key: str, value: Any) -> bool:
    """Merge ``value`` into ``config`` at ``key`` as ``extends`` would: a mapping that names
    another component ``type`` (at any depth) replaces that component. True if one was replaced."""
    old = OmegaConf.select(config, key, default=None, throw_on_resolution_failure=False)
    replaced = False
    if isinstance(value, dict) and OmegaConf.is_dict(old):
        original = OmegaConf.to_container(old, resolve=False)
        base = {"value": copy.deepcopy(original)}
        _drop_replaced_components(base, {"value": value})
        replaced = base["value"] != original
        if replaced:
            OmegaConf.update(config, key, base["value"], merge=False, force_add=True)
    OmegaConf.update(config, key, value, merge=True, force_add=True)
    return replaced


def _locate_override(lines: dict[str, str], config: Any, key: str, value: Any, replaced: bool) -> None:
    """Keys the override wrote are the command line's; keys it removed lose their file lines;
    keys it left alone keep theirs (so each error points where its key was written)."""
    missing = object()
    for sub in [k for k in lines if k.startswith(key + ".")]:
        if OmegaConf.select(config, sub, default=missing, throw_on_resolution_failure=False) is missing:
            del lines[sub]
    parts = key.split(".")
    for depth in range(1, len(parts)):  # a new key's parents are the command line's doing too
        lines.setdefault(".".join(parts[:depth]), COMMAND_LINE)
    if replaced or key not in lines or not isinstance(value, dict):
        lines[key] = COMMAND_LINE
    for sub, _ in leaves(value, key, containers=True):
        lines[sub] = COMMAND_LINE


def _resolve(loaded: Loaded) -> list[Problem]:
    problems = []
    for key, value in leaves(loaded.data):
        if not isinstance(value, str):
            continue
        for name in _RESOLVER_USE.findall(value):
            if name not in RESOLVERS:
                allowed = ", ".join(sorted(RESOLVERS))
                problems.append(
                    Problem(key, f"unknown resolver {name!r} in {value!r}; recipes may use only: {allowed}", loaded.where(key))
                )
    problems += [Problem(key, message, loaded.where(key)) for key, message in check_interpolations(loaded.data)]
    if problems:
        return problems
    config = OmegaConf.create(loaded.data)
    for key, value in leaves(loaded.data):
        if isinstance(value, str) and "${" in value:
            try:
                OmegaConf.select(config, key, throw_on_resolution_failure=True, throw_on_missing=True)
            except (OmegaConfBaseException, ValueError, TypeError, ZeroDivisionError, RecursionError) as exc:
                problems.append(Problem(key, f"cannot resolve {_short(value)!r}: {_first_line(exc)}", loaded.where(key)))
    if not problems:
        loaded.data = OmegaConf.to_container(config, resolve=True)  # type: ignore[assignment]
    return problems


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- entry points -------------------------------------------------------------------------------
def load_file(path: str | Path, overrides: Iterable[str] = ()) -> Loaded:
    """Read a recipe file with its ``extends``, apply ``overrides``, resolve ``${...}``.

    ``path`` is a file, or ``PACKAGE:NAME.yaml`` for a recipe an installed package ships.
    """
    display = None
    if isinstance(path, str) and shipped.is_reference(path):  # plmkit run plmkit:gpt.yaml, from any folder
        path, display = _shipped(path, "", path)
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise RecipeError(problems=[Problem("", f"recipe file not found{hint}", str(path))])
    loaded = _load_file(path, (), display)
    problems = _apply_overrides(loaded, list(overrides))
    problems += _resolve(loaded) if not problems else []
    if problems:
        raise RecipeError(problems=problems)
    return loaded


def load_data(data: dict[str, Any], source: str = "<dict>", overrides: Iterable[str] = ()) -> Loaded:
    """The same as ``load_file`` for a recipe given as a dict (``extends`` is not allowed)."""
    try:
        check_data(data)
        if not isinstance(data, dict):
            raise LimitExceeded(f"a recipe must be a mapping of keys (name:, model:, ...), got {type(data).__name__}")
        loaded = Loaded(OmegaConf.to_container(OmegaConf.create(data), resolve=False), {"": source})  # type: ignore[arg-type]
    except (LimitExceeded, OmegaConfBaseException) as exc:
        raise RecipeError(problems=[Problem("", getattr(exc, "message", None) or _first_line(exc), source)]) from None
    if EXTENDS in loaded.data:
        raise RecipeError(problems=[Problem(EXTENDS, "extends works only in recipe files", source)])
    problems = _apply_overrides(loaded, list(overrides))
    problems += _resolve(loaded) if not problems else []
    if problems:
        raise RecipeError(problems=problems)
    return loaded
