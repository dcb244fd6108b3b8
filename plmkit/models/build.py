"""``build_model``: turn a validated recipe into a ``LanguageModel``."""

from __future__ import annotations

from typing import Any

from .context import BuildContext


def model_vocab_size(recipe: Any, vocab_size: int | None = None) -> int:
    """The vocabulary size the model is built with: given, else the recipe's, else the tokenizer's."""
    if vocab_size is not None:
        return vocab_size
    if recipe.model.vocab_size is not None:
        return recipe.model.vocab_size
    return recipe.tokenizer.params.expected_vocab_size()


def build_model(recipe: Any, *, vocab_size: int | None = None, pad_id: int = 0) -> Any:
    """Assemble the model a recipe describes, freshly initialised as its components specify.

    ``vocab_size`` is the trained tokenizer's size; without it the recipe's ``model.vocab_size``
    (or the tokenizer's target ``vocab_size``) is used, which is what ``plmkit show`` counts.
    A plugin's build() that raises becomes its one-line ``PluginError``.
    """
    from ..plugins import attributed

    with attributed(recipe):
        return _assemble(recipe, vocab_size, pad_id)


def _assemble(recipe: Any, vocab_size: int | None, pad_id: int) -> Any:
    from torch import nn

    from .assemble import LanguageModel

    m = recipe.model
    ctx = BuildContext(
        hidden=m.hidden,
        vocab_size=model_vocab_size(recipe, vocab_size),
        max_positions=m.max_positions,
        num_layers=m.layers,
        direction=m.direction,
        pad_id=pad_id,
        recipe=recipe,
    )
    embedding = m.embedding.component.build(m.embedding.params, ctx)
    encoder = m.attention if m.attention is not None else m.recurrent
    stack_count = 2 if m.direction == "bilm" else 1
    stacks, final_norms, width = [], [], embedding.output_dim
    for _ in range(stack_count):
        layers, width = [], embedding.output_dim
        for index in range(m.layers):
            block_ctx = ctx.but(input_dim=width, layer=index, causal=m.direction != "bidirectional")
            block = encoder.component.build(encoder.params, block_ctx)
            width = getattr(block, "output_dim", width)
            layers.append(block)
        stacks.append(nn.ModuleList(layers))
        make_final = getattr(layers[0], "make_final_norm", None)
        final_norms.append(make_final() if callable(make_final) else None)
    head_ctx = ctx.but(input_dim=width * stack_count, token_embedding=getattr(embedding, "token_embedding", None),
                       embedding=embedding)
    heads, lm_head, transform = {}, None, None
    for name, spec in m.head.items():
        if spec is None:  # a recipe that extends another removes a head by setting it to null
            continue
        heads[name] = spec.component.build(spec.params, head_ctx)
        lm_head = name if spec.params.language_model and lm_head is None else lm_head
        transform = name if spec.params.transforms_inputs else transform
    kind = "attention" if m.attention is not None else "recurrent"
    model = LanguageModel(embedding, stacks, heads, m.direction, lm_head, final_norms, kind, transform)
    model.recipe = recipe
    return model


def build_without_data(recipe: Any) -> dict[str, Any]:
    """Every component of a recipe that can be built before any data is read, built: the device
    placement, the data source, the batching, and the model on the meta device (nothing allocated).
    What ``plmkit run --dry-run`` builds, so that whatever validates and dry-runs also starts to train."""
    import torch

    from ..data.prepare import build_batching, build_context

    ctx = build_context(recipe)
    parts = {"device": recipe.device.component.build(recipe.device.params, None),
             "data": recipe.data.component.build(recipe.data.params, ctx),
             "batching": build_batching(recipe) if recipe.batching is not None else None}
    with torch.device("meta"):
        parts["model"] = build_model(recipe)
    return parts
