"""Objective heads: masked LM and next-sentence (BERT), causal LM (GPT-2), biLM (ELMo).

Each head is called as ``head(hidden_states, batch) -> dict`` and reads ``hidden_states[-1]``
(B, T, D), the top of the encoder; it returns ``"logits"`` and, when its labels are in the
batch, ``"loss"`` (a mean over its targets) and ``"loss_targets"`` (how many targets that mean is
over: N processes weight their losses by it, so they train as one process on the whole batch).
``metric_sums(out, batch)`` gives its held-out numbers as (total, count) pairs, which evaluation
adds over batches before dividing.

A tied softmax (``VocabularyProjection``) reads the embedding's token table through a reference
that is not registered as a submodule: the table belongs to the embedding, appears once in the
state dict, and the head always sees its current weight (after ``.to()`` or a load).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .decode_weights import kept_weight
from .init import init_linear
from .losses import IGNORE, accuracy_sums, cross_entropy, linear_cross_entropy, next_token_targets, shifted_nll
from .mlp import activation

__all__ = ["VocabularyProjection", "MaskedLMHead", "NextSentenceHead", "CausalLMHead", "BidirectionalLMHead"]


class VocabularyProjection(nn.Module):
    """Base of heads that project to the vocabulary: tied to the token table, or a (V, D) weight of their own."""

    def set_output(self, token_embedding: nn.Embedding | None, tie: bool, dim: int, vocab: int, std: float) -> None:
        self._tied = [token_embedding] if tie else []  # a plain list: not a registered submodule
        self.decoder = None if tie else nn.Linear(dim, vocab, bias=False)
        if self.decoder is not None:
            nn.init.normal_(self.decoder.weight, mean=0.0, std=std)

    @property
    def decoder_weight(self) -> torch.Tensor:
        """(V, D): the token table itself when tied."""
        return self._tied[0].weight if self._tied else self.decoder.weight


class MaskedLMHead(VocabularyProjection):
    """BERT's cls.predictions: ``logits = LN(act(h W_t + b_t)) @ wte^T + bias``.

    ``predict="masked"``: while training with labels, only the labelled positions are
    transformed and projected (the same loss, much less work); ``logits`` is then None and
    ``masked_logits`` (N, V) holds the labelled rows in order.
    """

    def __init__(self, in_dim: int, token_embedding, vocab_size: int, activation_name: str, eps: float,
                 tie: bool, std: float, predict: str = "all") -> None:
        super().__init__()
        self.predict = predict
        dim = token_embedding.embedding_dim if tie else in_dim
        self.dense = nn.Linear(in_dim, dim)  # the "transform"
        self.activation, self.act = activation_name, activation(activation_name)
        self.ln = nn.LayerNorm(dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))  # separate output bias, zero-initialised
        init_linear(self, std)
        self.set_output(token_embedding, tie, dim, vocab_size, std)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        h, labels = hidden_states[-1], batch.get("labels")
        if self.predict == "masked" and self.training and labels is not None:
            chosen = labels != IGNORE  # (B, T): the ~15% labelled positions
            logits = self.logits(h[chosen])  # (N, V)
            loss = cross_entropy(logits, labels[chosen]) if logits.shape[0] else logits.sum() * 0.0
            return {"logits": None, "masked_logits": logits, "loss": loss, "loss_targets": logits.shape[0]}
        logits = self.logits(h)  # (B, T, V)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = cross_entropy(logits, labels)
            out["loss_targets"] = (labels != IGNORE).sum()  # a tensor: no sync unless read
        return out

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits (..., V) of hidden states (..., D)."""
        t = self.ln(self.act(self.dense(h)))  # (..., D)
        return F.linear(t, self.decoder_weight, self.bias)  # (..., V)

    def metric_sums(self, out: dict, batch: dict) -> dict[str, tuple[float, float]]:
        """``accuracy``: the argmax at the masked (labelled) positions."""
        labels = batch.get("labels")
        if labels is None:
            return {}
        if out.get("logits") is None:
            return {"accuracy": accuracy_sums(out["masked_logits"], labels[labels != IGNORE])}
        return {"accuracy": accuracy_sums(out["logits"], labels)}


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
            out["loss"] = cross_entropy(logits, batch["next_sentence_label"].flatten())
            out["loss_targets"] = (batch["next_sentence_label"] != IGNORE).sum()
        return out

    def metric_sums(self, out: dict, batch: dict) -> dict[str, tuple[float, float]]:
        """``accuracy`` of the IsNext / NotNext decision."""
        labels = batch.get("next_sentence_label")
        return {} if labels is None else {"accuracy": accuracy_sums(out["logits"], labels.flatten())}


