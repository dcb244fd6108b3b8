"""``train``: the one training loop, readable top to bottom.

recipe -> run folder -> data (tokenizer + batches) -> model on its device -> AdamW steps with
gradient accumulation, clipping and mixed precision -> held-out evaluations -> checkpoints ->
final model + summary. Plugins observe it through four hooks (run_started, step_finished,
evaluation_finished, run_finished; see hookspecs.py).

Reproducibility: everything is seeded from ``train.seed`` and a CPU run is bit-for-bit
repeatable. A resumed run restores weights, optimiser state, RNG states and the data position
from its last intact checkpoint, and ends with exactly the weights of an uninterrupted run.

Stopping: SIGINT (Ctrl-C) and SIGTERM (what schedulers and ``docker stop`` send) both finish the
current step, write a checkpoint, say how to continue and stop (exit 130 and 143); a second one
stops at once. Besides every ``train.checkpoint_every`` steps, a checkpoint is written whenever
``train.checkpoint_minutes`` have passed since the last one, so a kill loses at most that much.
Before anything is allocated the recipe's memory estimate is compared with what the device has.

On N processes (device ``ddp``; see training/distributed.py) every rank runs this loop on its
share of each global batch; rank 0 alone prints, writes the run folder and evaluates.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors import SafetensorError

from ..errors import PlmkitError, Problem, RecipeError, RunError
from ..recipe.objectives import untrainable
from ..evaluation.metrics import evaluate
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import NO_HOOKS, Group, peer_failed, stopped_by_peer
from .files import DamagedFile
from .optim import learning_rate, make_optimizer, set_learning_rate
from .progress import Progress, Silent
from .opening import open_run_dir, recipe_record
from .rundir import RunDir
from .signals import RaiseOnTerminate, StopOnSignals, Terminated, stopped_by

__all__ = ["train", "RunResult", "Terminated"]

_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@dataclass
class RunResult:
    """What ``train`` returns: where the run is, how far it got, its final held-out metrics."""

    run_dir: Path
    step: int
    metrics: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)
    model: Any = None


def train(recipe: Any, out_dir: Any = None, resume: Any = None, accept_changes: bool = False,
          progress: Progress | bool | None = None, stop: Callable[[dict[str, Any]], bool] | None = None) -> RunResult:
    """Train the model ``recipe`` describes; write the run folder; return its final metrics.

    ``out_dir``: the run folder (default runs/NAME-YYYYmmdd-HHMMSS). ``resume``: a run folder to
    continue from its last checkpoint; a recipe that differs from the saved one is refused
    unless ``accept_changes``. ``progress``: None reports on stderr, False reports nothing.
    ``stop``: called with every step's metrics record (as written to metrics.jsonl); when it
    returns True that step is the last one, and the run finishes as at ``train.steps``
    (evaluation, checkpoint, model, summary with ``stopped_early``). ``plmkit compare`` uses it
    to hold a wall-time budget. Ignored on several processes (the ranks would have to agree).
    """
    progress = Progress() if progress is None or progress is True else (Silent() if progress is False else progress)
    why = untrainable(recipe)
    if why:  # before anything is written
        raise RecipeError(problems=[Problem("model.head", why)])
    started = time.monotonic()
    with RaiseOnTerminate():
        placement = recipe.device.component.build(recipe.device.params, None)
        group = placement.group
        try:
            return _train(recipe, placement, out_dir, resume, accept_changes,
                          progress if group.main else Silent(), started, stop)
        except Exception as exc:
            if group.active and not isinstance(exc, PlmkitError) and peer_failed(exc):
                raise stopped_by_peer(group) from None
            raise
        finally:
            group.close()


def _train(recipe: Any, placement: Any, out_dir: Any, resume: Any, accept_changes: bool, progress: Progress,
           started: float, stop: Any = None) -> RunResult:
    group = placement.group
    group.per_rank(recipe.train.batch_size // recipe.train.grad_accum)  # the ranks can share every micro-batch
    _check_memory(recipe, placement)  # before anything is allocated or written
    run = _open_run(recipe, out_dir, resume, accept_changes, group)
    fresh = not run.is_run()  # a new (empty) folder: a failure before training leaves nothing behind
    try:
        prepared = _prepare(recipe, run)  # may fail on bad data: nothing has been written yet
        with _deterministic(placement.device.type == "cpu"):
            _seed_everything(recipe.train.seed)
            model = _build(recipe, prepared.tokenizer, placement)
            optimizer = make_optimizer(model, recipe.train)
            state = _resume_from(run, recipe, model, optimizer, placement)
            model, optimizer = group.split_model(model, optimizer, lambda m: make_optimizer(m, recipe.train))  # FSDP
            init = _start_from(recipe, model, progress) if state["step"] == 0 else None  # not on resume
            group.barrier()  # every rank has read its checkpoint before rank 0 tidies the folder
            if group.main:
                for note in run.tidy():  # decided: only now is anything in the folder changed
                    progress.message(note)
                for note in run.write_start(recipe, prepared.tokenizer):
                    progress.message(note)
                if init is not None:
                    run.write_init(init)
                run.truncate_metrics(state["step"])
            loop = _Loop(recipe, run, placement, prepared, model, optimizer, progress, state, stop)
            return loop.run(started)
    except BaseException as exc:
        if group.main and fresh and not run.metrics_path.exists():  # nothing trained yet: no half-made folder
            run.discard()
        if isinstance(exc, (OSError, SafetensorError)) and not isinstance(exc, PlmkitError):
            raise RunError(_io_failure(exc, run)) from None
        raise


def _open_run(recipe: Any, out_dir: Any, resume: Any, accept_changes: bool, group: Group) -> RunDir:
    """The run folder: rank 0 opens (or creates) it; the other ranks read the same folder."""
    if group.main:
        run, _ = open_run_dir(recipe, out_dir, resume, accept_changes)
    path = group.broadcast(str(run.path) if group.main else None)
    if group.main:
        return run
    run = RunDir(path)  # read-only on this rank: its checkpoints, its tokenizer
    if run.is_run():
        run.choose_checkpoints()
    return run


def _check_memory(recipe: Any, placement: Any) -> None:
    from ..recipe.summary import check_memory

    check_memory(recipe, placement.device)


def _io_failure(exc: BaseException, run: RunDir) -> str:
    """One line for a file the run could not write (a full disk, a read-only folder)."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip().splitlines()[0][:160]
    where = getattr(exc, "filename", None) or run.path
    return f"{where}: {reason}; the run stopped (checkpoints already written are intact)"


