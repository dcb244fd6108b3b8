"""Built-in attention components."""

from . import transformer


def register(register):
    for module in (transformer,):
        module.register(register)
