"""Whether a recipe describes a transformers BERT or GPT-2, read from its components (no torch here).

``hf_shape(recipe)`` returns an ``HfShape``: the family, where each BERT/GPT-2 piece sits in the
plmkit state dict (``embedding.parts.0`` ...) and the settings a transformers config needs, all
derived from the validated recipe's component types and parameters. A recipe transformers
cannot express raises ``RunError`` with one line naming each component that prevents it::

    model.embedding.parts.1: rotary positions have no BERT/GPT-2 equivalent in transformers

``hf_refusal(recipe)`` gives that line (or None) without raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import RunError

__all__ = ["HfShape", "hf_shape", "hf_refusal"]

_POSITIONS = {"rotary": "rotary positions", "sinusoidal_position": "sinusoidal positions"}
_LOOKUPS = ("token", "segment", "learned_position")


@dataclass(frozen=True)
class HfShape:
    """A BERT- or GPT-2-shaped recipe, as transformers sees it."""

    family: str  # "bert" or "gpt2"
    token: str  # state-dict prefix of the token table, e.g. "embedding.parts.0"
    segment: str | None
    position: str
    layers: int
    mlm: str | None = None  # "heads.<name>" of the masked_lm head
    nsp: str | None = None
    lm: str | None = None
    tied: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # sizes, activation, eps, dropout (see _settings)

    @property
    def hf_class(self) -> str:
        """The transformers class that holds exactly these weights."""
        if self.family == "gpt2":
            return "GPT2LMHeadModel"
        return "BertForPreTraining" if self.nsp else "BertForMaskedLM"


def hf_refusal(recipe: Any) -> str | None:
    """Why transformers cannot express this recipe's model, in one line; None if it can."""
    problems = _problems(recipe)
    return "; ".join(f"{key}: {why}" for key, why in problems) if problems else None


def hf_shape(recipe: Any) -> HfShape:
    """The ``HfShape`` of a validated recipe; ``RunError`` naming the components that prevent it."""
    why = hf_refusal(recipe)
    if why:
        raise RunError(f"this model cannot be written as a transformers BERT or GPT-2: {why}")
    m = recipe.model
    family = "gpt2" if m.direction == "causal" else "bert"
    parts = {part.type: f"embedding.parts.{i}" for i, part in enumerate(m.embedding.params.parts)}
    heads = {spec.type: (name, spec) for name, spec in m.head.items() if spec is not None}
    lm_type = "causal_lm" if family == "gpt2" else "masked_lm"
    lm_name, lm_spec = heads[lm_type]
    nsp = heads.get("next_sentence")
    return HfShape(
        family=family, token=parts["token"], segment=parts.get("segment"), position=parts["learned_position"],
        layers=m.layers, mlm=f"heads.{lm_name}" if family == "bert" else None,
        nsp=f"heads.{nsp[0]}" if nsp else None, lm=f"heads.{lm_name}" if family == "gpt2" else None,
        tied=lm_spec.params.tie, settings=_settings(recipe),
    )


def _settings(recipe: Any) -> dict[str, Any]:
    """What a transformers config needs besides the vocabulary, from the recipe."""
    m = recipe.model
    block, embedding = m.attention.params, m.embedding.params
    segment = next((p.params for p in embedding.parts if p.type == "segment"), None)
    return dict(
        hidden=m.hidden, layers=m.layers, heads=block.heads, ffn=block.ffn or 4 * m.hidden,
        activation=block.activation, eps=block.eps, dropout=block.dropout, attn_dropout=block.attn_dropout,
        embedding_dropout=embedding.dropout, max_positions=m.max_positions, init_std=block.init_std,
        segments=segment.types if segment is not None else None,
    )


# -- what prevents it -----------------------------------------------------------------------------
def _problems(recipe: Any) -> list[tuple[str, str]]:
    m = recipe.model
    family = {"causal": "gpt2", "bidirectional": "bert"}.get(m.direction)
    problems = _embedding_problems(m.embedding, family) + _encoder_problems(m, family)
    if family is None:  # bilm: the components say why first; the direction only when they do not
        return problems or [("model.direction", "bilm (two one-way stacks, as ELMo) has no transformers equivalent")]
    return problems + _head_problems(m, family)


def _named(spec: Any) -> str:
    """``'rotary'``, or ``'alibi' (from the plugin plmkit-alibi)``."""
    provider = spec.component.provider if spec.component is not None else "plmkit"
    return f"{spec.type!r}" + ("" if provider == "plmkit" else f" (from the plugin {provider})")


