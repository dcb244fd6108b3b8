"""Built-in tokenizer components."""

from . import tokenizers


def register(register):
    for module in (tokenizers,):
        module.register(register)
