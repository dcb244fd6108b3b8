"""To and from transformers: BERT (``BertForPreTraining``/``BertForMaskedLM``) and GPT-2 (``GPT2LMHeadModel``).

``from_hf`` derives a recipe from the transformers config (``models/families.py``), validates and
builds it, then copies the weights; ``to_hf`` goes the other way for any plmkit model whose
recipe is shaped like BERT or GPT-2 (``hf_shape.py`` reads that, and the config, from the
recipe's components, never from the built modules). The weight correspondence is one table of
``Link``s per family, keyed by state-dict names:

* plmkit's fused ``attn.c_attn`` (nn.Linear, (3H, H)) = BERT's query, key, value stacked;
* GPT-2's ``Conv1D`` weights are stored (in, out): transposed onto plmkit's nn.Linear (out, in);
* tied tensors (BERT's decoder, GPT-2's ``lm_head``) and legacy buffers are optional on the way in.

transformers is imported only here, lazily; it is not a dependency of plmkit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import EnvironmentProblem, RunError
from .hf_shape import HfShape, hf_shape

__all__ = ["from_hf", "to_hf", "hf_config"]

# transformers activation names <-> plmkit's
_HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}
_BERT_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}
_GPT2_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
_IGNORED = ("position_ids", "token_type_ids", ".attn.bias", ".attn.masked_bias")  # legacy buffers


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bars on stderr while transformers saves or loads (plmkit says what it did)."""
    try:
        from transformers.utils import logging
    except ImportError:  # _transformers() says so, in one line
        yield
        return
    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise EnvironmentProblem(
            "converting to or from transformers needs the transformers package: pip install transformers"
        ) from exc
    return transformers


@dataclass(frozen=True)
class Link:
    """One plmkit tensor and the transformers tensor(s) it is made of."""

    ours: str
    theirs: tuple[str, ...]
    how: str = "copy"  # "copy", "transpose" (GPT-2 Conv1D) or "concat" (BERT q, k, v -> c_attn)

    def to_ours(self, sd: dict) -> Any:
        import torch

        tensors = [sd[k] for k in self.theirs]
        if self.how == "concat":
            return torch.cat(tensors, dim=0)
        return tensors[0].t() if self.how == "transpose" else tensors[0]

    def to_theirs(self, tensor: Any) -> dict:
        if self.how == "concat":
            return dict(zip(self.theirs, tensor.chunk(len(self.theirs), dim=0)))
        return {self.theirs[0]: tensor.t() if self.how == "transpose" else tensor}


# -- transformers -> plmkit -------------------------------------------------------------------
def from_hf(hf_model: Any, state_dict: dict | None = None, overrides: Iterable[str] = ()) -> Any:
    """A plmkit ``LanguageModel`` with the weights of a transformers BERT or GPT-2.

    ``hf_model``: a ``BertForPreTraining``/``BertForMaskedLM``/``GPT2LMHeadModel`` instance, a
    local folder written by ``save_pretrained``, or a config together with ``state_dict``
    (keys with or without the ``transformer.``/``bert.`` prefix and the tied aliases).
    ``overrides``: recipe overrides applied to the recipe derived from the config, validated
    like ``plmkit run``'s (``RecipeError``), e.g. ``["model.head.mlm.predict=masked"]`` (the
    same numbers, the masked-LM head decoding only the labelled positions while training) or
    ``["train.seq_len=64"]``; one that changes the model's shape is refused (``RunError``).
    """
    config, sd, source = _config_and_weights(hf_model, state_dict)
    from ..models.build import build_model
    from ..recipe.validate import recipe_from_dict

    overrides = [overrides] if isinstance(overrides, str) else list(overrides)
    if config.model_type == "bert":
        sd = _prefixed(sd, "bert.", ("embeddings.", "encoder.", "pooler."))
        recipe = recipe_from_dict(_bert_recipe(config, sd), source=source, overrides=overrides)
        pad_id = config.pad_token_id if config.pad_token_id is not None else 0
    elif config.model_type == "gpt2":
        sd = _prefixed(sd, "transformer.", ("wte.", "wpe.", "h.", "ln_f."))
        recipe = recipe_from_dict(_gpt2_recipe(config), source=source, overrides=overrides)
        ids = (config.pad_token_id, config.eos_token_id)  # GPT-2 has no pad token; its table has no pad row
        pad_id = next((i for i in ids if isinstance(i, int) and 0 <= i < config.vocab_size), 0)
    else:
        raise RunError(f"plmkit converts transformers BERT and GPT-2 models, not {config.model_type!r}")
    model = build_model(recipe, vocab_size=config.vocab_size, pad_id=pad_id)
    try:
        _load(model, sd, source)
    except (RunError, RuntimeError) as exc:
        if not overrides:
            raise
        first = str(exc).strip().splitlines()[0][:200]
        raise RunError(f"{source}: overrides {overrides} make a model these weights do not fit ({first}); "
                       f"override only what keeps the model's shape (e.g. model.head.mlm.predict)") from None
    return model


