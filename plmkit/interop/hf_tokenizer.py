"""A plmkit tokenizer as a transformers fast tokenizer folder: tokenizer.json + tokenizer_config.json.

Written by hand (no transformers import), in the form every transformers version since 4.x loads
with ``AutoTokenizer.from_pretrained(folder)`` as a fast tokenizer:

* tokenizer.json is plmkit's own, with a post-processor that lays text out as plmkit's batches
  do: ``[CLS] text [SEP]`` for WordPiece (already there), ``<|endoftext|> text`` for byte-level
  BPE (plmkit's GPT reads every document after that separator), so ``tokenizer(texts)`` gives
  the very ids the model was trained on;
* tokenizer_config.json names the special tokens by role, the padding side (right: positions
  count from the first token, as plmkit trains) and the model's longest input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["save_hf_tokenizer"]

# plmkit role -> transformers' name for it
_ROLES = {"pad": "pad_token", "unk": "unk_token", "cls": "cls_token", "sep": "sep_token", "mask": "mask_token",
          "bos": "bos_token", "eos": "eos_token"}


def save_hf_tokenizer(tokenizer: Any, folder: str | Path, max_length: int, family: str) -> None:
    """Write ``tokenizer`` (a plmkit ``Tokenizer``) into ``folder`` for ``AutoTokenizer``; ``family``
    is "bert" or "gpt2" (which inputs the model takes)."""
    folder = Path(folder)
    backend = _with_layout(tokenizer)
    backend.save(str(folder / "tokenizer.json"))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": (["input_ids", "token_type_ids", "attention_mask"] if family == "bert"
                              else ["input_ids", "attention_mask"]),
    }
    for role, name in _ROLES.items():
        index = getattr(tokenizer, f"{role}_id", None)
        if index is not None:
            config[name] = tokenizer.id_to_token(index)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _with_layout(tokenizer: Any) -> Any:
    """A copy of the backend whose post-processor adds what plmkit's batches put around a text."""
    from tokenizers import Tokenizer as Backend, processors

    backend = Backend.from_str(tokenizer.backend.to_str())
    if tokenizer.kind == "byte_bpe" and tokenizer.bos_id is not None:
        bos = tokenizer.id_to_token(tokenizer.bos_id)
        backend.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1",
                                          special_tokens=[(bos, tokenizer.bos_id)]),
        ])
    return backend
