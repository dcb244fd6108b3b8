"""The bounds a recipe is read within, so that no file or argument can exhaust time or memory.

A recipe is a few KB of YAML with a few hundred values nested a handful of levels deep. Reading
one is bounded by:

* ``MAX_RECIPE_BYTES``: the size of a file (it must also be a regular file, not a device or pipe)
  and of a command-line value;
* ``MAX_DEPTH``: nesting of mappings and lists, counted through YAML aliases, through the dotted
  key of an override and through chains of ``${...}`` references;
* ``MAX_VALUES``: the values of one document once every alias is expanded, which is what stops
  a "billion laughs" alias bomb before anything is built from it (the node tree PyYAML composes
  shares aliased nodes, so it is small; expanding it is not);
* ``MAX_RESOLVED``: the characters and values a recipe reaches once every ``${...}`` is resolved
  (the same bomb written with interpolations);
* only plain YAML data: text, numbers, true/false, null, lists and mappings (no dates, sets,
  binary or other tags), integers of at most 64 digits, and no alias that contains itself.

Every check here raises ``LimitExceeded`` (a message and, for YAML, the node's mark), turned into
one ``file:line`` problem by the loader. Nothing here is recursive beyond ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml

__all__ = [
    "MAX_RECIPE_BYTES",
    "MAX_DEPTH",
    "MAX_VALUES",
    "MAX_RESOLVED",
    "LimitExceeded",
    "LimitedComposer",
    "check_nodes",
    "check_data",
    "height",
    "check_interpolations",
]

#: A recipe file (and a command-line value) is read only up to this size; recipes are a few KB.
MAX_RECIPE_BYTES = 256 * 1024
#: Mappings and lists nest at most this deep (recipes need about six levels).
MAX_DEPTH = 32
#: Values in one document once every alias is expanded (recipes hold a few hundred).
MAX_VALUES = 2000
#: Characters and values a recipe may reach once every ``${...}`` is resolved.
MAX_RESOLVED = 1_000_000

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
_TOO_DEEP = f"nests more than {MAX_DEPTH} levels deep"


class LimitExceeded(Exception):
    """A recipe beyond one of the bounds above; ``mark`` is the YAML position when known."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


# -- YAML nodes -------------------------------------------------------------------------------------
class LimitedComposer:
    """Mixed into a PyYAML loader: composing stops past ``MAX_DEPTH`` levels or ``MAX_VALUES`` nodes
    (PyYAML's composer recurses per level, so this also keeps it far from Python's recursion limit)."""

    _depth = 0
    _values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        self._values += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitExceeded(f"the YAML {_TOO_DEEP}; recipes need a handful", self.peek_event().start_mark)
            if self._values > MAX_VALUES:
                raise LimitExceeded(f"the YAML holds more than {MAX_VALUES} values; recipes need a few hundred",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


def check_nodes(root: yaml.Node) -> None:
    """Refuse aliases that expand past ``MAX_VALUES`` values or ``MAX_DEPTH`` levels, an alias that
    contains itself, tags other than plain data, and integers too long to convert."""
    sizes: dict[int, tuple[int, int] | None] = {}  # id(node) -> (values, height); None: being measured

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        known = sizes.get(id(node), ())
        if known is None:
            raise LimitExceeded("an alias refers to a value that contains it; write the value out", node.start_mark)
        if depth + (known[1] if known else 0) > MAX_DEPTH:
            raise LimitExceeded(f"the YAML {_TOO_DEEP} once its aliases are expanded", node.start_mark)
        if known:
            return known
        _check_tag(node)
        sizes[id(node)] = None
        values, tallest = 1, 0
        for child in _children(node):
            count, child_height = measure(child, depth + 1)
            values, tallest = values + count, max(tallest, child_height + 1)
            if values > MAX_VALUES:
                raise LimitExceeded(f"the YAML's aliases expand to more than {MAX_VALUES} values; write the values out "
                                    f"(recipes need a few hundred)", node.start_mark)
        sizes[id(node)] = (values, tallest)
        return values, tallest

    measure(root, 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_tag(node: yaml.Node) -> None:
    if node.tag not in _PLAIN_TAGS:
        raise LimitExceeded(f"the YAML tag {node.tag.replace(_TAG, '!!')} is not allowed in a recipe; values are "
                            f"text, numbers, true/false, null, lists and mappings (quote the value)", node.start_mark)
    if node.tag == _TAG + "int" and len(node.value) > 64:
        raise LimitExceeded(f"an integer of {len(node.value)} digits; recipes hold numbers of at most 64 digits",
                            node.start_mark)


# -- plain data (a recipe given as a dict, a parsed command-line value) -------------------------------
def check_data(data: Any) -> None:
    """The same bounds for Python data: depth, values, no container inside itself (iteratively)."""
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(data, 1, ())]
    values = 0
    while stack:
        value, depth, ancestors = stack.pop()
        values += 1
        if depth > MAX_DEPTH:
            raise LimitExceeded(f"the recipe {_TOO_DEEP}; recipes need a handful")
        if values > MAX_VALUES * 10:
            raise LimitExceeded(f"the recipe holds more than {MAX_VALUES * 10} values; recipes need a few hundred")
        if isinstance(value, (dict, list, tuple)):
            if id(value) in ancestors:
                raise LimitExceeded("a value of the recipe contains itself")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1, ancestors + (id(value),)) for item in items)