def _load(model: Any, sd: dict, source: str) -> None:
    links = _links(model)
    missing = [k for link in links for k in link.theirs if k not in sd]
    if missing:
        raise RunError(f"{source}: the weights lack {len(missing)} tensors plmkit needs, e.g. {missing[:3]}")
    model.load_state_dict({link.ours: link.to_ours(sd) for link in links}, strict=True)


_CLASSES = ("BertForPreTraining", "BertForMaskedLM", "GPT2LMHeadModel")


def _config_and_weights(hf_model: Any, state_dict: dict | None) -> tuple[Any, dict, str]:
    transformers = _transformers()
    source = f"transformers {type(hf_model).__name__}"
    if isinstance(hf_model, (str, Path)):
        source, config = str(hf_model), transformers.AutoConfig.from_pretrained(hf_model, local_files_only=True)
        saved = [name for name in (config.architectures or []) if name in _CLASSES]
        cls = saved[0] if saved else {"bert": "BertForPreTraining", "gpt2": "GPT2LMHeadModel"}.get(config.model_type)
        if cls is None:
            raise RunError(f"{hf_model}: plmkit converts transformers BERT and GPT-2 models, not {config.model_type!r}")
        # safetensors only: plmkit never unpickles (a folder with only a .bin file is refused)
        hf_model = getattr(transformers, cls).from_pretrained(hf_model, local_files_only=True, use_safetensors=True)
    if isinstance(hf_model, transformers.PretrainedConfig):
        if state_dict is None:
            raise RunError("from_hf(config) needs the weights too: from_hf(config, state_dict)")
        config = hf_model
    else:
        config = hf_model.config
        state_dict = state_dict if state_dict is not None else hf_model.state_dict()
    sd = {k: v for k, v in state_dict.items() if not k.endswith(_IGNORED)}
    return config, sd, source


def _prefixed(sd: dict, prefix: str, base_keys: tuple[str, ...]) -> dict:
    """Keys of the bare base model (``h.0...``) get the prefix of the LM model (``transformer.h.0...``)."""
    return {(prefix + k if k.startswith(base_keys) else k): v for k, v in sd.items()}


def _bert_recipe(config: Any, sd: dict) -> dict:
    from ..models.families import bert_recipe

    problems = []
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type {config.position_embedding_type!r} (only 'absolute')")
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        problems.append("a decoder / cross-attention BERT (plmkit's BERT is an encoder)")
    activation = _activation(config.hidden_act, problems)
    _refuse(problems)
    return bert_recipe(
        vocab_size=config.vocab_size, hidden=config.hidden_size, layers=config.num_hidden_layers,
        heads=config.num_attention_heads, ffn=config.intermediate_size, max_positions=config.max_position_embeddings,
        segments=config.type_vocab_size, activation=activation, eps=config.layer_norm_eps,
        dropout=config.hidden_dropout_prob, attn_dropout=config.attention_probs_dropout_prob,
        next_sentence="cls.seq_relationship.weight" in sd and "bert.pooler.dense.weight" in sd,
        tie=_tied(config), name="bert-from-transformers",
    )


def _gpt2_recipe(config: Any) -> dict:
    from ..models.families import gpt2_recipe

    problems = []
    if not config.scale_attn_weights or config.scale_attn_by_inverse_layer_idx:
        problems.append("attention scaled other than by 1/sqrt(head size)")
    if getattr(config, "add_cross_attention", False):
        problems.append("cross-attention")
    activation = _activation(config.activation_function, problems)
    _refuse(problems)
    return gpt2_recipe(
        vocab_size=config.vocab_size, hidden=config.n_embd, layers=config.n_layer, heads=config.n_head,
        ffn=config.n_inner, max_positions=config.n_positions, activation=activation, eps=config.layer_norm_epsilon,
        dropout=config.resid_pdrop, embedding_dropout=config.embd_pdrop, attn_dropout=config.attn_pdrop,
        tie=_tied(config), name="gpt2-from-transformers",
    )


