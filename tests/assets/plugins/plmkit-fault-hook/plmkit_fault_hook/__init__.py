"""Test asset: attention 'watched' (a working block) and a step_finished hook that raises at
step 2 of a run that uses it (runs that do not use it are left alone)."""

import plmkit

WATCHING = []


class WatchedParams(plmkit.Params):
    """A residual linear block whose runs this plugin watches."""


def build_block(params, ctx):
    """A residual linear layer: the smallest block a model can be built and trained with."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.proj = nn.Linear(hidden, hidden)

        def forward(self, x, attention_mask, rope=None):
            return x + self.proj(x)

    return Block(ctx.input_dim)


@plmkit.hookimpl
def register_components(register):
    register("attention", "watched", WatchedParams, build_block)


@plmkit.hookimpl
def run_started(recipe):
    WATCHING[:] = [recipe.model.attention is not None and recipe.model.attention.type == "watched"]


@plmkit.hookimpl
def step_finished(step, metrics):
    if WATCHING and WATCHING[0] and step == 2:
        WATCHING.append(metrics["watched_norm"])  # the bug under test: plmkit writes no such metric
