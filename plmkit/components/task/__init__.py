"""Built-in tasks of ``plmkit compare``: corpus probes, lm and generation, and the user's JSON Lines file."""

from . import corpus, jsonl, language


def register(register):
    for module in (corpus, language, jsonl):
        module.register(register)