def _activation(name: str, problems: list[str]) -> str:
    if name not in _HF_ACTIVATIONS:
        problems.append(f"activation {name!r} (plmkit has {', '.join(sorted(_HF_ACTIVATIONS))})")
        return "gelu"
    return _HF_ACTIVATIONS[name]


def _tied(config: Any) -> bool:
    return bool(getattr(config, "tie_word_embeddings", True))


def _refuse(problems: list[str]) -> None:
    if problems:
        raise RunError("this transformers model has what plmkit does not implement: " + "; ".join(problems))


# -- the weight tables --------------------------------------------------------------------------
def _links(model: Any) -> list[Link]:
    """The weight correspondence for a BERT- or GPT-2-shaped plmkit model (RunError otherwise),
    from the recipe the model was built from."""
    shape = hf_shape(model.recipe)
    return _bert_links(shape) if shape.family == "bert" else _gpt2_links(shape)


def _linear(ours: str, theirs: str, how: str = "copy") -> list[Link]:
    return [Link(f"{ours}.weight", (f"{theirs}.weight",), how), Link(f"{ours}.bias", (f"{theirs}.bias",))]


def _norm(ours: str, theirs: str) -> list[Link]:
    return [Link(f"{ours}.weight", (f"{theirs}.weight",)), Link(f"{ours}.bias", (f"{theirs}.bias",))]


def _bert_links(s: HfShape) -> list[Link]:
    e = "bert.embeddings"
    links = [
        Link(f"{s.token}.table.weight", (f"{e}.word_embeddings.weight",)),
        Link(f"{s.segment}.table.weight", (f"{e}.token_type_embeddings.weight",)),
        Link(f"{s.position}.table.weight", (f"{e}.position_embeddings.weight",)),
        *_norm("embedding.norm", f"{e}.LayerNorm"),
    ]
    for i in range(s.layers):
        ours, theirs = f"encoder.0.{i}", f"bert.encoder.layer.{i}"
        qkv = tuple(f"{theirs}.attention.self.{n}" for n in ("query", "key", "value"))
        links += [
            Link(f"{ours}.attn.c_attn.weight", tuple(f"{n}.weight" for n in qkv), "concat"),
            Link(f"{ours}.attn.c_attn.bias", tuple(f"{n}.bias" for n in qkv), "concat"),
            *_linear(f"{ours}.attn.c_proj", f"{theirs}.attention.output.dense"),
            *_norm(f"{ours}.ln_1", f"{theirs}.attention.output.LayerNorm"),
            *_linear(f"{ours}.mlp.c_fc", f"{theirs}.intermediate.dense"),
            *_linear(f"{ours}.mlp.c_proj", f"{theirs}.output.dense"),
            *_norm(f"{ours}.ln_2", f"{theirs}.output.LayerNorm"),
        ]
    links += [
        *_linear(f"{s.mlm}.dense", "cls.predictions.transform.dense"),
        *_norm(f"{s.mlm}.ln", "cls.predictions.transform.LayerNorm"),
        # the output bias: transformers computes with decoder.bias, which is cls.predictions.bias when tied
        Link(f"{s.mlm}.bias", ("cls.predictions.bias" if s.tied else "cls.predictions.decoder.bias",)),
    ]
    if not s.tied:
        links.append(Link(f"{s.mlm}.decoder.weight", ("cls.predictions.decoder.weight",)))
    if s.nsp is not None:
        links += [*_linear(f"{s.nsp}.pooler", "bert.pooler.dense"),
                  *_linear(f"{s.nsp}.seq_relationship", "cls.seq_relationship")]
    return links


