"""Built-in embedding components."""

from . import lookup, sum, char_cnn


def register(register):
    for module in (lookup, sum, char_cnn,):
        module.register(register)