def _embedding_problems(embedding: Any, family: str | None) -> list[tuple[str, str]]:
    key = "model.embedding"
    if embedding.type != "sum":
        return [(key, f"{_named(embedding)} has no BERT/GPT-2 equivalent in transformers (they add token, "
                      f"(segment,) learned_position tables)")]
    problems = []
    for i, part in enumerate(embedding.params.parts):
        if part.type in _POSITIONS:
            problems.append((f"{key}.parts.{i}", f"{_POSITIONS[part.type]} have no BERT/GPT-2 equivalent in transformers"))
        elif part.type not in _LOOKUPS:
            problems.append((f"{key}.parts.{i}", f"{_named(part)} has no BERT/GPT-2 equivalent in transformers"))
    types = [part.type for part in embedding.params.parts]
    missing = [t for t in ("token", "learned_position") if t not in types]
    if missing and not problems:  # a part named above already says what stands in their place
        problems.append((f"{key}.parts", f"transformers' BERT/GPT-2 need a {' and a '.join(missing)} part"))
    if family == "bert":
        if "segment" not in types:
            problems.append((f"{key}.parts", "transformers' BERT adds a segment (token type) part"))
        if not embedding.params.layer_norm:
            problems.append((f"{key}.layer_norm", "false, but transformers' BERT normalises its embeddings"))
    elif family == "gpt2":
        if "segment" in types:
            problems.append((f"{key}.parts", "transformers' GPT-2 has no segment (token type) part"))
        if embedding.params.layer_norm:
            problems.append((f"{key}.layer_norm", "true, but transformers' GPT-2 does not normalise its embeddings"))
    return problems


def _encoder_problems(m: Any, family: str | None) -> list[tuple[str, str]]:
    if m.recurrent is not None:
        return [("model.recurrent", f"{_named(m.recurrent)}: a recurrent encoder has no BERT/GPT-2 "
                                    f"equivalent in transformers")]
    block = m.attention
    if block.type != "transformer":
        return [("model.attention", f"{_named(block)} has no BERT/GPT-2 equivalent in transformers (only "
                                    f"plmkit's transformer block has)")]
    problems, p = [], block.params
    if not p.bias:
        problems.append(("model.attention.bias", "false, but transformers' BERT/GPT-2 projections have biases"))
    expected = {"bert": "post", "gpt2": "pre"}.get(family or "")
    if expected and p.norm != expected:
        name = "BERT" if family == "bert" else "GPT-2"
        problems.append(("model.attention.norm", f"{p.norm}-LN, but transformers' {name} blocks are {expected}-LN"))
    if family == "bert":
        embedding = m.embedding.params
        if m.embedding.type == "sum" and embedding.layer_norm and embedding.eps != p.eps:
            problems.append(("model.embedding.eps", f"{embedding.eps}, but the blocks use {p.eps}; transformers' "
                                                    f"BERT uses one layer_norm_eps throughout"))
    return problems


def _head_problems(m: Any, family: str) -> list[tuple[str, str]]:
    allowed = ("masked_lm", "next_sentence") if family == "bert" else ("causal_lm",)
    name = "BertForPreTraining" if family == "bert" else "GPT2LMHeadModel"
    heads = {n: spec for n, spec in m.head.items() if spec is not None}
    problems = [(f"model.head.{n}", f"{_named(spec)} has no equivalent in transformers' {name}")
                for n, spec in heads.items() if spec.type not in allowed]
    types = [spec.type for spec in heads.values()]
    lm = allowed[0]
    if not problems and (types.count(lm) != 1 or types.count("next_sentence") > 1):
        problems.append(("model.head", f"transformers' {name} has exactly one {lm} head"
                                       + (" and at most one next_sentence head" if family == "bert" else "")))
    if family == "bert" and m.attention is not None and m.attention.type == "transformer":
        block = m.attention.params
        for n, spec in heads.items():
            if spec.type != "masked_lm":
                continue
            if spec.params.activation != block.activation:
                problems.append((f"model.head.{n}.activation", f"{spec.params.activation}, but the blocks use "
                                 f"{block.activation}; transformers' BERT uses one hidden_act"))
            if spec.params.eps != block.eps:
                problems.append((f"model.head.{n}.eps", f"{spec.params.eps}, but the blocks use {block.eps}; "
                                 f"transformers' BERT uses one layer_norm_eps throughout"))
    return problems