def _gpt2_links(s: HfShape) -> list[Link]:
    t = "transformer"
    links = [Link(f"{s.token}.table.weight", (f"{t}.wte.weight",)),
             Link(f"{s.position}.table.weight", (f"{t}.wpe.weight",))]
    for i in range(s.layers):
        ours, theirs = f"encoder.0.{i}", f"{t}.h.{i}"
        links += [
            *_norm(f"{ours}.ln_1", f"{theirs}.ln_1"),
            *_linear(f"{ours}.attn.c_attn", f"{theirs}.attn.c_attn", "transpose"),
            *_linear(f"{ours}.attn.c_proj", f"{theirs}.attn.c_proj", "transpose"),
            *_norm(f"{ours}.ln_2", f"{theirs}.ln_2"),
            *_linear(f"{ours}.mlp.c_fc", f"{theirs}.mlp.c_fc", "transpose"),
            *_linear(f"{ours}.mlp.c_proj", f"{theirs}.mlp.c_proj", "transpose"),
        ]
    links += _norm("final_norms.0", f"{t}.ln_f")
    if not s.tied:
        links.append(Link(f"{s.lm}.decoder.weight", ("lm_head.weight",)))
    return links


# -- plmkit -> transformers -------------------------------------------------------------------
def to_hf(model: Any, tokenizer: Any = None) -> Any:
    """The transformers model (``BertForPreTraining``/``BertForMaskedLM`` or ``GPT2LMHeadModel``) with
    this plmkit model's weights, in eval mode; raises ``RunError`` naming the components that
    prevent it when the model's recipe is not BERT- or GPT-2-shaped.

    The config is derived from the model's recipe (``model.recipe``); ``tokenizer`` (a plmkit
    ``Tokenizer``) supplies the special token ids (pad, and GPT-2's bos/eos), else 0 as plmkit's own.
    """
    transformers = _transformers()
    shape = hf_shape(model.recipe)
    links = _bert_links(shape) if shape.family == "bert" else _gpt2_links(shape)
    ours = model.state_dict()
    vocab_size = ours[f"{shape.token}.table.weight"].shape[0]
    hf_model = getattr(transformers, shape.hf_class)(hf_config(shape, vocab_size, tokenizer))
    theirs: dict = {}
    for link in links:
        theirs.update(link.to_theirs(ours[link.ours]))
    for alias, source in _aliases(shape).items():  # tied pairs: fill whichever side is missing
        if source in theirs:
            theirs.setdefault(alias, theirs[source])
        elif alias in theirs:
            theirs.setdefault(source, theirs[alias])
    expected = hf_model.state_dict()
    hf_model.load_state_dict({k: v.contiguous() for k, v in theirs.items() if k in expected}, strict=True)
    return hf_model.eval()


def _aliases(s: HfShape) -> dict[str, str]:
    if s.family == "gpt2":
        return {"lm_head.weight": "transformer.wte.weight"}
    return {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias"}


def _special_id(tokenizer: Any, role: str, default: int | None = 0) -> int | None:
    value = getattr(tokenizer, f"{role}_id", None) if tokenizer is not None else None
    return default if value is None else value


def hf_config(shape: HfShape, vocab_size: int, tokenizer: Any = None) -> Any:
    """The transformers ``BertConfig``/``GPT2Config`` of a shape (``hf_shape(recipe)``)."""
    c, transformers = shape.settings, _transformers()
    if shape.family == "bert":
        return transformers.BertConfig(
            vocab_size=vocab_size, hidden_size=c["hidden"], num_hidden_layers=c["layers"],
            num_attention_heads=c["heads"], intermediate_size=c["ffn"], hidden_act=_BERT_ACTIVATION[c["activation"]],
            hidden_dropout_prob=c["dropout"], attention_probs_dropout_prob=c["attn_dropout"],
            max_position_embeddings=c["max_positions"], type_vocab_size=c["segments"], layer_norm_eps=c["eps"],
            initializer_range=c["init_std"], pad_token_id=_special_id(tokenizer, "pad"),
            tie_word_embeddings=shape.tied, attn_implementation="eager",
        )
    eos = _special_id(tokenizer, "eos", None)
    return transformers.GPT2Config(
        vocab_size=vocab_size, n_positions=c["max_positions"], n_embd=c["hidden"], n_layer=c["layers"],
        n_head=c["heads"], n_inner=c["ffn"], activation_function=_GPT2_ACTIVATION[c["activation"]],
        resid_pdrop=c["dropout"], embd_pdrop=c["embedding_dropout"], attn_pdrop=c["attn_dropout"],
        layer_norm_epsilon=c["eps"], initializer_range=c["init_std"], tie_word_embeddings=shape.tied,
        bos_token_id=_special_id(tokenizer, "bos", eos), eos_token_id=eos,
        pad_token_id=_special_id(tokenizer, "pad", None), attn_implementation="eager",
    )
