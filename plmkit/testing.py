"""Contract checks for components: the same checks hold plmkit's built-ins and your plugin's.

Use them in a plugin's tests::

    from plmkit.testing import check_component
    def test_my_block_keeps_the_contract():
        check_component("attention", "my_block", heads=2)

Each check builds a tiny model around the component from a recipe, runs it, and raises
``AssertionError`` saying which promise was broken: parameters documented, output shapes,
a finite loss whose gradient reaches every parameter, padding ignored, no look-ahead in
causal models, and, for blocks that keep a cache, incremental decoding equal to the full forward.
"""

from __future__ import annotations

from typing import Any

from .plugins import get_registry

__all__ = ["check_params", "check_component", "check_batching", "tiny_recipe"]

VOCAB = 50
HIDDEN = 16

_LM_HEAD_FOR = {"causal": "causal_lm", "bidirectional": "masked_lm", "bilm": "bidirectional_lm"}
_TOKENIZER_FOR = {"causal": "byte_bpe", "bidirectional": "wordpiece", "bilm": "word"}  # special tokens each layout needs


def check_params(kind: str, name: str) -> None:
    """Every parameter has a one-line description; unknown keys are refused."""
    component = get_registry().get(kind, name)
    assert component is not None, f"{kind} {name!r} is not registered"
    assert component.description, f"{kind} {name!r}: give its Params class a docstring (the listing shows its first line)"
    for field, info in component.params.model_fields.items():
        assert info.description, f"{kind} {name!r}: parameter {field!r} needs Field(description=...)"
    assert component.params.model_config.get("extra") == "forbid", f"{kind} {name!r}: Params must forbid unknown keys"


def tiny_recipe(kind: str, name: str, direction: str | None = None, **params: Any) -> dict[str, Any]:
    """A small recipe (as data) that puts component ``kind``/``name`` in a working model."""
    component = get_registry().get(kind, name)
    if direction is None:  # a head's most natural direction; causal for everything else
        direction = component.params.directions[0] if kind == "head" else "causal"
    model: dict[str, Any] = {
        "hidden": HIDDEN, "layers": 2, "direction": direction, "max_positions": 32, "vocab_size": VOCAB,
        "embedding": {"type": "sum", "parts": [{"type": "token"}, {"type": "learned_position"}], "dropout": 0.0},
        "head": {"lm": {"type": _LM_HEAD_FOR[direction]}},
    }
    if direction == "bilm":
        model["embedding"]["layer_norm"] = False
    encoder = {"type": "transformer", "heads": 2, "dropout": 0.0, "attn_dropout": 0.0}
    model["attention"] = encoder
    spec = {"type": name, **params}
    if kind == "embedding":
        model["embedding"] = spec
    elif kind == "attention":
        model["attention"] = spec
    elif kind == "recurrent":
        model.pop("attention")
        model["recurrent"] = spec
    elif kind == "head":  # a head with an objective of its own trains alone; a probe beside the LM head
        model["head"] = {"lm": spec} if component.params.objective else {**model["head"], "probe": spec}
    return {
        "name": f"contract-{kind}-{name}",
        "model": model,
        "tokenizer": {"type": _TOKENIZER_FOR[direction], "vocab_size": 1000},  # the model uses model.vocab_size
        "data": {"type": "generated", "documents": 10},
        "device": {"type": "cpu"},
        "train": {"steps": 1, "batch_size": 2, "seq_len": 12},
    }


def _batch(recipe: Any, torch: Any, seed: int = 0) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    B, T = 2, 12
    ids = torch.randint(1, VOCAB, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 8:] = 0  # the second row is padded
    # every input any component may read; each takes what it needs and ignores the rest
    width = recipe.model.embedding.params.chars_per_token() or 50
    chars = torch.randint(1, 262, (B, T, width), generator=g) * mask[..., None]
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100),
            "char_ids": chars, "token_type_ids": torch.zeros(B, T, dtype=torch.long),
            "next_sentence_label": torch.tensor([0, 1])}


def check_component(kind: str, name: str, direction: str | None = None, **params: Any) -> None:
    """Build a tiny model around the component and check the promises every component makes."""
    import torch

    from .models.build import build_model
    from .recipe.validate import recipe_from_dict

    check_params(kind, name)
    recipe = recipe_from_dict(tiny_recipe(kind, name, direction, **params), source=f"<{kind} {name} contract>")
    torch.manual_seed(0)
    model = build_model(recipe, vocab_size=VOCAB).eval()
    batch = _batch(recipe, torch)
    out = model(**batch, output_hidden_states=True)
    B, T = batch["attention_mask"].shape
    assert len(out.hidden_states) == recipe.model.layers + 1, "hidden_states: the embedding, then one per layer"
    assert all(h.shape[:2] == (B, T) for h in out.hidden_states), "every layer keeps (batch, time)"
    if out.logits is not None:
        assert out.logits.shape == (B, T, VOCAB), f"LM logits are (B, T, V), got {tuple(out.logits.shape)}"
    _check_each_tensor_saved_once(model)
    _check_gradients(model, out)
    _check_unpadded_batch(model, batch, torch)
    _check_padding_is_ignored(model, batch, torch)
    if recipe.model.direction == "causal":
        _check_no_look_ahead(model, batch, torch)
        _check_cached_decoding(model, batch, torch)
    if recipe.model.direction == "bilm":
        _check_each_direction_sees_one_side(model, batch, torch)


