"""Built-in device components."""

from . import devices


def register(register):
    for module in (devices,):
        module.register(register)
