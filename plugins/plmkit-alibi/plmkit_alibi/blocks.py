"""The torch side of plmkit-alibi (imported only when a model is built), composed from plmkit.modules."""

import torch
from plmkit.modules import IGNORE, SelfAttention, TransformerBlock, VocabularyProjection, next_token_targets, shifted_nll
from torch.nn import functional as F


def alibi_slopes(heads: int) -> torch.Tensor:
    """Per-head slopes 2^(-8/n), 2^(-16/n), ... (the paper's geometric sequence)."""
    return torch.tensor([2 ** (-8 * (i + 1) / heads) for i in range(heads)])


class AlibiAttention(SelfAttention):
    """plmkit's self-attention with ALiBi's linear distance penalty added to each head's scores."""

    def __init__(self, hidden, heads, dropout, causal):
        super().__init__(hidden, heads, dropout=dropout, attn_dropout=0.0, causal=causal)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def score_bias(self, T, device, dtype):
        pos = torch.arange(T, device=device)
        distance = (pos[None, :] - pos[:, None]).abs()  # (T, T)
        return (-self.slopes.to(device)[:, None, None] * distance).to(dtype)  # (n, T, T)


def alibi_block(hidden, heads, activation, dropout, eps, causal):
    """A pre-LN plmkit TransformerBlock whose attention is ALiBi's (GPT-2 initialisation)."""
    attention = AlibiAttention(hidden, heads, dropout, causal)
    block = TransformerBlock(hidden, heads, norm="pre", activation=activation, eps=eps, dropout=dropout,
                             causal=causal, attention=attention)
    block.init_weights(0.02)
    return block


class SmoothedLMHead(VocabularyProjection):
    """Next-token softmax tied to the token table, trained with label smoothing."""

    def __init__(self, token_embedding, vocab_size, smoothing):
        super().__init__()
        self.smoothing = smoothing
        self.set_output(token_embedding, True, token_embedding.embedding_dim, vocab_size, 0.02)

    def forward(self, hidden_states, batch):
        logits = F.linear(hidden_states[-1], self.decoder_weight)  # (B, T, V)
        out = {"logits": logits}
        labels = batch.get("labels")
        if labels is not None:
            targets = next_token_targets(labels).flatten()
            out["loss"] = F.cross_entropy(logits.float().flatten(0, 1), targets, ignore_index=IGNORE,
                                          label_smoothing=self.smoothing)
        return out

    def metric_sums(self, out, batch):
        """``nll`` without smoothing, so bits per word compares with any other LM."""
        labels = batch.get("labels")
        return {} if labels is None else {"nll": shifted_nll(out["logits"], labels, 1, batch.get("attention_mask"))}
