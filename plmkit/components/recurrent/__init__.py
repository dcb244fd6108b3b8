"""Built-in recurrent components."""

from . import lstm


def register(register):
    for module in (lstm,):
        module.register(register)
