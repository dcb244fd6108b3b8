"""The torch side of plmkit-alibi (imported only when a model is built)."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def alibi_slopes(heads: int) -> torch.Tensor:
    """Per-head slopes 2^(-8/n), 2^(-16/n), ... (the paper's geometric sequence)."""
    return torch.tensor([2 ** (-8 * (i + 1) / heads) for i in range(heads)])


class AlibiBlock(nn.Module):
    def __init__(self, hidden, heads, activation, dropout, eps, causal):
        super().__init__()
        self.n_head, self.causal = heads, causal
        self.ln_1, self.ln_2 = nn.LayerNorm(hidden, eps=eps), nn.LayerNorm(hidden, eps=eps)
        self.c_attn, self.c_proj = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        act = {"gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "relu": nn.ReLU()}[activation]
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), act, nn.Linear(4 * hidden, hidden))
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def make_final_norm(self):
        return nn.LayerNorm(self.ln_1.normalized_shape, eps=self.ln_1.eps)

    def _bias(self, mask, T, device):
        pos = torch.arange(T, device=device)
        distance = (pos[None, :] - pos[:, None]).abs().float()  # (T, T)
        bias = -self.slopes.to(device)[:, None, None] * distance  # (n, T, T)
        blocked = torch.zeros(1, 1, 1, T, dtype=torch.bool, device=device)
        if mask is not None:  # None: no row is padded
            blocked = mask[:, None, None, :] == 0  # (B, 1, 1, T): padded keys
        if self.causal:
            blocked = blocked | torch.ones(T, T, dtype=torch.bool, device=device).triu(1)
        return bias.unsqueeze(0).masked_fill(blocked, float("-inf"))  # (B|1, n, T, T)

    def forward(self, x, attention_mask, rope=None):
        B, T, H = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(H, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, H // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, n, T, d)
        bias = self._bias(attention_mask, T, x.device).to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1 / math.sqrt(H // self.n_head))
        y = torch.nan_to_num(y)  # rows whose every key is padding
        x = x + self.dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, H)))
        return x + self.dropout(self.mlp(self.ln_2(x)))


class SmoothedLMHead(nn.Module):
    def __init__(self, token_embedding, smoothing):
        super().__init__()
        self._tied, self.smoothing = [token_embedding], smoothing  # a list: not registered a second time

    def forward(self, hidden_states, batch):
        logits = hidden_states[-1] @ self._tied[0].weight.T  # (B, T, V), tied to the token table
        out = {"logits": logits}
        labels = batch.get("labels")
        if labels is not None:
            shifted = logits[:, :-1].float().reshape(-1, logits.shape[-1])
            out["loss"] = F.cross_entropy(shifted, labels[:, 1:].reshape(-1), ignore_index=-100, label_smoothing=self.smoothing)
        return out