def _resume_from(run: RunDir, recipe: Any, model: Any, optimizer: Any, placement: Any) -> dict[str, Any]:
    """Restore the newest intact checkpoint (a damaged one is noted, the one before it used); a
    fresh start when the run has none."""
    for checkpoint, _ in run.candidates:
        try:
            state = load_checkpoint(checkpoint, model, optimizer, placement.scaler, placement.device)
        except DamagedFile as exc:
            run.damaged.append(exc)
            continue
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunError(f"{run.path}: cannot continue from {checkpoint.name}: the recipe now gives the model "
                           f"other shapes than the checkpoint's ({first[:160]}); resume only with changes that keep "
                           f"the model's shape, or start a new run (the run folder is unchanged)") from None
        _check_position(checkpoint, state, recipe)
        return state
    if run.damaged:
        first = run.damaged[0]
        raise RunError(f"{first.path}: damaged ({first.reason}); no intact checkpoint to resume from "
                       f"(nothing was written)")
    return {"step": 0, "best": {}}


def _check_position(checkpoint: Path, state: dict[str, Any], recipe: Any) -> None:
    """The data position must be one this run can have reached: at most the largest batch it used
    per step (skipping further would read the data for nothing, for as long as it takes)."""
    largest = max(state.get("max_batch_size", 1 << 16), recipe.train.batch_size)
    if state.get("instances", 0) > state["step"] * largest:
        raise RunError(f"{checkpoint / 'trainer_state.json'}: instances {state['instances']} is more than "
                       f"{state['step']} steps of at most {largest} sequences can reach; the file was changed "
                       f"(nothing was written)")


