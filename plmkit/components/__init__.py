"""plmkit's built-in components: an ordinary plugin, registered through the same hook as any other."""

from ..hookspecs import hookimpl


@hookimpl
def register_components(register):
    """Register every built-in component, kind by kind."""
    from . import attention, batching, data, device, embedding, head, recurrent, task, tokenizer

    for kind in (embedding, attention, recurrent, head, batching, device, tokenizer, data, task):
        kind.register(register)
