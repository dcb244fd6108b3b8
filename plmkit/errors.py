"""Errors, split by who must act on them, and how they are printed.

Every error a user can cause prints as one line per problem (``file:line: key: message``) and
exits with a code that says whose move it is (``plmkit --debug`` or ``PLMKIT_DEBUG=1`` adds the
traceback):

* ``RecipeError`` (exit 2): the recipe or the command line is wrong; the recipe author fixes it.
* ``PluginError`` (exit 1): an installed plugin is broken, collides with another, or its code
  raised while plmkit ran it (one line naming the plugin, its component and the recipe key;
  ``plmkit.plugins.blame``); the plugin author (or whoever installed it) fixes it.
* ``DataError`` (exit 2): the data named by the recipe is missing, empty or unreadable.
* ``EnvironmentProblem`` (exit 1): the machine lacks something (an optional package, a device).
* ``RunError`` (exit 1): a run folder or checkpoint cannot be used as asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "Problem",
    "PlmkitError",
    "RecipeError",
    "PluginError",
    "DataError",
    "EnvironmentProblem",
    "RunError",
    "DEBUG_ENV",
    "debug_requested",
]

#: set to 1 (as ``plmkit --debug`` does) to print the traceback behind every reported error
DEBUG_ENV = "PLMKIT_DEBUG"


def debug_requested() -> bool:
    """Whether tracebacks were asked for (``plmkit --debug`` or ``PLMKIT_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with where it is: ``where`` is ``file:line`` (or ``command line``)."""

    key: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        key = f"{self.key}: " if self.key else ""
        return f"{prefix}{key}{self.message}"


class PlmkitError(Exception):
    """Base of every error plmkit reports to a person rather than as a traceback."""

    exit_code = 1

    def __init__(self, message: str = "", problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        if not message and self.problems:
            message = "\n".join(str(p) for p in self.problems)
        super().__init__(message)

    def lines(self) -> list[str]:
        """The lines printed for this error, one per problem."""
        if self.problems:
            return [str(p) for p in self.problems]
        return [str(self)]


class RecipeError(PlmkitError):
    """The recipe (or a command-line override) is wrong: fix the file or the argument."""

    exit_code = 2


class PluginError(PlmkitError):
    """An installed plugin failed to load, claims a taken name, or its code raised while plmkit ran it."""

    exit_code = 1


class DataError(PlmkitError):
    """The data a recipe names is missing, empty or unreadable."""

    exit_code = 2


class EnvironmentProblem(PlmkitError):
    """Something the machine should provide is missing (an optional package, a device)."""

    exit_code = 1


class RunError(PlmkitError):
    """A run folder or checkpoint cannot be used as asked."""

    exit_code = 1


@dataclass
class ProblemList:
    """Collects problems so that every one is reported, not just the first."""

    items: list[Problem] = field(default_factory=list)

    def add(self, key: str, message: str, where: str = "") -> None:
        self.items.append(Problem(key, message, where))

    def __bool__(self) -> bool:
        return bool(self.items)
