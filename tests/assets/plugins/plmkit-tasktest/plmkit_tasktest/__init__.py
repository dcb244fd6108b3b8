"""A plugin task for plmkit compare's tests: does a sentence contain a negation ("not")?

It is written as a plugin author would write one: Params from ``plmkit.params.TaskParams``, a
builder returning an object with ``examples(corpus)``, registered through the same hook as
every other component.
"""

from typing import ClassVar

from pydantic import Field

import plmkit
from plmkit.params import TaskParams


class NegationParams(TaskParams):
    """Is the sentence negated (does it contain "not")? A sentence-level probe task."""

    read: ClassVar[str] = "text"

    sentences: int = Field(0, ge=0, description="use at most this many sentences (0: all)")


class NegationTask:
    def __init__(self, params):
        self.params = params

    def examples(self, corpus):
        from plmkit.evaluation.tasks import Examples

        rows = [(s.text, int("not" in s.words), part)
                for doc, part in zip(corpus.documents, corpus.split) for s in doc.sentences]
        rows = rows[: self.params.sentences or len(rows)]
        return Examples([r[0] for r in rows], [r[1] for r in rows], ["affirmative", "negated"], [r[2] for r in rows])


@plmkit.hookimpl
def register_components(register):
    register("task", "negation", NegationParams, lambda params, ctx=None: NegationTask(params))
