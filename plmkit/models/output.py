"""The object a plmkit model returns, shaped like transformers' model outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelOutput:
    """``logits`` are the language-modelling head's; every head's outputs sit in ``heads``.

    loss          sum of the head losses, when labels were given (transformers' convention)
    logits        (B, T, V) of the LM head (masked LM, causal LM, or ELMo's forward LM)
    hidden_states tuple of (B, T, D) from the embedding up, when ``output_hidden_states=True``
    heads         head name -> dict of that head's tensors (``logits``, ``loss``, ...)
    losses        head name -> that head's loss
    A head's tensors are also reachable as attributes: ``out.nsp`` is ``out.heads["nsp"]`` and
    ``out.backward_logits`` finds the single head that returned ``backward_logits``.
    """

    loss: Any = None
    logits: Any = None
    hidden_states: tuple | None = None
    heads: dict[str, dict[str, Any]] = field(default_factory=dict)
    losses: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        heads = self.__dict__.get("heads", {})
        if name in heads:
            return heads[name]
        found = [out[name] for out in heads.values() if name in out]
        if len(found) == 1:
            return found[0]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)
