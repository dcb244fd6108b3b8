"""plmkit: BERT, GPT and ELMo variants assembled from registered components by YAML recipes.

The public API is small; everything here imports lazily, so ``import plmkit`` stays light
(no torch until a model is built)::

    recipe = plmkit.load_recipe("recipes/gpt.yaml", ["train.steps=50"])
    model = plmkit.build_model(recipe)
    result = plmkit.train(recipe, "runs/my-gpt")
    run = plmkit.load_run("runs/my-gpt")

Plugin authors use ``plmkit.hookimpl`` and ``plmkit.Params`` (see docs/design.md).
"""

from __future__ import annotations

import os
from typing import Any

from .hookspecs import hookimpl
from .params import BatchingParams, EmbeddingParams, HeadParams, Params, TokenizerParams
from .registry import spec_of

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load_recipe",
    "build_model",
    "load_run",
    "train",
    "hookimpl",
    "Params",
    "EmbeddingParams",
    "HeadParams",
    "BatchingParams",
    "TokenizerParams",
    "spec_of",
    "Recipe",
]


def load_recipe(path: Any, overrides: Any = ()) -> Any:
    """Load, resolve and validate a recipe file (``overrides``: ``["train.lr=3e-4", ...]``).

    Raises ``plmkit.errors.RecipeError`` listing every problem, each with file:line and key.
    """
    from .recipe.validate import load_recipe as _load

    return _load(path, overrides)


def build_model(recipe: Any, *, vocab_size: int | None = None, pad_id: int = 0) -> Any:
    """The ``torch.nn.Module`` a recipe (validated, or a recipe file's path) describes, freshly initialised."""
    from .models.build import build_model as _build

    return _build(_as_recipe(recipe), vocab_size=vocab_size, pad_id=pad_id)


def train(recipe: Any, out_dir: Any = None, *, resume: Any = None, accept_changes: bool = False) -> Any:
    """Train a validated recipe into a run folder (what ``plmkit run`` does); returns a RunResult."""
    from .training.loop import train as _train

    return _train(_as_recipe(recipe), out_dir=out_dir, resume=resume, accept_changes=accept_changes)


def load_run(path: Any) -> Any:
    """A trained run (model, tokenizer, recipe) from its run folder, ready to use."""
    from .runs import load_run as _load_run

    return _load_run(path)


def _as_recipe(recipe: Any) -> Any:
    """A recipe file's path is loaded; a validated recipe is used as it is."""
    return load_recipe(recipe) if isinstance(recipe, (str, os.PathLike)) else recipe


def __getattr__(name: str) -> Any:
    if name == "Recipe":
        from .recipe.schema import Recipe

        return Recipe
    raise AttributeError(f"module 'plmkit' has no attribute {name!r}")