class _Loop:
    """The state of one training run; ``run`` is the loop itself."""

    def __init__(self, recipe: Any, run: RunDir, placement: Any, prepared: Any, model: Any, optimizer: Any,
                 progress: Progress, state: dict[str, Any], stop: Any = None) -> None:
        self.recipe, self.train, self.run_dir = recipe, recipe.train, run
        self.placement, self.prepared, self.model, self.optimizer = placement, prepared, model, optimizer
        self.progress, self.state = progress, state
        self.stop = stop if not placement.group.active else None  # one process: N ranks would have to agree
        self.stopped_early = False
        self.group = placement.group
        self.hook = _hooks() if self.group.main else NO_HOOKS  # plugins observe rank 0's run
        self.tokenizer_files = run.tokenizer_files()  # checkpoints record the tokenizer they belong to
        lossless = any(type(spec.params).objective is None for spec in recipe.model.head.values() if spec is not None)
        self.forward = self.group.wrap(model, placement.device, lossless)  # DDP around the model on N processes

    def run(self, started: float) -> RunResult:
        train, step = self.train, self.state["step"]
        # resume where we stopped, counted in sequences so a changed batch size still lines up
        self.instances = self.state.get("instances", step * train.batch_size)
        micro_batch = train.batch_size // train.grad_accum
        batches = self.prepared.train_batches(start=self.instances // micro_batch)  # global micro-batches
        self.progress.start(self.run_dir.path, self.recipe, self.placement.describe(),
                            self.model.num_parameters(), step)
        if self.group.active:
            self.progress.message(f"global batch {train.batch_size} = {self.group.world} processes x "
                                  f"{self.group.per_rank(micro_batch)} sequences x {train.grad_accum} micro-batches")
        self.hook.run_started(run_dir=self.run_dir.path, recipe=self.recipe)
        metrics: dict[str, float] = {}
        self.model.train()
        self.last_checkpoint = time.monotonic()
        with StopOnSignals() as interrupt:
            while step < train.steps:
                t0 = time.monotonic()
                lr = learning_rate(step, train)
                set_learning_rate(self.optimizer, lr)
                losses = self._optimizer_step(batches, step, interrupt.requested or 0, self._checkpoint_due())
                step += 1
                self.instances += train.batch_size
                # N processes decide together, on what the step's all-reduce carried: any rank's signal
                # stops every rank at this step, rank 0's checkpoint clock speaks for all
                agreed = losses.pop("interrupt"), losses.pop("checkpoint_due")
                tokens = losses.pop("tokens")
                tokens_per_s = tokens / max(time.monotonic() - t0, 1e-9)
                record = {"step": step, **losses, "lr": lr, "tokens": tokens, "tokens_per_s": tokens_per_s}
                if self.group.main:
                    self.run_dir.append_metrics(record)
                self.progress.step(step, record)
                self.hook.step_finished(step=step, metrics=record)
                self.stopped_early = step < train.steps and self.stop is not None and bool(self.stop(record))
                last = step == train.steps or self.stopped_early
                if last or (self.recipe.eval.every and step % self.recipe.eval.every == 0):
                    metrics = self._evaluate(step)
                requested, due = agreed if self.group.active else (interrupt.requested, self._checkpoint_due())
                if (last or (train.checkpoint_every and step % train.checkpoint_every == 0)
                        or requested or due):
                    self._checkpoint(step)
                if requested and not last:
                    what = "interrupted" if requested == signal.SIGINT else "terminated (SIGTERM)"
                    self.progress.message(f"{what} at step {step}; checkpoint saved. Continue with: "
                                          f"plmkit run --resume {self.run_dir.path}")
                    raise stopped_by(requested)
                if self.stopped_early:
                    self.progress.message(f"stopped early at step {step} of {train.steps} (asked to by the caller)")
                    break
        if not metrics:  # resumed from the final checkpoint of a run killed before it finished
            metrics = self._evaluate(step)
        return self._finish(step, metrics, started)

    # -- one optimiser step -----------------------------------------------------------------------
    def _optimizer_step(self, batches: Iterator[dict], step: int, interrupt: int = 0,
                        due: bool = False) -> dict[str, float]:
        """``grad_accum`` micro-batches forward and backward, then one clipped AdamW step.

        On N processes each rank takes its rows of every micro-batch; the losses it logs are the
        global means (summed over ranks with their weights), ``interrupt`` a signal any rank
        received, and ``checkpoint_due`` whether rank 0's checkpoint clock ran out.
        """
        train, placement, scaler, group = self.train, self.placement, self.placement.scaler, self.group
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[str, float] = {}
        tokens = 0
        try:
            for micro in range(train.grad_accum):
                batch = placement.to(group.shard(next(batches)))
                self.model.reset_states()  # batches are shuffled: no LSTM state carries between them
                with group.no_sync(self.forward, last=micro == train.grad_accum - 1):
                    with placement.autocast():
                        out = self.forward(**batch)
                    weights = group.loss_weights(out, placement.device)
                    loss = out.loss if weights is None else sum(w * out.losses[k] for k, w in weights.items())
                    scaler.scale(loss / train.grad_accum).backward()  # mean over the micro-batches
                for name, value in group.global_losses(out, weights):
                    losses[name] = losses.get(name, 0.0) + value / train.grad_accum
                tokens += _count_tokens(batch)
            grad_norm = self._clip_and_step()
        except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError too
            if isinstance(exc, _OOM) or "out of memory" in str(exc):
                raise RunError(_oom_message(self.recipe, self.placement, step)) from None
            raise
        names = list(losses)
        # one collective per step: the global losses and tokens, and the flags every rank must agree on
        totals = group.sum([losses[k] for k in names] + [tokens, interrupt > 0, due and group.main])
        losses = dict(zip(names, totals))
        tokens, interrupt = int(totals[-3]), (interrupt or (signal.SIGTERM if totals[-2] else 0))
        if not math.isfinite(losses["loss"]) and not scaler.is_enabled():
            raise RunError(f"train.lr: the loss became {losses['loss']} at step {step + 1}: training diverged; "
                           f"lower train.lr (now {train.lr}) or raise train.warmup_steps")
        return {**losses, "grad_norm": grad_norm, "tokens": tokens, "interrupt": interrupt,
                "checkpoint_due": bool(totals[-1])}

    def _clip_and_step(self) -> float | None:
        scaler = self.placement.scaler
        grad_norm = None  # not computed without clipping (JSON has no NaN)
        if self.train.grad_clip > 0:
            scaler.unscale_(self.optimizer)  # clip the true gradients, not the fp16-scaled ones
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train.grad_clip)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP: a DTensor
        scaler.step(self.optimizer)
        scaler.update()
        return grad_norm

    # -- evaluation, checkpoints, the end ---------------------------------------------------------
    def _evaluate(self, step: int) -> dict[str, float]:
        if not self.group.main and not self.group.sharded:  # DDP: rank 0 evaluates, the others train on
            return {}
        metrics = evaluate(self.model, self.prepared.eval_batches(), self.placement,  # FSDP: every rank, in step
                           words=self.prepared.heldout_word_count())
        if not self.group.main:
            return metrics
        self.run_dir.append_metrics({"step": step, **{f"eval_{k}": v for k, v in metrics.items()}})
        best = self.state.setdefault("best", {})
        if "loss" in metrics and metrics["loss"] < best.get("eval_loss", math.inf):
            best.update(eval_loss=metrics["loss"], step=step)
        self.progress.evaluation(step, metrics)
        self.hook.evaluation_finished(step=step, metrics=metrics)
        return metrics

    def _checkpoint_due(self) -> bool:
        minutes = self.train.checkpoint_minutes
        return bool(minutes) and time.monotonic() - self.last_checkpoint >= minutes * 60

    def _checkpoint(self, step: int) -> None:
        model, optimizer = self._consolidated()  # one checkpoint of the whole model, written by rank 0
        if not self.group.main:
            return
        largest = max(self.state.get("max_batch_size", 0), self.train.batch_size)
        trainer_state = {"instances": self.instances, "best": self.state.get("best", {}), "max_batch_size": largest,
                         # what these weights were trained with: a resume compares against it
                         "recipe": recipe_record(self.recipe), "tokenizer": self.tokenizer_files}
        save_checkpoint(self.run_dir.checkpoints, step, model, optimizer, trainer_state,
                        scaler=self.placement.scaler)
        self.last_checkpoint = time.monotonic()

    def _consolidated(self) -> tuple[Any, Any]:
        """The whole model and optimizer on rank 0 (FSDP gathers them; see distributed.py)."""
        def plain() -> tuple[Any, Any]:
            model = _build(self.recipe, self.prepared.tokenizer, None)
            return model, make_optimizer(model, self.train)

        return self.group.consolidated(self.model, self.optimizer, plain)

    def _finish(self, step: int, metrics: dict[str, float], started: float) -> RunResult:
        model, _ = self._consolidated()
        if not self.group.main:
            return RunResult(self.run_dir.path, step, metrics, {}, self.model)
        self.run_dir.write_model(model, self.recipe, self.prepared.tokenizer)
        summary = {
            "name": self.recipe.name,
            "step": step,
            "wall_time_s": round(time.monotonic() - started, 2),
            "device": self.placement.describe(),
            "direction": self.recipe.model.direction,
            "lm_head": self.model.lm_head,
            "parameters": self.model.num_parameters(),
            "eval": metrics,
            "unigram_baseline": self.prepared.unigram_baseline(),
            "floor_bits_per_word": self.prepared.stats.get("floor_bits_per_word"),
            "best": self.state.get("best", {}),
            "run_dir": str(self.run_dir.path),
        }
        if self.stopped_early:
            summary["stopped_early"] = True
        self.run_dir.write_summary(summary)  # last: a run with summary.json has finished
        self.hook.run_finished(run_dir=self.run_dir.path, metrics=metrics)
        self.progress.finish(summary)
        return RunResult(self.run_dir.path, step, metrics, summary, self.model)


