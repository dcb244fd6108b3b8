"""Model families as short recipe builders: ``bert_recipe`` and ``gpt2_recipe``.

Each returns a plain recipe dict (the same shape as recipes/bert.yaml and recipes/gpt.yaml) for
the sizes given; validate it with ``plmkit.recipe.validate.recipe_from_dict`` and build it with
``plmkit.build_model``. Defaults are the published base sizes (BERT-base, GPT-2 small);
interop/hf.py derives the sizes from a transformers config::

    recipe = recipe_from_dict(gpt2_recipe(hidden=256, layers=4, heads=4, vocab_size=8000))
    model = plmkit.build_model(recipe)
"""

from __future__ import annotations

from typing import Any

__all__ = ["bert_recipe", "gpt2_recipe"]


def bert_recipe(
    *,
    vocab_size: int = 30522,
    hidden: int = 768,
    layers: int = 12,
    heads: int = 12,
    ffn: int | None = None,
    max_positions: int = 512,
    segments: int = 2,
    activation: str = "gelu",
    eps: float = 1e-12,
    dropout: float = 0.1,
    attn_dropout: float = 0.1,
    next_sentence: bool = True,
    tie: bool = True,
    tokenizer: dict[str, Any] | None = None,
    name: str = "bert",
) -> dict[str, Any]:
    """BERT: token (pad row) + segment + learned positions, LayerNorm; post-LN blocks; MLM (+ NSP)."""
    embedding = {
        "type": "sum",
        "parts": [
            {"type": "token", "padding": True},
            {"type": "segment", "types": segments},
            {"type": "learned_position"},
        ],
        "layer_norm": True, "eps": eps, "dropout": dropout,
    }
    attention = _block(heads, ffn, "post", activation, eps, dropout, attn_dropout, scaled=False)
    head: dict[str, Any] = {"mlm": {"type": "masked_lm", "activation": activation, "eps": eps, "tie": tie}}
    if next_sentence:
        head["nsp"] = {"type": "next_sentence"}
    model = _model(hidden, layers, "bidirectional", max_positions, vocab_size, embedding, attention, head)
    tokenizer = tokenizer or {"type": "wordpiece", "vocab_size": max(vocab_size, 32)}
    return _recipe(name, "BERT-shaped masked-LM encoder", model, tokenizer, max_positions)


def gpt2_recipe(
    *,
    vocab_size: int = 50257,
    hidden: int = 768,
    layers: int = 12,
    heads: int = 12,
    ffn: int | None = None,
    max_positions: int = 1024,
    activation: str = "gelu_tanh",
    eps: float = 1e-5,
    dropout: float = 0.1,
    embedding_dropout: float | None = None,
    attn_dropout: float = 0.1,
    tie: bool = True,
    tokenizer: dict[str, Any] | None = None,
    name: str = "gpt2",
) -> dict[str, Any]:
    """GPT-2: token + learned positions (no LayerNorm); pre-LN blocks, final LayerNorm; tied causal LM."""
    embedding = {
        "type": "sum",
        "parts": [{"type": "token"}, {"type": "learned_position"}],
        "layer_norm": False, "dropout": dropout if embedding_dropout is None else embedding_dropout,
    }
    attention = _block(heads, ffn, "pre", activation, eps, dropout, attn_dropout, scaled=True)
    head = {"lm": {"type": "causal_lm", "tie": tie}}
    model = _model(hidden, layers, "causal", max_positions, vocab_size, embedding, attention, head)
    # byte-level BPE needs at least the 256 bytes and <|endoftext|>
    tokenizer = tokenizer or {"type": "byte_bpe", "vocab_size": max(vocab_size, 257)}
    return _recipe(name, "GPT-2-shaped causal language model", model, tokenizer, max_positions)


def _block(heads, ffn, norm, activation, eps, dropout, attn_dropout, scaled) -> dict[str, Any]:
    return {
        "type": "transformer", "heads": heads, "ffn": ffn, "norm": norm, "activation": activation, "eps": eps,
        "dropout": dropout, "attn_dropout": attn_dropout, "scaled_residual_init": scaled,
    }


def _model(hidden, layers, direction, max_positions, vocab_size, embedding, attention, head) -> dict[str, Any]:
    return {
        "hidden": hidden, "layers": layers, "direction": direction, "max_positions": max_positions,
        "vocab_size": vocab_size, "embedding": embedding, "attention": attention, "head": head,
    }


def _recipe(name, description, model, tokenizer, max_positions) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "model": model,
        "tokenizer": tokenizer,
        "data": {"type": "generated"},
        "device": {"type": "auto"},
        "train": {"steps": 1000, "seq_len": min(128, max_positions)},
    }
