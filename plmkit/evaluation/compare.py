"""``plmkit compare``: pretrain (or load) each contender under one budget, evaluate all on the same tasks.

The comparison folder (``--out DIR``)::

    compare.json         what was asked: contenders, budget, seeds, tasks, protocols, corpus, machine
    runs/LABEL-seedK/    one run folder per recipe and seed (``plmkit run``'s layout + pretrain.json)
    results/ROW/TASK.PROTOCOL.json   one cell each: a model row (LABEL-seedK) or a baseline row
    report.md report.json *.png      written by ``plmkit.evaluation.report`` (``plmkit report DIR``)

Everything is resumable: a run folder with summary.json is finished and not trained again (one
without is continued from its checkpoint by ``plmkit.evaluation.pretrain``), and a result file
whose ``key`` matches (the model's weights, the task and its parameters, the corpus, the protocol
settings) is not computed again. Kill a comparison and run the same command: it continues.

Everything is checked before anything trains: the budget, every recipe (with ``--set`` and each
seed), every run folder, every task and its options.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import Problem, RecipeError, RunError
from .budget import Budget, parse_budget
from .cells import Cells, write_json
from .tasks import DEFAULT_TASKS, TaskSpec, resolve_tasks, task_corpus

__all__ = ["Settings", "Contender", "Comparison", "FAMILIES", "COMPARE_FILE", "BASELINE_ROWS"]

COMPARE_FILE = "compare.json"
FAMILIES = {"bidirectional": "BERT", "causal": "GPT", "bilm": "ELMo"}
BASELINE_ROWS = ("majority", "random", "reference")
PROTOCOLS = ("probe", "finetune")


@dataclass
class Settings:
    """Everything a comparison was asked to do (saved as compare.json's ``settings``)."""

    sources: list[str]
    out: str
    budget: str | None = None
    seeds: int = 1
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    options: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    documents: int = 400
    protocols: list[str] = field(default_factory=lambda: list(PROTOCOLS))
    finetune_steps: int = 100
    finetune_lrs: list[float] = field(default_factory=lambda: [1e-4, 3e-4, 1e-3])
    device: str = "auto"

    def finetune_settings(self):
        from .finetune import FinetuneSettings

        return FinetuneSettings(self.finetune_steps, tuple(self.finetune_lrs))


@dataclass
class Contender:
    """A recipe to pretrain (once per seed) or a trained run to load."""

    label: str
    source: str  # recipe file / PACKAGE:NAME.yaml, or a run folder
    kind: str  # "recipe" or "run"
    recipe: Any
    direction: str

    @property
    def family(self) -> str:
        return FAMILIES.get(self.direction, self.direction)

    def run_dir(self, out: Path, seed: int) -> Path:
        return out / "runs" / f"{self.label}-seed{seed}" if self.kind == "recipe" else Path(self.source).resolve()

    def describe(self, out: Path, seeds: int) -> dict[str, Any]:
        return {"label": self.label, "source": self.source, "kind": self.kind, "family": self.family,
                "direction": self.direction, "name": self.recipe.name, "description": self.recipe.description,
                "runs": {str(k): str(self.run_dir(out, k)) for k in range(seeds)}}


# -- checking everything first ---------------------------------------------------------------------------
def _is_run_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "recipe.yaml").is_file() or (path / "model" / "recipe.yaml").is_file())


def _contenders(settings: Settings) -> list[Contender]:
    from ..recipe.validate import load_recipe
    from ..training.rundir import find_trained, load_saved_recipe

    out, problems, labels = [], [], set()
    for source in settings.sources:
        path = Path(source)
        try:
            if _is_run_folder(path):
                folder, weights, _ = find_trained(path)
                if weights.parent != folder:  # only a checkpoint: the run has not finished
                    raise RunError(f"{source}: this run has not finished (no model/); finish it with "
                                   f"plmkit run --resume {source}, or give its recipe")
                recipe = load_saved_recipe(folder)
                kind = "run"
            else:
                recipe = load_recipe(source, settings.overrides)
                for seed in range(1, settings.seeds):  # every seed's recipe must validate too
                    load_recipe(source, settings.overrides + [f"train.seed={recipe.train.seed + seed}"])
                kind = "recipe"
        except RecipeError as error:
            problems.extend(error.problems or [Problem("", str(error))])
            continue
        label = recipe.name
        for k in range(2, 100):
            if label not in labels:
                break
            label = f"{recipe.name}-{k}"
        labels.add(label)
        out.append(Contender(label, source, kind, recipe, recipe.model.direction))
    if problems:
        raise RecipeError(problems=problems)
    return out


