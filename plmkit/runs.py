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

from .errors import EnvironmentProblem, RecipeError, RunError

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
    def encode(self, text: str) -> dict[str, Any]:
        """The model inputs for one text (a batch of one) and the tokens they stand for."""
        import torch

        tok = self.tokenizer
        if self.recipe.model.direction == "bilm":
            return self._encode_words(text)
        ids = tok.encode(text)
        if tok.cls_id is not None and tok.sep_id is not None and self.recipe.model.direction == "bidirectional":
            ids = [tok.cls_id, *ids, tok.sep_id]  # BERT sees [CLS] text [SEP]
        batch = {"input_ids": torch.tensor([ids], dtype=torch.long)}  # segment ids default to 0
        return {"batch": batch, "tokens": [self._token_text(i) for i in ids], "trim": (0, 0)}

    def _encode_words(self, text: str) -> dict[str, Any]:
        """ELMo: word ids and character ids of <S> words </S>; the boundaries are trimmed after."""
        import torch

        from .data.chars import BOS_WORD, EOS_WORD, char_ids
        from .data.prepare import max_chars

        tok, words = self.tokenizer, text.split()
        ids = [tok.bos_id, *[_word_id(tok, w) for w in words], tok.eos_id]
        chars = char_ids([BOS_WORD, *words, EOS_WORD], max_chars(self.recipe))
        batch = {"input_ids": torch.tensor([ids], dtype=torch.long),
                 "char_ids": torch.tensor([chars], dtype=torch.long)}
        return {"batch": batch, "tokens": words, "trim": (1, 1)}

    def _token_text(self, index: int) -> str:
        if self.tokenizer.kind == "byte_bpe":
            return self.tokenizer.decode([index], skip_special_tokens=False)
        return self.tokenizer.id_to_token(index)

    # -- uses ---------------------------------------------------------------------------------------
    def generate(self, prompt: str, max_tokens: int = 50, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None) -> str:
        """The prompt continued by a causal model (stops at the end-of-document token)."""
        from .generation import generate_ids

        tok = self.tokenizer
        start = [tok.bos_id] if tok.bos_id is not None else []  # training put it before every document
        prompt_ids = start + tok.encode(prompt)
        stop = {i for i in (tok.eos_id, tok.sep_id) if i is not None}
        new = generate_ids(self.model, prompt_ids, max_tokens, temperature, top_k, top_p, seed, stop,
                           max_positions=self.recipe.model.max_positions)
        return tok.decode(prompt_ids[len(start):] + [i for i in new if i not in stop])

    def embed(self, text: str, layer: str | int | None = None) -> tuple[list[str], Any]:
        """Contextual vectors of a text: (tokens, tensor (T, D)).

        ``layer``: ``"mix"`` (a ``scalar_mix`` head's representation, ELMo's default), or an index
        into the hidden states (0 = embedding output, -1 = top, the default without a mix head).
        """
        import torch

        if not text.strip():
            raise RecipeError("--text: the text is empty; give the words to embed")
        encoded = self.encode(text)
        length = encoded["batch"]["input_ids"].shape[1]
        table = self.recipe.model.max_positions
        if self.recipe.model.direction != "bilm" and length > table:
            raise RecipeError(f"--text: {length} tokens, but the model reads at most {table} "
                              f"(model.max_positions); embed a shorter text")
        mix_head = _mix_head(self.model)
        layer = ("mix" if mix_head else -1) if layer is None else layer
        if layer == "mix" and mix_head is None:
            raise RecipeError(f"--layer mix: this model has no scalar_mix head (heads: "
                              f"{', '.join(self.model.heads)}); give a layer number, 0 .. {self.recipe.model.layers}")
        self.model.reset_states()  # stateful LSTMs: every text starts afresh
        with torch.no_grad():
            out = self.model(**encoded["batch"], output_hidden_states=True)
        if layer == "mix":
            vectors = out.heads[mix_head]["representation"][0]  # (T, D)
        else:
            vectors = _pick_layer(out.hidden_states, int(layer))[0]
        first, last = encoded["trim"]
        return encoded["tokens"], vectors[first: vectors.shape[0] - last]

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
        eval_batches, words = _eval_data(prepared)
        metrics = evaluate(self.model, eval_batches, None, words=words)
        baseline = getattr(prepared, "unigram_baseline", None)
        if callable(baseline):
            unigram = baseline()
            metrics["unigram_nats_per_token"] = unigram["nats_per_token"]
            metrics["unigram_bits_per_word"] = unigram["bits_per_word"]
        floor = (getattr(prepared, "stats", None) or {}).get("floor_bits_per_word")
        if floor is not None:
            metrics["floor_bits_per_word"] = floor
        return metrics