class CausalLMHead(VocabularyProjection):
    """GPT-2's lm_head: ``logits = h @ wte^T`` (no bias); the loss predicts token t+1 from position t.

    ``fused_loss``: while training with labels, the loss is ``linear_cross_entropy`` (the
    projection and the cross-entropy fused, no (B, T, V) logits kept: the same loss and gradients,
    faster and far less memory); ``logits`` is then None.
    """

    def __init__(self, in_dim: int, token_embedding, vocab_size: int, tie: bool, std: float,
                 fused_loss: bool = False) -> None:
        super().__init__()
        self.fused_loss = fused_loss
        self.set_output(token_embedding, tie, in_dim, vocab_size, std)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        h, labels = hidden_states[-1], batch.get("labels")  # labels are the inputs; shifted here, as transformers does
        if self.fused_loss and self.training and labels is not None:
            targets = next_token_targets(labels).flatten()  # (B*T,)
            return {"logits": None, "loss": linear_cross_entropy(h.flatten(0, 1), self.decoder_weight, targets),
                    "loss_targets": (targets != IGNORE).sum()}
        logits = F.linear(h, self.decoder_weight)  # (B, T, V)
        out = {"logits": logits}
        if labels is not None:
            targets = next_token_targets(labels)
            out["loss"] = cross_entropy(logits, targets)
            out["loss_targets"] = (targets != IGNORE).sum()  # a tensor: no sync unless read
        return out

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) of one position's hidden states h (B, D), for a decoding step (eval, no
        gradient): the (D, V) layout of the weight is kept beside it (``decode_weights.kept_weight``)."""
        weight = kept_weight(self, "_decode_weight", (self.decoder_weight,), lambda w: w.t().contiguous())  # (D, V)
        return torch.mm(h, weight)

    def metric_sums(self, out: dict, batch: dict) -> dict[str, tuple[float, float]]:
        """``nll``: summed nats of every predicted next token (bits per word is derived from it)."""
        labels = batch.get("labels")
        return {} if labels is None else {"nll": shifted_nll(out["logits"], labels, 1, batch.get("attention_mask"))}


class BidirectionalLMHead(nn.Module):
    """ELMo's biLM softmax (models.md 3.5): hidden_states[-1] = [forward; backward] (B, T, 2P) ->
    forward and backward logits (B, T, V) through one shared softmax; the loss is their mean."""

    def __init__(self, input_dim: int, vocab_size: int, dropout: float) -> None:
        super().__init__()
        if input_dim % 2:
            raise ValueError(f"a biLM head reads [forward; backward] of even width, got {input_dim}")
        self.projection_dim = input_dim // 2  # P
        self.softmax = nn.Linear(self.projection_dim, vocab_size)  # W (V, P), b (V): shared by both LMs
        nn.init.normal_(self.softmax.weight, 0.0, 1.0 / math.sqrt(self.projection_dim))
        nn.init.zeros_(self.softmax.bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: list[torch.Tensor], batch: dict) -> dict:
        top = self.dropout(hidden_states[-1])
        forward_h, backward_h = top.split(self.projection_dim, dim=-1)  # (B, T, P) each
        out = {"logits": self.softmax(forward_h), "backward_logits": self.softmax(backward_h)}
        labels = batch.get("labels")
        if labels is not None:
            next_labels, previous_labels = _bilm_targets(labels, batch.get("attention_mask"))
            out["forward_loss"] = cross_entropy(out["logits"], next_labels)
            out["backward_loss"] = cross_entropy(out["backward_logits"], previous_labels)
            out["loss"] = 0.5 * (out["forward_loss"] + out["backward_loss"])
            # a row of n real tokens has n-1 forward and n-1 backward targets: one count for both
            out["loss_targets"] = (next_labels != IGNORE).sum()  # a tensor: no sync unless read
        return out

    def metric_sums(self, out: dict, batch: dict) -> dict[str, tuple[float, float]]:
        """``nll`` of the forward LM and ``nll_backward`` of the backward one (summed nats)."""
        labels, mask = batch.get("labels"), batch.get("attention_mask")
        if labels is None:
            return {}
        labels = labels.masked_fill(mask == 0, IGNORE) if mask is not None else labels
        return {"nll": shifted_nll(out["logits"], labels, 1, mask),
                "nll_backward": shifted_nll(out["backward_logits"], labels, -1, mask)}


def _bilm_targets(labels: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (B, T) of the forward LM (label t+1) and the backward LM (label t-1) at each t.

    Padding (attention_mask 0) is never a target and never predicts, whatever its label says.
    """
    if mask is not None:
        labels = labels.masked_fill(mask == 0, IGNORE)
    ignore = torch.full_like(labels[:, :1], IGNORE)
    next_labels = torch.cat([labels[:, 1:], ignore], dim=1)
    previous_labels = torch.cat([ignore, labels[:, :-1]], dim=1)
    if mask is not None:
        next_labels = next_labels.masked_fill(mask == 0, IGNORE)
        previous_labels = previous_labels.masked_fill(mask == 0, IGNORE)
    return next_labels, previous_labels