def _corpus_spec(contenders: list[Contender]) -> tuple[int, float, list[str]]:
    """(generator seed, held-out fraction, warnings): held out by every contender."""
    seeds, holdouts, notes = set(), [], []
    for c in contenders:
        data = c.recipe.data
        holdouts.append(c.recipe.eval.holdout)
        if data.type == "generated":
            seeds.add(data.params.seed)
        else:
            notes.append(f"{c.label} trains on {data.type} data, not the generated corpus the tasks are made from")
    if len(seeds) > 1:
        raise RecipeError(f"data.seed: the contenders train on different generated corpora (seeds "
                          f"{', '.join(map(str, sorted(seeds)))}); give them the same data.seed (--set data.seed=N)")
    return (seeds.pop() if seeds else 1234), min(holdouts), notes


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / COMPARE_FILE).is_file():
        raise RunError(f"{out}: folder exists, is not empty and holds no comparison; choose another --out "
                       f"(nothing was written)")


def _check_settings(settings: Settings) -> None:
    problems = []
    if settings.seeds < 1:
        problems.append(Problem("--seeds", f"expected a positive count, got {settings.seeds}"))
    if settings.documents < 10:
        problems.append(Problem("--documents", f"expected at least 10 documents, got {settings.documents}"))
    unknown = [p for p in settings.protocols if p not in PROTOCOLS]
    if unknown or not settings.protocols:
        problems.append(Problem("--protocols", f"expected some of {', '.join(PROTOCOLS)}, got {','.join(settings.protocols)!r}"))
    if settings.finetune_steps < 1 or not settings.finetune_lrs or any(lr <= 0 for lr in settings.finetune_lrs):
        problems.append(Problem("--finetune-steps", "expected a positive step count and positive learning rates"))
    if not settings.sources:
        problems.append(Problem("", "give at least one recipe or run folder to compare"))
    if problems:
        raise RecipeError(problems=problems)


def _collect(problems: list[Problem], check: Callable, *args: Any) -> Any:
    """``check(*args)``, its RecipeError's problems added to ``problems`` instead of raised."""
    try:
        return check(*args)
    except RecipeError as error:
        problems.extend(error.problems or [Problem("", str(error))])
        return None