def height(value: Any) -> int:
    """Levels of nesting in ``value`` (a scalar: 0); call on data ``check_data`` accepted."""
    if isinstance(value, dict):
        return 1 + max((height(v) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max((height(v) for v in value), default=0)
    return 0


# -- ${...} interpolations ---------------------------------------------------------------------------
def check_interpolations(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, problem) for interpolations that would nest more than ``MAX_DEPTH`` deep or resolve to
    more than ``MAX_RESOLVED`` characters and values, computed before omegaconf resolves anything."""
    weights: dict[str, int | None] = {}  # dotted key -> resolved size; None: being measured (a cycle)

    def weight(key: str, depth: int) -> int:
        if depth > 2 * MAX_DEPTH:
            raise LimitExceeded(f"${{...}} references nest more than {2 * MAX_DEPTH} deep; refer to the value itself")
        if key in weights:
            return weights[key] or 0  # a cycle: omegaconf reports it
        weights[key] = None
        found, value = _lookup(data, key)
        total = 1
        if isinstance(value, dict):
            total += sum(weight(_join(key, k), depth + 1) for k in value)
        elif isinstance(value, list):
            total += sum(weight(_join(key, str(i)), depth + 1) for i in range(len(value)))
        elif isinstance(value, str) and "${" in value:
            total = len(value) + sum(weight(ref, depth + 1) for ref in references(key, value))
        elif isinstance(value, str):
            total = len(value)
        total = total if found else 0
        weights[key] = total
        if total > MAX_RESOLVED:
            raise LimitExceeded(f"${{...}} references resolve to more than {MAX_RESOLVED:,} characters "
                                f"and values; recipes reach a few thousand")
        return total

    problems = []
    for key, value in _interpolated(data):
        try:
            weight(key, 0)
        except LimitExceeded as exc:
            problems.append((key, exc.message))
            break  # one is enough: the rest usually share its cause
    return problems


def _interpolated(data: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _interpolated(value, _join(prefix, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _interpolated(value, _join(prefix, str(index)))
    elif isinstance(data, str) and "${" in data:
        yield prefix, data


def references(key: str, text: str) -> list[str]:
    """Dotted keys that the ``${...}`` node references in ``text`` (the value at ``key``) name,
    nested ones included; resolver calls (``${mul:...}``) are not references themselves."""
    found, starts = [], []
    index = 0
    while index < len(text):
        if text.startswith("${", index):
            starts.append(index + 2)
            if len(starts) > MAX_DEPTH:
                raise LimitExceeded(f"${{...}} nest more than {MAX_DEPTH} deep in one value")
            index += 2
            continue
        if text[index] == "}" and starts:
            body = text[starts.pop():index]
            if ":" not in _outer(body):
                found.append(_absolute(key, body.strip()))
        index += 1
    return found


def _outer(body: str) -> str:
    """``body`` without the ``${...}`` nested in it."""
    depth, kept = 0, []
    index = 0
    while index < len(body):
        if body.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if body[index] == "}" and depth:
            depth -= 1
        elif not depth:
            kept.append(body[index])
        index += 1
    return "".join(kept)


def _absolute(key: str, path: str) -> str:
    """omegaconf's relative references: ``.x`` is a sibling of ``key``, ``..x`` its parent's."""
    path = path.replace("[", ".").replace("]", "").replace("'", "").replace('"', "")
    dots = len(path) - len(path.lstrip("."))
    if not dots:
        return path
    parts = key.split(".")
    base = parts[: max(len(parts) - dots, 0)]
    return ".".join(base + [path[dots:]]) if path[dots:] else ".".join(base)


def _lookup(data: Any, key: str) -> tuple[bool, Any]:
    node = data
    for part in key.split(".") if key else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
