"""The library names problems after its parameters (``text``); the command line after its flags (``--text``)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Iterator

from ..errors import PlmkitError


@contextlib.contextmanager
def as_flags(**flags: str) -> Iterator[None]:
    """Re-key the problems of a ``PlmkitError`` raised inside: ``as_flags(text="--text")``."""
    try:
        yield
    except PlmkitError as error:
        if not any(p.key in flags for p in error.problems):
            raise
        problems = [replace(p, key=flags.get(p.key, p.key)) for p in error.problems]
        raise type(error)(problems=problems) from None
