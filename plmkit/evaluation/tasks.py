"""Downstream tasks: what a task gives ``plmkit compare``, the corpus tasks read, and how tasks are named.

A task is a registered component of kind ``task`` (Params subclass of ``plmkit.params.TaskParams``
+ ``build(params, ctx)``), so a plugin adds one through ``register_components`` like any other
component. What ``build`` returns depends on the Params' ``measure``:

* ``"probe"``: an object with ``examples(corpus) -> Examples``: labelled texts, each in a split
  (train / dev / test). A linear probe on frozen features and fine-tuning learn them; where a
  model's vector is read is the Params' ``read`` ("text", "words" or "next").
* ``"direct"``: an object with ``measure(run, corpus, seed) -> dict`` (``value`` plus any other
  numbers) and ``baselines(corpus, seed) -> {row: dict}`` (what a model without pretraining, or
  the generator itself, reaches).

``TaskCorpus`` is the text every task reads: documents of the embedded corpus that every
contender held out from training (the same documents for every model), each in a split.
``resolve_tasks(["pos", "reviews.jsonl"], ["lm.pseudo_log_likelihood=true"])`` turns command-line
names, JSON Lines files and options into validated ``TaskSpec``s. No torch here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..errors import Problem, RecipeError
from ..params import TaskParams

__all__ = ["Examples", "TaskCorpus", "TaskSpec", "TaskContext", "task_corpus", "resolve_tasks", "split_of",
           "check_task", "DEFAULT_TASKS", "SPLITS"]

#: the tasks ``plmkit compare`` runs when ``--tasks`` is not given
DEFAULT_TASKS = ("pos", "sentiment", "agreement", "coherence", "topic", "lm", "generation")
SPLITS = ("train", "dev", "test")


def split_of(index: int) -> str:
    """The split of the ``index``-th document (or record): 6 in 10 train, 1 dev, 3 test, interleaved."""
    rest = index % 10
    return "train" if rest < 6 else ("dev" if rest == 6 else "test")


@dataclass
class Examples:
    """Labelled examples of a probe task.

    texts   one string per example (whitespace-separated words)
    labels  one int per example (``read`` "text" / "next"), or a list with one int per word ("words")
    names   label names, indexed by the ints
    split   "train", "dev" or "test" per example
    groups  named subsets of the examples (indices) with numbers of their own in the report
            (agreement: the verbs with an attractor noun of the other number before them)
    """

    texts: list[str]
    labels: list[Any]
    names: list[str]
    split: list[str]
    groups: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.labels) == len(self.split)):
            raise ValueError(f"{len(self.texts)} texts, {len(self.labels)} labels and {len(self.split)} splits differ")

    def indices(self, *splits: str) -> list[int]:
        return [i for i, s in enumerate(self.split) if s in splits]

    def flat_labels(self, indices: list[int]) -> list[int]:
        """The labels of these examples, one per word for word-level tasks."""
        out: list[int] = []
        for i in indices:
            out.extend(self.labels[i] if isinstance(self.labels[i], list) else [self.labels[i]])
        return out


@dataclass
class TaskCorpus:
    """Held-out documents of the embedded corpus: the same for every model in a comparison."""

    seed: int  # the generator's seed (the contenders' data.seed)
    holdout: float  # every document here is held out at this fraction (so by every contender)
    indices: list[int]  # document indices in the corpus
    documents: list[Any]  # plmkit.data.corpus.Document, in the same order
    split: list[str]  # per document

    def by_split(self, *splits: str) -> list[Any]:
        return [d for d, s in zip(self.documents, self.split) if s in splits]

    def training_documents(self, count: int) -> Iterator[Any]:
        """The first ``count`` documents that are not held out: text a model may have trained on."""
        from ..data.corpus import generate
        from ..data.prepare import is_held_out

        index, given = 0, 0
        while given < count:
            if not is_held_out(index, self.holdout):
                given += 1
                yield next(generate(1, self.seed, start=index))
            index += 1

    def floor_bits_per_word(self, *splits: str) -> float:
        from ..data.corpus import floor_bits_per_word

        return floor_bits_per_word(self.by_split(*splits) if splits else self.documents)

    def describe(self) -> dict[str, Any]:
        counts = {s: self.split.count(s) for s in SPLITS}
        return {"seed": self.seed, "holdout": self.holdout, "documents": len(self.documents), "splits": counts,
                "first_index": self.indices[0] if self.indices else None,
                "last_index": self.indices[-1] if self.indices else None,
                "floor_bits_per_word": self.floor_bits_per_word()}


def task_corpus(seed: int, holdout: float, documents: int) -> TaskCorpus:
    """The first ``documents`` corpus documents held out at ``holdout`` (and so by every recipe that
    holds out at least that fraction, whatever its ``data.documents``)."""
    from ..data.corpus import generate
    from ..data.prepare import is_held_out

    indices, index = [], 0
    while len(indices) < documents:
        if is_held_out(index, holdout):
            indices.append(index)
        index += 1
    docs = [next(generate(1, seed, start=i)) for i in indices]
    return TaskCorpus(seed, holdout, indices, docs, [split_of(k) for k in range(len(indices))])


# -- naming tasks on the command line ---------------------------------------------------------------
@dataclass
class TaskSpec:
    """A task as a comparison runs it: its name in the report, its component and validated params."""

    name: str
    component: Any  # plmkit.registry.Component
    params: TaskParams

    def describe(self) -> dict[str, Any]:
        p = self.params  # class facts, read on the instance (a task may decide them per instance)
        return {"name": self.name, "type": self.component.name, "provider": self.component.provider,
                "params": self.params.model_dump(mode="json"), "measure": p.measure, "read": p.read,
                "metric": p.metric, "higher_is_better": p.higher_is_better, "directions": list(p.directions),
                "known_for": p.known_for, "description": self.component.description}

    def key(self) -> str:
        """A short fingerprint of what the task computes (its type and parameters)."""
        text = yaml.safe_dump([self.component.name, self.params.model_dump(mode="json")], sort_keys=True)
        return f"{zlib.crc32(text.encode()):08x}"


@dataclass
class TaskContext:
    """What a task's ``build(params, ctx)`` receives."""

    name: str  # the task's name in the comparison
    base: Path = field(default_factory=Path.cwd)  # the folder relative paths are read from