def _eval_data(prepared: Any) -> tuple[list, int | None]:
    batches = prepared.eval_batches()
    words = getattr(prepared, "heldout_word_count", None)
    return batches, (words() if callable(words) else None)


def _word_id(tok: Any, word: str) -> int:
    index = tok.token_to_id(word)
    return index if index is not None else tok.unk_id


def _mix_head(model: Any) -> str | None:
    names = [name for name, spec in model.recipe.model.head.items()
             if spec is not None and spec.params.representation]
    return names[0] if names else None


def _pick_layer(hidden_states: tuple, layer: int) -> Any:
    count = len(hidden_states)
    if not -count <= layer < count:
        raise RecipeError(f"--layer: {layer} is out of range; this model has layers 0 (embedding) .. {count - 1}")
    return hidden_states[layer]


# -- loading ------------------------------------------------------------------------------------------
def _locate(path: Path) -> tuple[Path, Path, Path]:
    """(folder with recipe.yaml + tokenizer/, weights file, versions.json) for a run or model folder."""
    from .training.checkpoint import latest_checkpoint

    if not path.exists():
        raise RunError(f"{path}: no such run folder")
    if (path / "model.safetensors").is_file() and (path / "recipe.yaml").is_file():
        return path, path / "model.safetensors", path / "versions.json"
    if (path / "model" / "model.safetensors").is_file():
        return path / "model", path / "model" / "model.safetensors", path / "model" / "versions.json"
    checkpoint = latest_checkpoint(path / "checkpoints")
    if (path / "recipe.yaml").is_file() and checkpoint is not None:
        return path, checkpoint / "model.safetensors", path / "versions.json"
    raise RunError(f"{path}: not a trained plmkit run (no model/model.safetensors, no checkpoint); "
                   "give a folder written by plmkit run")


def _check_plugins(versions_file: Path) -> None:
    """Every component the run was built from must be registered now; else name its package."""
    if not versions_file.is_file():
        return
    from .plugins import get_registry

    registry = get_registry()
    for c in json.loads(versions_file.read_text(encoding="utf-8")).get("components", []):
        if registry.get(c["kind"], c["type"]) is None:
            package = f"{c['package']}=={c['version']}" if c.get("version") not in (None, "", "unknown") else c["package"]
            raise EnvironmentProblem(f"{c['key']}: this run's {c['kind']} {c['type']!r} comes from the plugin "
                                     f"package {package}, which is not installed or did not load; "
                                     f"install it: pip install '{package}'")


def load_run(path: Any, device: str = "cpu") -> Run:
    """Load a trained run (see module doc); the model is returned in eval mode on ``device``."""
    from .data.tokenize import Tokenizer
    from .models.build import build_model
    from .training.checkpoint import load_weights
    from .training.rundir import load_saved_recipe

    folder, weights, versions_file = _locate(Path(path))
    _check_plugins(versions_file)
    recipe = load_saved_recipe(folder)
    tokenizer = Tokenizer.load(folder / "tokenizer")
    model = build_model(recipe, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    load_weights(model, weights, device=device)
    model.to(device).eval()
    return Run(folder, recipe, model, tokenizer, weights)
