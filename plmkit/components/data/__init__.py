"""Built-in data components."""

from . import sources


def register(register):
    for module in (sources,):
        module.register(register)