# -- helpers ------------------------------------------------------------------------------------------
def _prepare(recipe: Any, run: RunDir) -> Any:
    """Tokenizer and batches; a run that already has a tokenizer keeps it (resume), a run that
    starts from a checkpoint takes the checkpoint's."""
    from ..data.prepare import prepare
    from ..data.tokenize import Tokenizer

    tokenizer = Tokenizer.load(run.tokenizer_dir) if (run.tokenizer_dir / ".complete").exists() else None
    if tokenizer is None and recipe.init is not None:  # a checkpoint's tokenizer, when it has one
        from ..interop.init import checkpoint_tokenizer

        tokenizer = checkpoint_tokenizer(recipe)
    return prepare(recipe, tokenizer=tokenizer)


def _start_from(recipe: Any, model: Any, progress: Progress) -> dict[str, Any] | None:
    """``init.checkpoint``: its weights into a fresh run's model (RecipeError if they do not fit)."""
    if recipe.init is None:
        return None
    from ..interop.init import initialise

    report = initialise(model, recipe)
    for line in report.lines():
        progress.message(line)
    return report.as_dict()


def _build(recipe: Any, tokenizer: Any, placement: Any) -> Any:
    from ..models.build import build_model

    try:
        model = build_model(recipe, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
        # None: a plain copy on the CPU (FSDP's consolidated checkpoints)
        return model if placement is None else placement.prepare(model)  # on its device; compiled if device.compile
    except RuntimeError as exc:  # the estimate said it fits, but it did not
        if isinstance(exc, _OOM) or "can't allocate memory" in str(exc) or "out of memory" in str(exc):
            raise RunError(f"model: does not fit in memory on {placement.device} ({str(exc).splitlines()[0][:120]}); "
                           f"lower model.hidden or model.layers") from None
        raise


def _hooks() -> Any:
    from ..plugins import get_plugins

    return get_plugins().manager.hook


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # every device's generator
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)


@contextlib.contextmanager
def _deterministic(enabled: bool) -> Iterator[None]:
    """Deterministic kernels for the run, restoring the caller's setting afterwards.

    Used on the CPU, where it costs nothing at run time. The C setter is called directly when it
    exists: the public function also imports torch's compiler stack (seconds) to set a flag of it.
    """
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - other torch versions
        setter = torch.use_deterministic_algorithms
    if enabled:
        setter(True, warn_only=True)
    try:
        yield
    finally:
        setter(before[0], warn_only=before[1])


def _count_tokens(batch: dict[str, torch.Tensor]) -> int:
    mask = batch.get("attention_mask")
    if mask is not None:
        return int(mask.sum())
    reference = batch.get("input_ids", batch.get("char_ids"))
    return int(reference.shape[0] * reference.shape[1])


def _oom_message(recipe: Any, placement: Any, step: int) -> str:
    t = recipe.train
    return (f"train.batch_size: a micro-batch of {t.batch_size // t.grad_accum} x {t.seq_len} tokens does not fit "
            f"in memory on {placement.device} (step {step + 1}); lower train.batch_size or raise train.grad_accum "
            f"(now {t.grad_accum})")
