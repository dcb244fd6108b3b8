"""plmkit's reusable torch building blocks, public for built-in components and plugins alike.

A component's ``build(params, ctx)`` composes these instead of copying them::

    from plmkit.modules import SelfAttention, TransformerBlock

    class AlibiAttention(SelfAttention):
        def score_bias(self, T, device, dtype): ...          # (n_head, T, T) added to the scores

    block = TransformerBlock(ctx.hidden, heads, norm="pre", causal=ctx.causal,
                             attention=AlibiAttention(ctx.hidden, heads, causal=ctx.causal))

Importing this package imports torch; component modules import it inside ``build`` so that
validating a recipe stays fast.
"""

from .attention import SelfAttention, attention_bias
from .char_cnn import CharCNN, Highway
from .embeddings import (
    LearnedPosition,
    RotaryPosition,
    SegmentEmbedding,
    SinusoidalPosition,
    SumEmbedding,
    TokenEmbedding,
    sinusoid,
)
from .heads import BidirectionalLMHead, CausalLMHead, MaskedLMHead, NextSentenceHead, VocabularyProjection
from .init import init_linear, residual_init_std
from .losses import IGNORE, accuracy_sums, cross_entropy, linear_cross_entropy, next_token_targets, shifted_nll
from .lstm import LstmWithProjection
from .mlp import ACTIVATIONS, MLP, activation
from .rotary import RotaryTable, apply_rotary
from .scalar_mix import ScalarMix
from .transformer import TransformerBlock

__all__ = [
    "SelfAttention", "attention_bias", "MLP", "ACTIVATIONS", "activation", "TransformerBlock",
    "RotaryTable", "apply_rotary",
    "TokenEmbedding", "SegmentEmbedding", "LearnedPosition", "SinusoidalPosition", "RotaryPosition", "SumEmbedding",
    "sinusoid", "CharCNN", "Highway", "LstmWithProjection",
    "VocabularyProjection", "MaskedLMHead", "NextSentenceHead", "CausalLMHead", "BidirectionalLMHead", "ScalarMix",
    "IGNORE", "cross_entropy", "linear_cross_entropy", "next_token_targets", "shifted_nll", "accuracy_sums",
    "init_linear", "residual_init_std",
]