def resolve_tasks(items: list[str], options: list[str] = ()) -> list[TaskSpec]:
    """Validated tasks for ``--tasks`` items (registered names or .jsonl files) and ``--option TASK.KEY=VALUE``."""
    from ..plugins import get_plugins, get_registry
    from ..registry import did_you_mean

    registry, problems = get_registry(), []
    raw: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        if item.endswith((".jsonl", ".json")):
            raw[Path(item).stem] = ("jsonl", {"path": str(Path(item).resolve())})
        elif registry.get("task", item) is not None:
            raw[item] = (item, {})
        else:
            names = registry.names("task")
            problems.append(Problem("--tasks", f"unknown task {item!r}{did_you_mean(item, names)}; tasks: "
                                               f"{', '.join(names)}, or a .jsonl file{get_plugins().unknown_hint()}"))
    for option in options:
        problem = _apply_option(option, raw)
        if problem:
            problems.append(problem)
    specs = [_validate(name, type_name, params, problems) for name, (type_name, params) in raw.items()]
    if problems:
        raise RecipeError(problems=problems)
    return [s for s in specs if s is not None]


def _apply_option(option: str, raw: dict[str, tuple[str, dict[str, Any]]]) -> Problem | None:
    key, sep, value = option.partition("=")
    name, dot, param = key.partition(".")
    if not sep or not dot or not param:
        return Problem("--option", f"expected TASK.KEY=VALUE (e.g. lm.pseudo_log_likelihood=true), got {option!r}")
    if name not in raw:
        return Problem("--option", f"{option!r}: no task {name!r} in this comparison; tasks: {', '.join(raw)}")
    try:
        raw[name][1][param] = yaml.safe_load(value)
    except yaml.YAMLError:
        raw[name][1][param] = value
    return None


def _validate(name: str, type_name: str, params: dict[str, Any], problems: list[Problem]) -> TaskSpec | None:
    from pydantic import ValidationError

    from ..plugins import get_registry
    from ..recipe.messages import describe_error

    component = get_registry().get("task", type_name)
    try:
        return TaskSpec(name, component, component.params(**params))
    except ValidationError as error:
        for e in error.errors():
            where = ".".join(str(p) for p in e["loc"])
            problems.append(Problem(f"--option {name}.{where}" if where else f"--tasks {name}",
                                    describe_error(e, component.params)))
        return None


def build_task(spec: TaskSpec, base: Path | None = None) -> Any:
    """The task object of a spec (see the module docstring for what it provides)."""
    return spec.component.build(spec.params, TaskContext(spec.name, base or Path.cwd()))


# -- a contract check for task authors ------------------------------------------------------------------
def check_task(name: str, documents: int = 30, **params: Any) -> Examples | None:
    """Build task ``name`` on a small held-out corpus and check what it promises; returns its examples.

    Plugin authors call it in their tests like ``plmkit.testing.check_component``.
    """
    from ..plugins import get_registry
    from ..testing import check_params

    check_params("task", name)
    component = get_registry().get("task", name)
    assert issubclass(component.params, TaskParams), f"task {name!r}: its Params must subclass TaskParams"
    p = component.params(**params)  # class facts, read on the instance (jsonl decides ``read`` per file)
    assert p.measure in ("probe", "direct"), f"task {name!r}: measure must be 'probe' or 'direct', got {p.measure!r}"
    assert p.read in ("text", "words", "next"), f"task {name!r}: read must be 'text', 'words' or 'next', got {p.read!r}"
    task = build_task(TaskSpec(name, component, p))
    if p.measure == "direct":
        assert callable(getattr(task, "measure", None)) and callable(getattr(task, "baselines", None)), \
            f"task {name!r}: a direct task provides measure(run, corpus, seed) and baselines(corpus, seed)"
        return None
    examples = task.examples(task_corpus(1234, 0.05, documents))
    assert isinstance(examples, Examples), f"task {name!r}: examples() must return plmkit.evaluation.tasks.Examples"
    assert examples.texts, f"task {name!r}: no examples from {documents} documents"
    assert set(examples.split) <= set(SPLITS) and "test" in examples.split, "every example in train/dev/test; some test"
    for text, label in zip(examples.texts, examples.labels):
        labels = label if p.read == "words" else [label]
        if p.read == "words":
            assert isinstance(label, list) and len(label) == len(text.split()), f"one label per word: {text!r}"
        assert all(isinstance(x, int) and 0 <= x < len(examples.names) for x in labels), f"labels index names: {label}"
    return examples


def mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