def _check_gradients(model: Any, out: Any) -> None:
    assert out.loss is not None and bool(out.loss.isfinite()), f"loss must be finite, got {out.loss}"
    model.zero_grad()
    out.loss.backward()
    # heads without a loss (a probe, a scalar mix) are not trained by this loss
    idle = tuple(f"heads.{name}." for name in model.heads if name not in out.losses)
    silent = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None and not n.startswith(idle)]
    assert not silent, f"no gradient reaches: {', '.join(silent[:5])}"


def _check_each_tensor_saved_once(model: Any) -> None:
    """A tied head keeps a plain reference to the token table, so the state dict holds it once."""
    seen: dict[int, str] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        other = seen.setdefault(id(tensor), name)
        assert other == name, f"{name} is {other} again: keep tied tensors as plain references (see docs/design.md)"


def _check_unpadded_batch(model: Any, batch: dict, torch: Any) -> None:
    """A batch without padding (the model may then pass blocks no mask at all) works too."""
    full = {k: v[:1, :8] for k, v in batch.items() if v.dim() >= 2}
    full.update({k: v[:1] for k, v in batch.items() if v.dim() == 1})
    with torch.no_grad():
        out = model(**full, output_hidden_states=True)
    assert out.hidden_states[-1].isfinite().all(), "non-finite outputs on a batch without padding"


def _check_padding_is_ignored(model: Any, batch: dict, torch: Any) -> None:
    """Changing what sits in padded positions must not change any real position's output."""
    changed = {k: v.clone() for k, v in batch.items()}
    pad = changed["attention_mask"] == 0
    changed["input_ids"][pad] = (changed["input_ids"][pad] + 7) % VOCAB
    if "char_ids" in changed:
        changed["char_ids"][pad] = 5
    with torch.no_grad():
        a = model(**batch, output_hidden_states=True).hidden_states[-1]
        b = model(**changed, output_hidden_states=True).hidden_states[-1]
    keep = ~pad
    assert torch.allclose(a[keep], b[keep], atol=1e-5), "outputs at real tokens depend on padded positions"


def _check_no_look_ahead(model: Any, batch: dict, torch: Any) -> None:
    """In a causal model, position t's output must not change when tokens after t change."""
    t = 5
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][:, t + 1 :] = (changed["input_ids"][:, t + 1 :] + 3) % VOCAB
    with torch.no_grad():
        a = model(**batch, output_hidden_states=True).hidden_states[-1]
        b = model(**changed, output_hidden_states=True).hidden_states[-1]
    assert torch.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-5), "a causal model looks at future tokens"
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :]), "later positions should see the change"


def _check_cached_decoding(model: Any, batch: dict, torch: Any) -> None:
    """A model whose blocks keep a cache (``supports_cache``) decodes incrementally to the logits of
    the full forward: a prompt, then one position at a time, for one sequence and for several."""
    if model.lm_head is None or model.new_cache() is None:
        return  # generation recomputes the context: nothing incremental to check
    ids = batch["input_ids"]
    with torch.no_grad():
        full = model(input_ids=ids).logits  # (B, T, V)
        for rows in (ids[:1], ids):
            cache, prompt = model.new_cache(), 4
            steps = [model.next_logits(rows[:, :prompt], cache)]
            steps += [model.next_logits(rows[:, t : t + 1], cache) for t in range(prompt, ids.shape[1])]
            expected = full[: rows.shape[0], prompt - 1 :]
            assert torch.allclose(torch.stack(steps, dim=1), expected, atol=1e-4), \
                f"cached decoding of {rows.shape[0]} sequence(s) differs from the full forward"


def _check_each_direction_sees_one_side(model: Any, batch: dict, torch: Any) -> None:
    """In a biLM, the forward half never sees later words and the backward half never earlier ones."""
    k = 4
    changed = {key: value.clone() for key, value in batch.items()}
    changed["input_ids"][:, k] = (changed["input_ids"][:, k] + 3) % VOCAB
    if "char_ids" in changed:
        changed["char_ids"][:, k] = (changed["char_ids"][:, k] % 200) + 1
    with torch.no_grad():
        a = model(**batch, output_hidden_states=True).hidden_states[-1]
        b = model(**changed, output_hidden_states=True).hidden_states[-1]
    half = a.shape[-1] // 2
    assert torch.allclose(a[:, :k, :half], b[:, :k, :half], atol=1e-5), "the forward LM sees later words"
    assert torch.allclose(a[:, k + 1 : 8, half:], b[:, k + 1 : 8, half:], atol=1e-5), "the backward LM sees earlier words"
    assert not torch.allclose(a[:, k:8, :half], b[:, k:8, :half]), "the forward LM should see the changed word"


