"""Transformer LM heads (torch side): masked LM and next-sentence (BERT), causal LM (GPT-2).

Each head takes ``(hidden_states, batch)`` and reads ``hidden_states[-1]`` (B, T, D), the top
of the encoder. A tied softmax reads the embedding's token table through a reference that is
not registered as a submodule: the table belongs to the embedding, appears once in the
state dict, and the head always sees its current weight (after ``.to()`` or a load).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention._transformer import ACTIVATIONS

IGNORE = -100  # label of positions that carry no loss (transformers' convention)


def init_linear(module: nn.Module, std: float) -> None:
    """Every Linear N(0, std) with zero bias (BERT/GPT-2 init); LayerNorms keep 1/0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _Softmax(nn.Module):
    """The output projection to the vocabulary: tied to the token table, or its own (V, D) weight."""

    def _set_output(self, token_embedding: nn.Embedding | None, tie: bool, dim: int, vocab: int, std: float) -> None:
        self._tied = [token_embedding] if tie else []  # a plain list: not a registered submodule
        self.decoder = None if tie else nn.Linear(dim, vocab, bias=False)
        if self.decoder is not None:
            nn.init.normal_(self.decoder.weight, mean=0.0, std=std)

    @property
    def decoder_weight(self) -> torch.Tensor:
        """(V, D): the token table itself when tied."""
        return self._tied[0].weight if self._tied else self.decoder.weight


class MaskedLMHead(_Softmax):
    """BERT's cls.predictions: ``logits = LN(act(h W_t + b_t)) @ wte^T + bias``, at every position."""

    def __init__(self, in_dim: int, token_embedding, vocab_size: int, activation: str, eps: float,
                 tie: bool, std: float, predict: str = "all") -> None:
        super().__init__()
        self.predict = predict
        dim = token_embedding.embedding_dim if tie else in_dim
        self.dense = nn.Linear(in_dim, dim)  # the "transform"
        self.activation, self.act = activation, ACTIVATIONS[activation]
        self.ln = nn.LayerNorm(dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))  # separate output bias, zero-initialised
        init_linear(self, std)
        self._set_output(token_embedding, tie, dim, vocab_size, std)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        h, labels = hidden_states[-1], batch.get("labels")
        if self.predict == "masked" and self.training and labels is not None:
            # only the ~15% labelled positions carry loss: transform and project just those rows
            chosen = labels != IGNORE  # (B, T)
            logits = self._logits(h[chosen])  # (N, V)
            loss = F.cross_entropy(logits.float(), labels[chosen]) if logits.shape[0] else logits.sum() * 0.0
            return {"logits": None, "masked_logits": logits, "loss": loss}
        logits = self._logits(h)  # (B, T, V)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        return out

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        t = self.ln(self.act(self.dense(h)))  # (..., D)
        return F.linear(t, self.decoder_weight, self.bias)  # (..., V)


class NextSentenceHead(nn.Module):
    """BERT's pooler + cls.seq_relationship: ``Linear(tanh(h_0 W_p + b_p))`` -> 2 classes (0 = real next)."""

    def __init__(self, in_dim: int, std: float) -> None:
        super().__init__()
        self.pooler = nn.Linear(in_dim, in_dim)
        self.seq_relationship = nn.Linear(in_dim, 2)
        init_linear(self, std)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        pooled = torch.tanh(self.pooler(hidden_states[-1][:, 0]))  # (B, D) from the [CLS] position
        logits = self.seq_relationship(pooled)  # (B, 2)
        out = {"logits": logits, "pooled": pooled}
        if batch.get("next_sentence_label") is not None:
            out["loss"] = F.cross_entropy(logits.float(), batch["next_sentence_label"].flatten())
        return out


class CausalLMHead(_Softmax):
    """GPT-2's lm_head: ``logits = h @ wte^T`` (no bias); the loss predicts token t+1 from position t."""

    def __init__(self, in_dim: int, token_embedding, vocab_size: int, tie: bool, std: float) -> None:
        super().__init__()
        self._set_output(token_embedding, tie, in_dim, vocab_size, std)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        logits = F.linear(hidden_states[-1], self.decoder_weight)  # (B, T, V)
        out = {"logits": logits}
        labels = batch.get("labels")
        if labels is not None:  # labels are the inputs; shift here, as transformers does
            # shift the labels, not the logits: slicing (B, T, V) logits would copy them and
            # make backward zero-fill and copy a full gradient (10% of a GPT step on CPU)
            targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE)  # (B, T): token t+1, or ignore
            out["loss"] = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return out
