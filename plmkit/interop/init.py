"""Start a run from existing weights: a recipe's ``init: {checkpoint: PATH}`` (continued pretraining).

PATH is one of (``locate``):

* a plmkit run folder, or its ``model/`` folder (or a ``--format safetensors`` export);
* a transformers folder: config.json + safetensors weights of a BERT or GPT-2 (``from_hf``);
* an ELMo biLM in the bilm-tf layout: options.json (+ ``weights``, default weights.hdf5 beside it),
  or a folder holding both (``from_hdf5``).

The checkpoint becomes a plmkit model with its own recipe; its tensors are matched to the new
model by name, a head or an embedding part by its component type (so ``heads.mlm`` fills the
new recipe's masked_lm head whatever it is called). A tensor whose shape does not fit is a
``RecipeError`` before training; what the checkpoint lacks (a new head) keeps its fresh
initialisation and is reported, as is what the checkpoint has that the recipe does not use. The
run takes the checkpoint's tokenizer when it has one (``checkpoint_tokenizer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, RecipeError

__all__ = ["Checkpoint", "InitReport", "locate", "checkpoint_tokenizer", "initialise"]

KEY = "init.checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """Where a checkpoint is and what kind it is: "plmkit", "transformers" or "elmo"."""

    kind: str
    path: Path
    weights: Path | None = None  # ELMo: weights.hdf5

    def describe(self) -> str:
        return {"plmkit": "a plmkit run", "transformers": "a transformers model", "elmo": "an ELMo biLM"}[self.kind]


@dataclass
class InitReport:
    """What ``initialise`` did: tensors loaded, left fresh, and not used."""

    checkpoint: Checkpoint
    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    values: int = 0  # numbers loaded

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint.path), "kind": self.checkpoint.kind, "values": self.values,
                "loaded": self.loaded, "fresh": self.fresh, "unused": self.unused}

    def lines(self) -> list[str]:
        """What a person is told when the run starts."""
        lines = [f"init: {len(self.loaded)} tensors ({self.values:,} values) from {self.checkpoint.path} "
                 f"({self.checkpoint.describe()})"]
        if self.fresh:
            lines.append(f"init: initialised fresh (not in the checkpoint): {_listed(self.fresh)}")
        if self.unused:
            lines.append(f"init: in the checkpoint but not in this model: {_listed(self.unused)}")
        return lines


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _problem(message: str) -> RecipeError:
    return RecipeError(problems=[Problem(KEY, message)])


# -- finding it -------------------------------------------------------------------------------------
def locate(recipe: Any) -> Checkpoint:
    """The checkpoint ``recipe.init`` names, its path taken relative to the recipe's folder."""
    init = recipe.init
    base = Path(recipe.path).resolve().parent if recipe.path else Path.cwd()
    path = Path(init.checkpoint).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise _problem(f"{init.checkpoint!r}: no such file or folder (looked for {path})")
    if (path.is_file() and path.suffix == ".json") or (path / "options.json").is_file():
        options = path if path.is_file() else path / "options.json"
        weights = Path(init.weights).expanduser() if init.weights else options.parent / "weights.hdf5"
        weights = weights if weights.is_absolute() else base / weights
        if not weights.is_file():
            raise _problem(f"{init.checkpoint!r}: an ELMo options file, but its weights {weights} do not exist; "
                           f"give them with init.weights")
        return Checkpoint("elmo", options, weights)
    if path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors")):
        return Checkpoint("transformers", path)
    if path.is_dir() and ((path / "recipe.yaml").is_file() or (path / "model" / "recipe.yaml").is_file()):
        return Checkpoint("plmkit", path)
    raise _problem(f"{init.checkpoint!r}: not a plmkit run folder, a transformers folder (config.json + "
                   f"safetensors) or an ELMo options.json")


def checkpoint_tokenizer(recipe: Any) -> Any:
    """The checkpoint's tokenizer (a plmkit ``Tokenizer``), or None when it has none (ELMo)."""
    from ..data.tokenize import Tokenizer

    checkpoint = locate(recipe)
    if checkpoint.kind == "plmkit":
        from ..runs import load_run

        return load_run(checkpoint.path).tokenizer
    if checkpoint.kind == "transformers" and (checkpoint.path / "tokenizer.json").is_file():
        return Tokenizer.load(checkpoint.path / "tokenizer.json")
    return None


