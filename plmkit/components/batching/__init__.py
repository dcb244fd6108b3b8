"""Built-in batching components."""

from . import layouts


def register(register):
    for module in (layouts,):
        module.register(register)