# -- batching components ---------------------------------------------------------------------------
def _heads_for(objectives: frozenset[str]) -> dict[str, Any]:
    """One registered head per objective (plmkit's own first), as recipe data."""
    heads = {}
    for objective in sorted(objectives):
        candidates = [c for c in get_registry().of_kind("head") if c.params.objective == objective]
        candidates.sort(key=lambda c: (c.provider != "plmkit", c.name))
        assert candidates, f"no registered head trains on {objective!r}, which the batching serves"
        heads[objective] = candidates[0]
    return heads


def check_batching(name: str, **params: Any) -> None:
    """A batching's promises, on a tiny generated corpus: a deterministic, resumable training stream,
    fixed held-out batches with their word counts, texts encoded with their words' positions, and
    batches the model of a recipe using it trains on."""
    import torch

    from .data.prepare import prepare
    from .models.build import build_model
    from .recipe.validate import recipe_from_dict

    check_params("batching", name)
    component = get_registry().get("batching", name)
    heads = _heads_for(component.params.objectives)
    first = next(iter(heads.values()))
    data = tiny_recipe("head", first.name)
    data["model"]["head"] = {c.name: {"type": c.name} for c in heads.values()}
    data["batching"] = {"type": name, **params}
    data["train"] = {"steps": 1, "batch_size": 2, "seq_len": 16, "warmup_steps": 0}
    data["data"] = {"type": "generated", "documents": 16}
    data["tokenizer"]["vocab_size"] = 300 if data["tokenizer"]["type"] == "byte_bpe" else 100
    data["model"].pop("vocab_size")
    recipe = recipe_from_dict(data, source=f"<batching {name} contract>")
    prepared, again = prepare(recipe), prepare(recipe)
    _check_stream(prepared, again, torch)
    _check_heldout(prepared, again, torch)
    _check_texts(prepared)
    torch.manual_seed(0)
    model = build_model(recipe, vocab_size=prepared.tokenizer.vocab_size, pad_id=prepared.tokenizer.pad_id)
    out = model(**next(prepared.train_batches()))
    assert out.loss is not None and bool(out.loss.isfinite()), f"the model's loss on a {name} batch is {out.loss}"
    out.loss.backward()


def _same(a: dict, b: dict, torch: Any) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _check_stream(prepared: Any, again: Any, torch: Any) -> None:
    full = [batch for batch, _ in zip(prepared.train_batches(), range(8))]
    assert all(_same(a, b, torch) for a, b in zip(full, again.train_batches())), "the training stream is not deterministic"
    tail = [batch for batch, _ in zip(prepared.train_batches(start=5), range(3))]
    assert all(_same(a, b, torch) for a, b in zip(full[5:], tail)), "train_batches(start=k) is not the stream's tail"
    for batch in full:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        assert ids.dim() == 2 and mask.shape == ids.shape and ids.dtype == torch.long, "input_ids/attention_mask (B, T)"
        assert ids.shape[0] == prepared.micro_batch, f"{ids.shape[0]} rows, train.batch_size is {prepared.micro_batch}"
        assert bool(((mask == 0) | (mask == 1)).all()) and bool((mask[:, 1:] <= mask[:, :-1]).all()), "right padding"


def _check_heldout(prepared: Any, again: Any, torch: Any) -> None:
    batches, words = prepared.eval_batches(), prepared.eval_word_counts()
    assert batches and len(words) == len(batches), "one word count per held-out batch"
    assert all(isinstance(w, int) and w >= 0 for w in words), f"word counts must be counts, got {words}"
    assert all(_same(a, b, torch) for a, b in zip(batches, again.eval_batches())), "held-out batches must be fixed"


def _check_texts(prepared: Any) -> None:
    texts = ["the dogs are hungry .", "a farmer feeds the old horses in the barn ."]
    encoded = prepared.batching.encode_texts(texts, prepared.tokenizer)
    width = encoded.batch["input_ids"].shape[1]
    assert encoded.batch["input_ids"].shape[0] == 2, "encode_texts: one row per text"
    for text, (start, end), ends, tokens in zip(texts, encoded.spans, encoded.word_ends, encoded.tokens):
        assert 0 <= start <= end <= width and len(tokens) == end - start, "encode_texts: spans and tokens agree"
        assert len(ends) == len(text.split()), "encode_texts: one position per whitespace word"
        assert all(start <= p < end for p in ends) and ends == sorted(ends), "word ends lie in the text's span, in order"
