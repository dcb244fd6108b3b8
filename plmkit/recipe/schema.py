"""The shape of a recipe, as pydantic models (no torch here).

Sections that name a component (``model.embedding``, ``model.attention``, ``model.recurrent``,
``model.head.*``, ``batching``, ``tokenizer``, ``data``, ``device``) are ``Spec``s: ``{type: NAME, ...}``.
Their parameters are validated against the registered component's own parameter model by
``plmkit.recipe.validate``; this module validates everything around them.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from ..params import NumbersAreNumbers
from ..registry import spec_of

EmbeddingSpec = spec_of("embedding")
AttentionSpec = spec_of("attention")
RecurrentSpec = spec_of("recurrent")
HeadSpec = spec_of("head")
DeviceSpec = spec_of("device")
TokenizerSpec = spec_of("tokenizer")
DataSpec = spec_of("data")
BatchingSpec = spec_of("batching")


class Section(NumbersAreNumbers):
    """A section of the recipe: unknown keys, infinite or NaN numbers and true/false for a number are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelSection(Section):
    hidden: int = Field(ge=1, description="model width: the transformer stream, or ELMo's projection size")
    layers: int = Field(ge=1, description="number of encoder blocks (transformer blocks or LSTM layers) per direction")
    direction: Literal["bidirectional", "causal", "bilm"] = Field(
        description="bidirectional (BERT), causal (GPT) or bilm (ELMo: separate forward and backward stacks)"
    )
    max_positions: int = Field(512, ge=1, description="longest sequence the model accepts (size of position tables)")
    vocab_size: Optional[int] = Field(None, ge=1, description="vocabulary size; default: the tokenizer's")
    embedding: EmbeddingSpec = Field(description="the token encoder: an embedding component")  # type: ignore[valid-type]
    attention: Optional[AttentionSpec] = Field(None, description="transformer block (set this or recurrent)")  # type: ignore[valid-type]
    recurrent: Optional[RecurrentSpec] = Field(None, description="recurrent layer (set this or attention)")  # type: ignore[valid-type]
    head: dict[str, Optional[HeadSpec]] = Field(  # type: ignore[valid-type]
        description="objective heads by name; null removes a head inherited through extends"
    )

    @model_validator(mode="after")
    def _one_encoder(self) -> "ModelSection":
        if (self.attention is None) == (self.recurrent is None):
            raise ValueError("set exactly one of model.attention or model.recurrent")
        if not any(spec is not None for spec in self.head.values()):
            raise ValueError("model.head needs at least one head")
        return self


class TrainSection(Section):
    steps: int = Field(ge=1, description="optimiser steps")
    batch_size: int = Field(32, ge=1, description="sequences per optimiser step (before accumulation split)")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimiser step; batch_size must divide by it")
    seq_len: int = Field(128, ge=2, description="tokens per training sequence")
    lr: float = Field(5e-4, gt=0, description="peak learning rate")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final learning rate as a fraction of lr")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps")
    schedule: Literal["linear", "cosine", "constant"] = Field("linear", description="decay after warm-up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay (not on biases and norms)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas")
    eps: float = Field(1e-8, gt=0, description="AdamW epsilon")
    grad_clip: float = Field(1.0, ge=0, description="clip the global gradient norm to this (0: off)")
    seed: int = Field(0, description="seed for initialisation, data order and masking")
    log_every: int = Field(10, ge=1, description="steps between metric lines")
    checkpoint_every: int = Field(0, ge=0, description="steps between checkpoints (0: only at the end)")
    checkpoint_minutes: float = Field(
        5.0, ge=0, description="also checkpoint when this many minutes passed since the last checkpoint (0: off)"
    )

    @model_validator(mode="after")
    def _accumulation_divides(self) -> "TrainSection":
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} must be divisible by grad_accum {self.grad_accum}")
        return self


class EvalSection(Section):
    holdout: float = Field(0.05, gt=0, lt=0.5, description="fraction of documents held out for evaluation")
    every: int = Field(0, ge=0, description="steps between held-out evaluations (0: only at the end)")
    batches: int = Field(20, ge=1, description="held-out batches per evaluation")


class InitSection(Section):
    checkpoint: str = Field(
        min_length=1,
        description="start from these weights: a plmkit run folder (or its model/), a transformers folder "
                    "(config.json + safetensors, BERT/GPT-2), or an ELMo options.json (or a folder holding it and "
                    "weights.hdf5); relative to the recipe's folder. Its tokenizer, when it has one, is the run's",
    )
    weights: Optional[str] = Field(
        None, min_length=1, description="ELMo: the weights.hdf5 of checkpoint: options.json (default: weights.hdf5 beside it)"
    )


class LoggingSection(Section):
    tensorboard: bool = Field(
        False, description="also write TensorBoard event files into RUN/tensorboard/ (needs the tensorboard "
                           "package); metrics.jsonl is always written"
    )


class Recipe(Section):
    """A validated recipe. Load one with ``plmkit.load_recipe``."""

    name: str = Field(description="short name, used for run folders")
    description: str = Field("", description="one line on what this recipe builds")
    model: ModelSection
    tokenizer: TokenizerSpec  # type: ignore[valid-type]
    data: DataSpec  # type: ignore[valid-type]
    batching: Optional[BatchingSpec] = Field(  # type: ignore[valid-type]
        None, description="how documents become batches; default: the layout the heads' objectives need")
    device: DeviceSpec = Field(default_factory=lambda: DeviceSpec(type="auto"))  # type: ignore[valid-type]
    train: TrainSection
    eval: EvalSection = Field(default_factory=EvalSection)
    init: Optional[InitSection] = Field(None, description="start training from existing weights (continued pretraining)")
    logging: LoggingSection = Field(default_factory=LoggingSection, description="where metrics are written besides metrics.jsonl")

    _source: Any = PrivateAttr(default=None)  # the file it was loaded from
    _resolved: Any = PrivateAttr(default=None)  # the resolved plain dict, defaults not filled
    _warnings: list = PrivateAttr(default_factory=list)  # Problems that do not stop a run

    @property
    def warnings(self) -> list[Any]:
        """What validation noticed but does not refuse (a warm-up longer than the run, ...), as Problems."""
        return list(self._warnings)

    @property
    def path(self) -> Any:
        return self._source

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved recipe with every default filled in, as plain data."""
        from .walk import recipe_to_dict

        return recipe_to_dict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)
