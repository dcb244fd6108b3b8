"""Parameter models of components, and the base class of each kind whose components share facts.

Every component's parameters are a pydantic model that subclasses ``Params`` (or the base of its
kind below): fields with a type, a default, bounds and a one-line ``description``; unknown keys,
non-finite numbers and true/false where a number is wanted are refused. What the rest of plmkit needs to know about a kind of
component *before building it* is declared here as class variables and methods, so the
contract is code: a plugin's component is read exactly like a built-in's.

Kind bases (``KIND_BASES``):

* ``EmbeddingParams``  ``token_table()``, ``chars_per_token()``
* ``HeadParams``       ``objective``, ``language_model``, ``representation``, ``directions``,
                       ``transforms_inputs``
* ``BatchingParams``   ``objectives``, ``required_tokens()``
* ``TokenizerParams``  ``special_tokens``, ``one_id_per_word``, ``expected_vocab_size()``
* ``TaskParams``       ``measure``, ``read``, ``metric``, ``higher_is_better``, ``directions``,
                       ``known_for`` (``plmkit compare``'s downstream tasks)

Nothing here imports torch: validating a recipe must stay fast.
"""

from __future__ import annotations

import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "Params",
    "EmbeddingParams",
    "HeadParams",
    "BatchingParams",
    "TokenizerParams",
    "TaskParams",
    "KIND_BASES",
    "DIRECTIONS",
    "class_fact_problem",
    "NumbersAreNumbers",
]

#: the ways an encoder can read a sequence (``model.direction``)
DIRECTIONS: tuple[str, ...] = ("bidirectional", "causal", "bilm")


def _bool_for_number(annotation: Any, value: Any) -> str | None:
    """``"int"`` or ``"float"`` when ``value`` holds true/false where ``annotation`` asks for that
    number (pydantic would read ``true`` as 1), looking into optional values, lists, tuples and dicts."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (int, float):
        return annotation.__name__ if isinstance(value, bool) else None
    if origin in (typing.Union, types.UnionType) and bool not in args:
        numbers = [a for a in args if a is not type(None)]
        return _bool_for_number(numbers[0], value) if len(numbers) == 1 else None
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        items = args if origin is tuple and Ellipsis not in args else [args[0]] * len(value) if args else []
        return next((found for a, v in zip(items, value) if (found := _bool_for_number(a, v))), None)
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return next((found for v in value.values() if (found := _bool_for_number(args[1], v))), None)
    return None


class NumbersAreNumbers(BaseModel):
    """Refuses true/false where a field wants an integer or a number, and infinite or NaN numbers."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        kind = _bool_for_number(field.annotation, value) if field is not None else None
        if kind:
            raise PydanticCustomError(f"{kind}_type", "Input should be a valid {kind}, not true/false", {"kind": kind})
        return value


class Params(NumbersAreNumbers):
    """Base of every component's parameter model.

    Fields carry a type, a default, bounds and a one-line ``description``. Unknown keys are
    errors, and so are infinite or NaN numbers. A subclass may override :meth:`check` for rules
    that need the rest of the recipe (heads dividing the hidden size, a causal head needing a
    causal encoder, ...).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def check(self, recipe: Any, key: str) -> list[tuple[str, str]]:
        """Problems with this component in the context of the whole validated recipe.

        ``key`` is this component's dotted path in the recipe. Return ``(dotted_key, message)``
        pairs; an empty list means all is well.
        """
        return []

    def output_width(self, recipe: Any) -> int | None:
        """Embeddings and encoder layers: the width of each output vector, if the recipe fixes it.

        ``None`` means "not known before building"; checks that need it are then skipped.
        """
        return None


class EmbeddingParams(Params):
    """Base of every embedding's parameters."""

    def token_table(self) -> bool:
        """Whether this embedding has a token table a head can tie its softmax to."""
        return False

    def chars_per_token(self) -> int | None:
        """Characters per token this embedding reads from ``char_ids`` (None: it reads no characters)."""
        return None


class HeadParams(Params):
    """Base of every head's parameters: the facts about a head that the rest of plmkit reads.

    objective          the training objective whose batches the head reads (``masked_lm``,
                       ``next_sentence``, ``causal_lm``, ``bidirectional_lm``, or a plugin's own);
                       a ``batching`` component serving it is chosen or checked at validation.
                       None: the head trains on nothing of its own (a probe, a scalar mix).
    language_model     its ``logits`` are over the vocabulary and are the model's ``logits``
                       (at most one per recipe).
    representation     it returns ``"representation"`` (B, T, D) for downstream use (``plmkit embed``).
    directions         the values of ``model.direction`` it works with, the most natural first.
    transforms_inputs  its module's ``transform_inputs(batch)`` rewrites the batch before the
                       encoder runs (ELECTRA's generator); at most one per recipe.
    """

    objective: ClassVar[str | None] = None
    language_model: ClassVar[bool] = False
    representation: ClassVar[bool] = False
    directions: ClassVar[tuple[str, ...]] = DIRECTIONS
    transforms_inputs: ClassVar[bool] = False


