"""Every hook a plugin can implement, grouped by phase. Implement them with ``@plmkit.hookimpl``.

A plugin is a module named by the ``plmkit`` entry-point group of its package, e.g. in its
pyproject.toml::

    [project.entry-points.plmkit]
    talking_heads = "plmkit_talking_heads"

Implementations may accept any subset of a hook's arguments (pluggy's rule), so hooks can grow
new arguments without breaking existing plugins. A misspelled hook name fails the plugin at load.
An exception raised in a hook stops the command and is reported as one line naming the plugin
(``plmkit --debug`` shows the traceback).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("plmkit")
hookimpl = pluggy.HookimplMarker("plmkit")


# -- start-up: what exists ------------------------------------------------------------------
@hookspec
def register_components(register):
    """Add components: call ``register(kind, name, params, build, description="")`` for each.

    Each plugin is called on its own with its own ``register``, which records it as the provider.
    A refused registration (unknown kind, a name already taken, a Params class that does not
    subclass its kind's base, a build that is not callable) or an exception fails the whole
    plugin: none of its components are added.
    """


# -- training: observe a run (return values are ignored) -------------------------------------
@hookspec
def run_started(run_dir, recipe):
    """A training run starts (or resumes) writing into ``run_dir``."""


@hookspec
def step_finished(step, metrics):
    """An optimiser step finished; ``metrics`` is the dict written to metrics.jsonl."""


@hookspec
def evaluation_finished(step, metrics):
    """A held-out evaluation finished; ``metrics`` holds its numbers."""


@hookspec
def run_finished(run_dir, metrics):
    """A training run finished; ``metrics`` are the final held-out numbers."""
