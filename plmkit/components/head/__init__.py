"""Built-in head components."""

from . import masked_lm, next_sentence, causal_lm, bilm, scalar_mix


def register(register):
    for module in (masked_lm, next_sentence, causal_lm, bilm, scalar_mix,):
        module.register(register)