# -- the tensors ------------------------------------------------------------------------------------
def _source(checkpoint: Checkpoint) -> tuple[dict[str, Any], Any]:
    """(tensors by plmkit name, the recipe they belong to) of a checkpoint."""
    if checkpoint.kind == "plmkit":
        from ..runs import load_run

        run = load_run(checkpoint.path)
        return run.model.state_dict(), run.recipe
    if checkpoint.kind == "transformers":
        from .hf import from_hf, quiet_transformers

        with quiet_transformers():
            model = from_hf(checkpoint.path)
        return model.state_dict(), model.recipe
    from .elmo import from_hdf5

    model = from_hdf5(checkpoint.path, checkpoint.weights)  # the files hold the token encoder and the LSTMs only
    kept = {k: v for k, v in model.state_dict().items() if k.startswith(("embedding.", "encoder."))}
    return kept, model.recipe


def _renamer(source: Any, target: Any) -> Any:
    """source key -> target key (None: no place for it): heads and embedding parts are matched by
    component type, so a checkpoint's ``heads.mlm`` fills the recipe's masked_lm head, whatever its name."""
    head_type, head_named = _heads(source)[0], _heads(target)[1]
    part_type, part_index = _parts(source)[0], _parts(target)[1]

    def rename(key: str) -> str | None:
        if key.startswith("heads."):
            name, _, tail = key.removeprefix("heads.").partition(".")
            match = head_named.get(head_type.get(name, ""))
            return f"heads.{match}.{tail}" if match is not None else None
        if key.startswith("embedding.parts."):
            index, _, tail = key.removeprefix("embedding.parts.").partition(".")
            match = part_index.get(part_type.get(index, ""))
            return f"embedding.parts.{match}.{tail}" if match is not None else None
        return key

    return rename


def _heads(recipe: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(head name -> its type, type -> the name of the one head of that type)."""
    types = {name: spec.type for name, spec in recipe.model.head.items() if spec is not None}
    kinds = list(types.values())
    return types, {t: n for n, t in types.items() if kinds.count(t) == 1}


def _parts(recipe: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(part index -> its type, type -> the index of the first part of that type) of a sum embedding."""
    embedding = recipe.model.embedding
    types = [part.type for part in embedding.params.parts] if embedding.type == "sum" else []
    return {str(i): t for i, t in enumerate(types)}, {t: str(types.index(t)) for t in types}


def initialise(model: Any, recipe: Any) -> InitReport:
    """Load what fits of the checkpoint ``recipe.init`` names into ``model`` (in place, before training).

    ``RecipeError`` (key ``init.checkpoint``) listing the tensors whose shapes do not fit.
    """
    import torch

    checkpoint = locate(recipe)
    tensors, source_recipe = _source(checkpoint)
    rename = _renamer(source_recipe, recipe)
    ours = model.state_dict()
    report, chosen, misfits = InitReport(checkpoint), {}, []
    for key, tensor in tensors.items():
        target = rename(key)
        if target is None or target not in ours:
            report.unused.append(key)
        elif tuple(tensor.shape) != tuple(ours[target].shape):
            misfits.append(f"{target} {tuple(tensor.shape)} into {tuple(ours[target].shape)}")
        else:
            chosen[target] = tensor
    if misfits:
        raise _problem(f"{checkpoint.path}: {len(misfits)} tensors do not fit this recipe's model: "
                       f"{_listed(misfits, 4)}; make the recipe's sizes (model.hidden, model.layers, the "
                       f"vocabulary, ...) those of the checkpoint")
    with torch.no_grad():
        for key, tensor in chosen.items():
            ours[key].copy_(tensor.to(ours[key].device, ours[key].dtype))
    report.loaded = sorted(chosen)
    report.values = sum(t.numel() for t in chosen.values())
    report.fresh = sorted(k for k in ours if k not in chosen)
    report.unused.sort()
    return report
