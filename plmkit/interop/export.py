"""``export_run``: a trained run as a folder other tools load, with a model card (README.md).

Formats:

* ``hf``           config.json + model.safetensors + tokenizer.json + tokenizer_config.json that
                   transformers loads offline (``AutoModelForMaskedLM`` / ``AutoModelForPreTraining``
                   for BERT-shaped runs, ``AutoModelForCausalLM`` for GPT-2-shaped ones, and
                   ``AutoTokenizer``); only for recipes ``hf_shape`` accepts.
* ``safetensors``  model.safetensors + the resolved recipe.yaml + tokenizer/ + versions.json:
                   any run, as plmkit saves it (``plmkit.load_run`` reads the folder).
* ``elmo``         options.json + weights.hdf5 in the released bilm-tf layout, for char_cnn +
                   lstm_projection biLMs (``plmkit.interop.elmo.from_hdf5`` reads them back).

A format that cannot hold the run's model is refused before anything is written, in one line
naming the components that prevent it. The folder is filled under a temporary name and appears
whole; it must be new or empty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ..errors import Problem, RecipeError, RunError

__all__ = ["FORMATS", "export_run", "refusal"]

FORMATS = ("hf", "safetensors", "elmo")


def refusal(recipe: Any, fmt: str) -> str | None:
    """Why format ``fmt`` cannot hold this recipe's model, in one line; None if it can."""
    if fmt == "hf":
        from .hf_shape import hf_refusal

        why = hf_refusal(recipe)
        return f"transformers cannot express this model: {why}" if why else None
    if fmt == "elmo":
        from .elmo import elmo_refusal

        why = elmo_refusal(recipe)
        return f"the bilm-tf (ELMo) format cannot hold this model: {why}" if why else None
    return None


def export_run(run_path: str | os.PathLike, out: str | os.PathLike, fmt: str = "hf") -> Path:
    """Write the run at ``run_path`` (a run folder or its model/ folder) into the new folder ``out``
    in format ``fmt``; return ``out``. ``RecipeError`` (key ``format``) for a format that cannot
    hold the model, ``RunError`` for a folder that is not a run or an ``out`` that is not empty."""
    from ..runs import load_run

    if fmt not in FORMATS:
        raise RecipeError(problems=[Problem("format", f"{fmt!r} is not a format; choose one of {', '.join(FORMATS)}")])
    out = Path(out)
    _check_out(out)
    run = load_run(run_path)
    why = refusal(run.recipe, fmt)
    if why:
        alternative = "; --format safetensors exports it as it is" if fmt != "safetensors" else ""
        raise RecipeError(problems=[Problem("format", f"{fmt}: {why}{alternative}")])
    _fill(out, lambda tmp: _WRITERS[fmt](run, tmp, out))
    return out


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder; choose another --out (nothing was written)")
    if out.is_dir() and any(out.iterdir()):
        raise RunError(f"{out}: folder exists and is not empty; choose another --out (nothing was written)")


def _fill(out: Path, write: Callable[[Path], None]) -> None:
    """Write into a hidden sibling folder, then move it to ``out`` in one rename."""
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        if out.is_dir():
            out.rmdir()  # empty (checked): the export takes its place
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- the formats ----------------------------------------------------------------------------------
def _write_hf(run: Any, tmp: Path, out: Path) -> None:
    from .card import model_card
    from .hf import quiet_transformers, to_hf
    from .hf_shape import hf_shape
    from .hf_tokenizer import save_hf_tokenizer

    shape = hf_shape(run.recipe)
    with quiet_transformers():
        to_hf(run.model, run.tokenizer).save_pretrained(str(tmp))
    save_hf_tokenizer(run.tokenizer, tmp, run.recipe.model.max_positions, shape.family)
    _write_text(tmp / "README.md", model_card(run, f"hf-{shape.family}", str(out), shape.hf_class))


def _write_safetensors(run: Any, tmp: Path, out: Path) -> None:
    from ..training.checkpoint import save_weights
    from .card import model_card

    save_weights(run.model, tmp / "model.safetensors", metadata={"format": "pt"})
    _write_text(tmp / "recipe.yaml", run.recipe.to_yaml())
    run.tokenizer.save(tmp / "tokenizer")
    versions = Path(run.path) / "versions.json"
    if versions.is_file():  # which plugins made it, and where its relative data paths start
        shutil.copyfile(versions, tmp / "versions.json")
    _write_text(tmp / "README.md", model_card(run, "safetensors", str(out)))


def _write_elmo(run: Any, tmp: Path, out: Path) -> None:
    from .card import model_card
    from .elmo import to_hdf5

    to_hdf5(run.model, tmp / "options.json", tmp / "weights.hdf5")
    _write_text(tmp / "README.md", model_card(run, "elmo", str(out)))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


_WRITERS: dict[str, Callable[[Any, Path, Path], None]] = {
    "hf": _write_hf, "safetensors": _write_safetensors, "elmo": _write_elmo,
}