# -- the comparison --------------------------------------------------------------------------------------
class Comparison:
    """A checked comparison; ``run()`` trains, evaluates and reports."""

    def __init__(self, settings: Settings, display: Any = None, argv: list[str] | None = None):
        from .display import CompareDisplay

        self.settings, self.out = settings, Path(settings.out)
        self.display = display or CompareDisplay()
        self.argv = argv or []
        problems: list[Problem] = []  # every mistake on the command line at once
        _collect(problems, _check_settings, settings)
        self.budget: Budget | None = _collect(problems, parse_budget, settings.budget) if settings.budget else None
        self.tasks: list[TaskSpec] = _collect(problems, resolve_tasks, settings.tasks, settings.options) or []
        self.contenders = _collect(problems, _contenders, settings) or []
        if problems:
            raise RecipeError(problems=problems)
        self.corpus_seed, self.holdout, self.notes = _corpus_spec(self.contenders)
        _check_out(self.out)
        self._check_existing_runs()

    # -- what was asked, on disk --------------------------------------------------------------------
    def write_plan(self, corpus: Any) -> None:
        from .probes import describe as probe_settings

        data = {
            "settings": asdict(self.settings), "argv": self.argv,
            "budget": self.budget.describe() if self.budget else None,
            "contenders": [c.describe(self.out, self.settings.seeds) for c in self.contenders],
            "tasks": [t.describe() for t in self.tasks], "corpus": corpus.describe(), "notes": self.notes,
            "protocols": {"probe": probe_settings(), "finetune": self.settings.finetune_settings().describe()},
            "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / COMPARE_FILE, data)

    def _check_existing_runs(self) -> None:
        """A run folder in DIR from another recipe or budget is refused, not silently reused."""
        from .pretrain import INFO_FILE

        wanted = self.budget.describe() if self.budget else None
        for c in self.contenders:
            for seed in range(self.settings.seeds) if c.kind == "recipe" else ():
                info_path = c.run_dir(self.out, seed) / INFO_FILE
                if not info_path.is_file():
                    continue
                info = json.loads(info_path.read_text(encoding="utf-8"))
                if info.get("budget") != wanted or info.get("overrides") != self._overrides(c, seed) \
                        or info.get("source") != c.source:
                    raise RunError(f"{info_path.parent}: was trained with another recipe, --set or budget; give a "
                                   f"new --out, or delete that folder to train it again (nothing was changed)")

    def _overrides(self, c: Contender, seed: int) -> list[str]:
        return list(self.settings.overrides) + [f"train.seed={c.recipe.train.seed + seed}"]

    # -- running --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from .report import write_report

        corpus = task_corpus(self.corpus_seed, self.holdout, self.settings.documents)
        self.write_plan(corpus)
        units = self._units(corpus)
        self.display.start(self.out, len(units), self.budget)
        self.display.plan([unit.kind for unit in units])
        for unit in units:
            self.display.begin(unit)
            done = unit.work()
            self.display.end(unit, skipped=not done)
        report = write_report(self.out, echo=self.display.table, note=self.display.message)
        self.display.finish(self.out)
        return report

    def _units(self, corpus: Any) -> list["Unit"]:
        units, seeds = [], range(self.settings.seeds)
        for seed in seeds:
            for c in self.contenders:
                if c.kind == "recipe":
                    units.append(Unit("pretrain", c.label, seed, "pretraining", lambda c=c, s=seed: self._pretrain(c, s)))
        cells = Cells(self, corpus)
        for seed in seeds:
            for c in self.contenders:
                for task in self.tasks:
                    for protocol in self._protocols(task):
                        units.append(Unit(protocol, c.label, seed, f"{task.name} {_VERB[protocol]}",
                                          lambda c=c, s=seed, t=task, p=protocol: cells.model(c, s, t, p)))
            for task in self.tasks:
                units.append(Unit("baseline", "baselines", seed, f"{task.name} baselines",
                                  lambda s=seed, t=task: cells.baselines(s, t)))
        return units

    def _protocols(self, task: TaskSpec) -> list[str]:
        return ["direct"] if task.params.measure == "direct" else list(self.settings.protocols)

    def _pretrain(self, c: Contender, seed: int) -> bool:
        """Train one recipe and seed in a process of its own; False when it had finished already."""
        run_dir = c.run_dir(self.out, seed)
        if (run_dir / "summary.json").is_file():
            return False
        job = {"source": c.source, "overrides": self._overrides(c, seed), "out": str(run_dir), "label": c.label,
               "seed": seed, "budget": self.budget.describe() if self.budget else None}
        job_file = self.out / "runs" / f".{c.label}-seed{seed}.job.json"
        job_file.parent.mkdir(parents=True, exist_ok=True)
        write_json(job_file, job)
        from .pretrain import run_job

        code = run_job(job_file)
        if code == 130:
            raise KeyboardInterrupt
        if code != 0 or not (run_dir / "summary.json").is_file():
            raise RunError(f"pretraining {c.label} (seed {seed}) failed (exit {code}); its messages are above. "
                           f"Run the same command again to continue the comparison")
        return True


_VERB = {"probe": "probe", "finetune": "fine-tuning", "direct": "measure"}


@dataclass
class Unit:
    """One step of a comparison, for the progress display."""

    kind: str  # pretrain | probe | finetune | direct | baseline
    label: str
    seed: int
    what: str
    work: Callable[[], bool]  # True when it did something, False when the result was there already


# -- helpers ----------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the comparison ran on (report.json's ``machine``)."""
    import platform

    import torch

    from .. import __version__

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "plmkit": __version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    from ..plugins import get_plugins

    info["plugins"] = {i.package: i.version for i in get_plugins().infos if i.status == "loaded" and i.package != "plmkit"}
    return info
