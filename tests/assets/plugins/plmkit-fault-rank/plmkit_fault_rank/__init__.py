"""Test asset: attention 'fails_on_rank', a working residual block that raises in its forward pass
on one process (torchrun's RANK) at one training step, as a bug or a bad batch on one machine would."""

import os

import plmkit
from pydantic import Field


class FailsOnRankParams(plmkit.Params):
    """A residual linear block that fails on process ``rank`` at its ``step``-th training forward."""

    rank: int = Field(1, ge=0, description="the process that fails")
    step: int = Field(2, ge=1, description="the training forward pass it fails in")


def build_block(params, ctx):
    from torch import nn

    class FailsOnRank(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.proj = nn.Linear(hidden, hidden)
            self.calls = 0

        def forward(self, x, attention_mask, rope=None):
            if self.training:
                self.calls += 1
                if os.environ.get("RANK") == str(params.rank) and self.calls == params.step:
                    raise RuntimeError(f"injected failure on process {params.rank} at step {params.step}")
            return x + self.proj(x)

    return FailsOnRank(ctx.input_dim)


@plmkit.hookimpl
def register_components(register):
    register("attention", "fails_on_rank", FailsOnRankParams, build_block)
