"""Dotted keys: the one walk over nested recipe data (``model.head.mlm.tie``, ``model.embedding.parts.0``)."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["leaves"]


def leaves(data: Any, prefix: str = "", containers: bool = False,
           scalar_lists: bool = False) -> Iterable[tuple[str, Any]]:
    """(dotted key, value) of every leaf of nested dicts and lists, list items keyed by index.

    An empty mapping or list is a leaf. ``containers``: also every non-empty mapping and list
    (before its items). ``scalar_lists``: a list holding no mapping or list is one leaf, a value
    like ``[0.9, 0.999]``.
    """
    nested = isinstance(data, (dict, list, tuple)) and bool(data)
    if nested and scalar_lists and not isinstance(data, dict):
        nested = any(isinstance(v, (dict, list, tuple)) for v in data)
    if not nested:
        yield prefix, list(data) if isinstance(data, tuple) else data
        return
    if containers and prefix:
        yield prefix, data
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        yield from leaves(value, f"{prefix}.{key}" if prefix else str(key), containers, scalar_lists)
