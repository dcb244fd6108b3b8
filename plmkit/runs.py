"""``load_run``: a trained run (model, tokenizer, recipe) from its folder, ready to use.

``path`` is a run folder (its ``model/`` is used, or, while the run is unfinished, its newest
checkpoint) or a ``model/`` folder itself. The model is rebuilt from the saved recipe, so every
plugin package that supplied one of its components must be installed; ``versions.json`` names
them, and a missing one is reported in one line with the version the run was trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EnvironmentProblem, Problem, RecipeError

__all__ = ["Run", "load_run"]


@dataclass
class Run:
    """A trained model with its tokenizer and recipe."""

    path: Path  # the folder the weights came from
    recipe: Any
    model: Any
    tokenizer: Any
    weights: Path

    # -- text in, ids out -------------------------------------------------------------------------
    def encode(self, texts: list[str]) -> Any:
        """Standalone texts as model inputs, laid out as this run's batches lay out text
        (``plmkit.data.batching.TextBatch``: the batch, each text's tokens, spans and word ends)."""
        from .data.prepare import build_batching

        return build_batching(self.recipe).encode_texts(texts, self.tokenizer)

    # -- uses ---------------------------------------------------------------------------------------
    def generate(self, prompt: str, max_tokens: int = 50, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None) -> str:
        """The prompt continued by a causal model (stops at the end-of-document token)."""
        from .generation import stream_text

        return "".join(stream_text(self, prompt, max_tokens, temperature, top_k, top_p, seed))

    def embed(self, text: str, layer: str | int | None = None) -> tuple[list[str], Any]:
        """Contextual vectors of a text: (tokens, tensor (T, D)).

        ``layer``: ``"mix"`` (a ``scalar_mix`` head's representation, ELMo's default), or an index
        into the hidden states (0 = embedding output, -1 = top, the default without a mix head).
        """
        import torch

        if not text.strip():
            raise RecipeError(problems=[Problem("text", "the text is empty; give the words to embed")])
        encoded = self.encode([text])
        length = encoded.batch["input_ids"].shape[1]
        table = self.recipe.model.max_positions
        if self.recipe.model.direction != "bilm" and length > table:
            raise RecipeError(problems=[Problem("text", f"{length} tokens, but the model reads at most {table} "
                                                        f"(model.max_positions); embed a shorter text")])
        mix_head = _mix_head(self.model)
        layer = ("mix" if mix_head else -1) if layer is None else layer
        if layer == "mix" and mix_head is None:
            raise RecipeError(problems=[Problem("layer", f"mix: this model has no head with a representation "
                                                         f"(heads: {', '.join(self.model.heads)}); give a layer "
                                                         f"number, 0 .. {self.recipe.model.layers}")])
        self.model.reset_states()  # stateful LSTMs: every text starts afresh
        with torch.no_grad():
            out = self.model(**encoded.batch, output_hidden_states=True)
        if layer == "mix":
            vectors = out.heads[mix_head]["representation"][0]  # (T, D)
        else:
            vectors = _pick_layer(out.hidden_states, int(layer))[0]
        start, end = encoded.spans[0]
        return encoded.tokens[0], vectors[start:end]

    def evaluate(self, batches: int | None = None) -> dict[str, float]:
        """Held-out metrics on the run's own held-out data (rebuilt from its recipe)."""
        from .data.prepare import prepare
        from .evaluation.metrics import evaluate

        recipe = self.recipe
        if batches is not None:
            from .recipe.validate import recipe_from_dict

            data = recipe.to_dict()
            data["eval"]["batches"] = batches
            # relative data paths: as the run resolved them
            recipe = recipe_from_dict(data, source=str(self.path / "recipe.yaml"), base=recipe.path)
        prepared = prepare(recipe, tokenizer=self.tokenizer)
        metrics = evaluate(self.model, prepared.eval_batches(), None, words=prepared.heldout_word_count())
        unigram = prepared.unigram_baseline()
        metrics["unigram_nats_per_token"] = unigram["nats_per_token"]
        metrics["unigram_bits_per_word"] = unigram["bits_per_word"]
        floor = prepared.stats.get("floor_bits_per_word")
        if floor is not None:
            metrics["floor_bits_per_word"] = floor
        return metrics


def _mix_head(model: Any) -> str | None:
    names = [name for name, spec in model.recipe.model.head.items()
             if spec is not None and spec.params.representation]
    return names[0] if names else None


def _pick_layer(hidden_states: tuple, layer: int) -> Any:
    count = len(hidden_states)
    if not -count <= layer < count:
        raise RecipeError(problems=[Problem("layer", f"{layer} is out of range; this model has layers 0 (embedding) "
                                                     f".. {count - 1}")])
    return hidden_states[layer]


# -- loading ------------------------------------------------------------------------------------------
def _check_plugins(versions_file: Path) -> None:
    """Every component the run was built from must be registered now; else name its package."""
    if not versions_file.is_file():
        return
    from .plugins import get_plugins

    plugins = get_plugins()
    for c in json.loads(versions_file.read_text(encoding="utf-8")).get("components", []):
        if plugins.registry.get(c["kind"], c["type"]) is None:
            package = f"{c['package']}=={c['version']}" if c.get("version") not in (None, "", "unknown") else c["package"]
            raise EnvironmentProblem(f"{c['key']}: this run's {c['kind']} {c['type']!r} comes from the plugin "
                                     f"package {package}, {plugins.absence(c['package'], package)}")


def load_run(path: Any, device: str = "cpu") -> Run:
    """Load a trained run (see module doc); the model is returned in eval mode on ``device``."""
    from .data.tokenize import Tokenizer
    from .models.build import build_model
    from .training.checkpoint import load_weights
    from .training.rundir import find_trained, load_saved_recipe

    folder, weights, versions_file = find_trained(path)
    _check_plugins(versions_file)
    recipe = load_saved_recipe(folder)
    tokenizer = Tokenizer.load(folder / "tokenizer")
    model = build_model(recipe, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    load_weights(model, weights, device=device)
    model.to(device).eval()
    return Run(folder, recipe, model, tokenizer, weights)