class BatchingParams(Params):
    """Base of every batching's parameters.

    objectives   the head objectives its batches serve (a recipe's heads must all be served).
    """

    objectives: ClassVar[frozenset[str]] = frozenset()

    def required_tokens(self) -> frozenset[str]:
        """Tokenizer roles its batches are made with (``pad``, ``cls``, ``sep``, ``mask``, ``bos``, ``eos``, ``unk``)."""
        return frozenset({"pad"})


class TokenizerParams(Params):
    """Base of every tokenizer's parameters.

    special_tokens   the roles of the special tokens it always has (None: unknown until loaded,
                     e.g. a pretrained file).
    one_id_per_word  it maps each whitespace-separated word to exactly one id.
    """

    special_tokens: ClassVar[frozenset[str] | None] = None
    one_id_per_word: ClassVar[bool] = False

    def expected_vocab_size(self) -> int:
        """The vocabulary size to count parameters with before the tokenizer exists."""
        size = getattr(self, "vocab_size", None)
        if not isinstance(size, int):
            raise NotImplementedError(f"{type(self).__name__} must define expected_vocab_size()")
        return size


class TaskParams(Params):
    """Base of every task's parameters (the downstream tasks of ``plmkit compare``; docs/compare.md).

    measure           "probe": the task gives labelled examples (``examples(corpus)``) that a
                      linear probe on frozen features and fine-tuning learn; "direct": the task
                      measures a model itself (``measure(run, corpus, seed)``: bits per word,
                      generated text).
    read              probe tasks: where a model's vector for an example is read. "text": one
                      label per text, the mean over its tokens; "words": one label per
                      whitespace word, at the word's last token; "next": one label about the
                      word that follows the text (causal and bilm models read the text's last
                      word; models with a mask token read a mask appended in its place).
    metric            the name of the number the task reports (``accuracy``, ``bits_per_word``, ...).
    higher_is_better  how the best model of a column is chosen.
    directions        the ``model.direction`` values the task applies to (others show "n/a").
    known_for         the model family the usual claims credit with this task ("BERT", "GPT",
                      "ELMo"), or None; the report says where the measurement agrees or not.
    """

    measure: ClassVar[str] = "probe"
    read: ClassVar[str] = "text"
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = DIRECTIONS
    known_for: ClassVar[str | None] = None


#: kinds whose components must subclass a base of their own (every other kind: ``Params``)
KIND_BASES: dict[str, type[Params]] = {
    "embedding": EmbeddingParams,
    "head": HeadParams,
    "batching": BatchingParams,
    "tokenizer": TokenizerParams,
    "task": TaskParams,
}


#: the class facts of each base and the kind of value each must hold
_FACTS: dict[type, dict[str, tuple[str, Any]]] = {
    HeadParams: {
        "objective": ("a string or None", lambda v: v is None or (isinstance(v, str) and bool(v))),
        "language_model": ("True or False", lambda v: isinstance(v, bool)),
        "representation": ("True or False", lambda v: isinstance(v, bool)),
        "transforms_inputs": ("True or False", lambda v: isinstance(v, bool)),
        "directions": (f"a non-empty tuple of {', '.join(DIRECTIONS)}",
                       lambda v: isinstance(v, tuple) and bool(v) and all(d in DIRECTIONS for d in v)),
    },
    BatchingParams: {
        "objectives": ("a non-empty frozenset of objective names, e.g. frozenset({'masked_lm'})",
                       lambda v: isinstance(v, frozenset) and bool(v) and all(isinstance(o, str) for o in v)),
    },
    TokenizerParams: {
        "special_tokens": ("a frozenset of roles or None",
                           lambda v: v is None or (isinstance(v, frozenset) and all(isinstance(r, str) for r in v))),
        "one_id_per_word": ("True or False", lambda v: isinstance(v, bool)),
    },
}


def class_fact_problem(params: type[Params]) -> str | None:
    """Why a Params class's class facts (``objective``, ``objectives``, ...) are not what plmkit reads, or None."""
    for base, facts in _FACTS.items():
        if issubclass(params, base):
            for name, (expected, ok) in facts.items():
                value = getattr(params, name)
                if not ok(value):
                    return f"its class fact {name} must be {expected}, got {value!r}"
    return None
