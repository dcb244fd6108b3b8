"""An LSTM layer with a projected state, as in ELMo's biLM (models.md 3.4).

One step, for input x (D_in), projected state h (P) and cell c (C):

    z  = x W_x + b + h W_h                   gates, in the order i, f, o, g (input, forget, output, candidate)
    c' = clip(sigmoid(f) * c + sigmoid(i) * tanh(g), +-cell_clip)
    h' = clip((sigmoid(o) * tanh(c')) W_p, +-proj_clip)

``b`` holds the forget bias (TF adds +1.0 to f at run time; here it is stored, as allennlp does).
The order i, f, o, g lets one sigmoid cover the first three gates; plmkit.interop.elmo maps TF's
i, j, f, o onto it. x W_x + b is computed for all T steps at once; the Python loop only does the
recurrent part.

Incremental decoding: ``forward(..., cache=LstmState())`` starts from the state the cache holds
and leaves the final state there, so a causal model continuing a text feeds only the new tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["LstmWithProjection", "LstmState"]


class LstmState:
    """The (h (B, P), c (B, C)) an LSTM layer ended with: its cache for incremental decoding."""

    def __init__(self) -> None:
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None


class LstmWithProjection(nn.Module):
    """x (B, T, D_in), attention_mask (B, T) -> (B, T, P); padded steps output 0 and keep the state."""

    supports_cache = True  # forward(..., cache=LstmState()) continues from the cached state

    def __init__(
        self,
        input_dim: int,
        cell_dim: int,
        projection_dim: int,
        cell_clip: float | None,
        proj_clip: float | None,
        residual: bool,
        dropout: float,
        stateful: bool,
    ) -> None:
        super().__init__()
        if residual and input_dim != projection_dim:
            raise ValueError(f"a residual LSTM layer needs input width {input_dim} == projection width {projection_dim}")
        self.cell_dim, self.output_dim = cell_dim, projection_dim
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.residual, self.stateful = residual, stateful
        self.input_linearity = nn.Linear(input_dim, 4 * cell_dim)  # W_x, b  (4C, D_in)
        self.state_linearity = nn.Linear(projection_dim, 4 * cell_dim, bias=False)  # W_h  (4C, P)
        self.state_projection = nn.Linear(cell_dim, projection_dim, bias=False)  # W_p  (P, C)
        self.dropout = nn.Dropout(dropout)
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None  # carried (h (B, P), c (B, C))
        self._init()

    def _init(self) -> None:
        """bilm-tf: glorot-uniform over TF's stacked [W_x; W_h] and over W_p, bias 0; forget bias 1."""
        D_in, C, P = self.input_linearity.in_features, self.cell_dim, self.output_dim
        limit = math.sqrt(6.0 / (D_in + P + 4 * C))
        nn.init.uniform_(self.input_linearity.weight, -limit, limit)
        nn.init.uniform_(self.state_linearity.weight, -limit, limit)
        limit = math.sqrt(6.0 / (C + P))
        nn.init.uniform_(self.state_projection.weight, -limit, limit)
        with torch.no_grad():
            self.input_linearity.bias.zero_()
            self.input_linearity.bias[C : 2 * C] = 1.0  # forget gate: the state starts remembering

    def reset_state(self) -> None:
        """Forget the carried state: the next call starts from zeros."""
        self._state = None

    def new_cache(self) -> LstmState:
        """An empty state for incremental decoding."""
        return LstmState()

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor, rope: object = None,
                cache: LstmState | None = None) -> torch.Tensor:
        x = self.dropout(x)  # bilm-tf drops the layer input; the residual adds the dropped input
        mask = attention_mask.to(torch.bool)  # (B, T)
        if cache is not None and cache.state is not None:
            h, c = cache.state
        else:
            h, c = self._initial_state(x.shape[0], x) if cache is None else self._zeros(x.shape[0], x)
        gates_x = self.input_linearity(x)  # (B, T, 4C): the input part of every step at once
        out, h, c = self._steps(gates_x, h, c, mask)  # (B, T, P)
        if self.residual:
            out = out + x
        if cache is not None:
            cache.state = (h, c)
        elif self.stateful:
            self._keep_state(h.detach(), c.detach())
        return out * mask.unsqueeze(-1).to(out.dtype)

    def _steps(self, gates_x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, mask: torch.Tensor):
        """The recurrence. Rows whose step t is padding keep their (h, c)."""
        C = self.cell_dim
        W_h = self.state_linearity.weight.t()  # (P, 4C)
        W_p = self.state_projection.weight.t()  # (C, P)
        all_valid = mask.all(dim=0).tolist()  # per step: no row needs its state held
        keep = mask.unsqueeze(-1)  # (B, T, 1)
        outputs = []
        for t, z_x in enumerate(gates_x.unbind(1)):  # z_x (B, 4C)
            z = torch.addmm(z_x, h, W_h)
            # split/chunk rather than slicing: a slice's backward zero-fills a full-width gradient
            z_ifo, z_g = z.split([3 * C, C], dim=1)
            i, f, o = torch.sigmoid(z_ifo).chunk(3, dim=1)
            c_new = f * c + i * torch.tanh(z_g)
            if self.cell_clip is not None:
                c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
            h_new = torch.mm(o * torch.tanh(c_new), W_p)  # (B, P)
            if self.proj_clip is not None:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
            outputs.append(h_new)
            if all_valid[t]:
                h, c = h_new, c_new
            else:
                h, c = torch.where(keep[:, t], h_new, h), torch.where(keep[:, t], c_new, c)
        return torch.stack(outputs, dim=1), h, c

    def _zeros(self, B: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return like.new_zeros(B, self.output_dim), like.new_zeros(B, self.cell_dim)

    def _initial_state(self, B: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zeros, or the carried state of rows 0..B-1 (a row that was never seen starts at zero)."""
        h, c = self._zeros(B, like)
        if self.stateful and self._state is not None:
            n = min(B, self._state[0].shape[0])
            h[:n], c[:n] = self._state[0][:n], self._state[1][:n]
        return h, c

    def _keep_state(self, h: torch.Tensor, c: torch.Tensor) -> None:
        """Store the final state; rows beyond this batch (from a larger earlier batch) keep theirs."""
        if self._state is not None and self._state[0].shape[0] > h.shape[0]:
            B = h.shape[0]
            h = torch.cat([h, self._state[0][B:]])
            c = torch.cat([c, self._state[1][B:]])
        self._state = (h, c)
