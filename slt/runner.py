"""A training loop that survives kills: resumable steps, atomic checkpoints, TensorBoard, progress.

:class:`Runner` drives any ``step_fn(batch) -> stats`` over a dataset whose samples are deterministic per
index (:class:`slt.sampling.SequenceSampler`, :class:`slt.reference.flt.PairSampler`): step ``k`` always
sees samples ``k * batch_size ... (k + 1) * batch_size - 1``, so a resumed run replays exactly what an
uninterrupted one would. Checkpoints hold the model, optimizer, scheduler, step, RNG states and the
per-step history (each step's statistics plus ``seconds``, its wall time including data loading); the newest
``keep`` are kept.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from slt.distributed import DistContext, StepShardSampler
from slt.checkpoint import CheckpointManager, load_checkpoint, load_state_dict_checked, restore_rng_state, rng_state
from slt.sampling import list_collate

logger = logging.getLogger(__name__)

StepFn = Callable[[dict[str, list[Any]]], dict[str, float]]


def step_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of optimizer step ``step`` on ``rank`` (distinct for every triple)."""
    return (seed * 1_000_003 + rank) * 1_000_033 + step


COUNT_KEYS = frozenset({"skipped"})
"""Statistics that count (optimizer steps skipped): logged as integers."""


def format_stats(stats: dict[str, float]) -> str:
    """``"key value, ..."`` for a log line: counts (:data:`COUNT_KEYS`) as integers, learning rates (``lr/...``)
    to 3 significant digits (``1e-05``, not ``0.0000``), every other value to 4 decimals."""
    def shown(key: str, value: float) -> str:
        if key in COUNT_KEYS and math.isfinite(value):
            return f"{int(value)}"
        return f"{value:.3g}" if key.startswith("lr/") else f"{value:.4f}"

    return ", ".join(f"{key} {shown(key, value)}" for key, value in stats.items())


class NonFiniteError(RuntimeError):
    """Too many optimizer steps in a row were skipped for a non-finite loss or gradient."""


class ScheduleChanged(ValueError):
    """A run folder holds checkpoints of a run with other settings; resuming would mix two schedules."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped a run after a finished step; a checkpoint of that step was written.

    ``step``: the last finished step; ``checkpoint``: its file (None on ranks other than 0); ``signum``: the
    signal. Entry points report it in one line and exit with ``128 + signum``.
    """

    def __init__(self, name: str, step: int, checkpoint: Path | None, signum: int) -> None:
        super().__init__(f"{name} interrupted at step {step}; run the same command again to resume")
        self.step = step
        self.checkpoint = checkpoint
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """While active, SIGINT and SIGTERM append their number to the yielded list instead of stopping the process
    (the loop finishes its step, checkpoints and stops); a second SIGINT raises KeyboardInterrupt at once.
    Outside the main thread, where handlers cannot be installed, signals keep their default behaviour."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        logger.warning("%s received: stopping after the current step", signal.Signals(signum).name)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield received
        return
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class CheckpointClock:
    """When a periodic checkpoint is due: every ``every`` steps, or once ``minutes`` of wall time have passed since
    the last save (``minutes <= 0``: never by time). Call :meth:`saved` after each save."""

    def __init__(self, every: int, minutes: float) -> None:
        if every < 1:
            raise ValueError(f"checkpoint every {every} steps: expected at least 1")
        self.every = every
        self.minutes = minutes
        self.last = time.perf_counter()

    def due(self, step: int) -> bool:
        """Whether step ``step`` (just finished) should be checkpointed."""
        elapsed = (time.perf_counter() - self.last) / 60
        return step % self.every == 0 or 0 < self.minutes <= elapsed

    def saved(self) -> None:
        self.last = time.perf_counter()


@dataclass(frozen=True)
class RunConfig:
    """``steps`` optimizer steps of ``batch_size`` samples; a checkpoint every ``checkpoint_every`` steps, after
    ``checkpoint_minutes`` of wall time since the last one (<= 0: never by time), on SIGINT/SIGTERM and at the
    end, the newest ``keep`` kept; ``max_nonfinite`` skipped steps in a row end the run with
    :class:`NonFiniteError`. ``progress``: a tqdm bar on a terminal; without one (a redirected log) a logged
    line every ``log_every`` steps instead."""

    steps: int
    batch_size: int
    checkpoint_every: int = 50
    checkpoint_minutes: float = 10.0
    keep: int = 3
    log_every: int = 10
    max_nonfinite: int = 5
    num_workers: int = 0
    tensorboard: bool = True
    progress: bool = True


class Runner:
    """Runs ``step_fn`` for ``config.steps`` steps, checkpointing into ``out_dir/name``.

    ``model``, ``optimizer`` and the optional ``scheduler`` (stepped after every optimizer step) are saved
    and restored. ``resume=True`` continues from the newest checkpoint in ``out_dir/name`` if there is one;
    ``schedule`` (the recipe's settings, plain values) is stored with it, and a resume under other settings
    (or another batch size, seed, or -- with a scheduler -- number of steps) raises :class:`ScheduleChanged`
    naming the folder and the keys. Without a scheduler ``steps`` may grow: the run continues at the same rate.

    Randomness: a sample's content and its exploration draws are keyed by the sample itself (its index, through
    :class:`slt.sampling.SequenceSampler` and :class:`slt.policy.ClipRandom`); the global torch RNG, used by
    anything else a step draws (e.g. FLT's anchor subsets), is seeded before every step from
    ``(seed, rank, step)``. Under torchrun (``dist.world_size > 1``) each step's global batch
    ``config.batch_size`` is split with :func:`slt.distributed.step_indices`; only rank 0 logs and writes
    checkpoints.
    """

    def __init__(
        self,
        name: str,
        out_dir: str | Path,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        config: RunConfig,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        dist: DistContext = DistContext(),
        seed: int = 0,
        schedule: dict[str, Any] | None = None,
    ) -> None:
        if config.batch_size % dist.world_size:
            raise ValueError(f"batch size {config.batch_size} does not split over {dist.world_size} ranks")
        self.name = name
        self.folder = Path(out_dir) / name
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.config = config
        self.dist = dist
        self.is_main = dist.is_main
        self.seed = seed
        self.checkpoints = CheckpointManager(self.folder / "checkpoints", name, keep=config.keep)
        self.history: list[dict[str, float]] = []
        self.step = 0
        self.schedule = {**(schedule or {}), "batch_size": config.batch_size, "seed": seed}
        if scheduler is not None:  # a schedule over the run's length: changing the length changes the schedule
            self.schedule["steps"] = config.steps

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "step": self.step,
            "rng": rng_state(),
            "history": self.history,
            "schedule": self.schedule,
        }

    def resume(self) -> int:
        """Restore the newest checkpoint if any; returns the step to continue from."""
        self.checkpoints.remove_stale_temporaries()
        path = self.checkpoints.latest()
        if path is None:
            return 0
        state = load_checkpoint(path)
        saved = state.get("schedule", self.schedule)  # checkpoints written before schedules were stored
        changed = sorted(k for k in set(saved) | set(self.schedule) if saved.get(k) != self.schedule.get(k))
        if changed:
            differences = ", ".join(f"{k}: {saved.get(k)!r} there, {self.schedule.get(k)!r} now" for k in changed)
            raise ScheduleChanged(f"{self.folder} holds a run with other settings ({differences}); resuming would "
                                  f"mix two schedules: use another output folder, or the settings of that run")
        load_state_dict_checked(self.model, state["model"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        self.history = list(state["history"])
        self.step = int(state["step"])
        logger.info("%s: resumed from %s at step %d of %d", self.name, path, self.step, self.config.steps)
        return self.step

    def run(self, dataset: torch.utils.data.Dataset, step_fn: StepFn, resume: bool = True) -> list[dict[str, float]]:
        """Run to ``config.steps``; returns the per-step history (also stored in every checkpoint)."""
        cfg = self.config
        if resume:
            self.resume()
        if self.step > cfg.steps:
            logger.warning("%s: the checkpoint in %s is at step %d, past the %d steps asked for; the run is kept "
                           "as it is (use another output folder to train %d steps)", self.name,
                           self.checkpoints.directory, self.step, cfg.steps, cfg.steps)
        if self.step >= cfg.steps:
            if self.is_main:
                logger.info("%s: complete (%d steps) in %s", self.name, self.step, self.folder)
            return self.history
        share = cfg.batch_size // self.dist.world_size
        indices = StepShardSampler(self.step, cfg.steps, cfg.batch_size, self.dist)
        # The loader's own generator keeps it from drawing its base seed from the global RNG.
        loader = DataLoader(dataset, batch_size=share, sampler=indices, collate_fn=list_collate,
                            num_workers=cfg.num_workers, generator=torch.Generator().manual_seed(self.step))
        writer = self._writer()
        skipped_in_row = 0
        terminal = sys.stderr.isatty()
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.name,
                   disable=not (cfg.progress and self.is_main and terminal), dynamic_ncols=True)
        try:
            with stop_on_signals() as received:
                tick = time.perf_counter()
                clock = CheckpointClock(cfg.checkpoint_every, cfg.checkpoint_minutes)
                for batch in loader:
                    torch.manual_seed(step_seed(self.seed, self.dist.rank, self.step))
                    stats = {**step_fn(batch), **self._learning_rates()}
                    stats["seconds"] = time.perf_counter() - tick  # data loading included
                    tick = time.perf_counter()
                    skipped_in_row = skipped_in_row + 1 if stats.get("skipped", 0) else 0
                    if skipped_in_row >= cfg.max_nonfinite:
                        raise NonFiniteError(
                            f"{self.name}: {skipped_in_row} steps in a row had a non-finite loss or gradient "
                            f"(last at step {self.step}); the last good checkpoint is {self.checkpoints.latest()}"
                        )
                    if self.scheduler is not None:  # also on skipped steps: schedules follow the step count
                        self.scheduler.step()
                    self.step += 1
                    self.history.append({"step": self.step, **{k: float(v) for k, v in stats.items()}})
                    self._log(stats, writer, bar, logged=cfg.progress and terminal)
                    if self.checkpoint_due() or clock.due(self.step) or self.step == cfg.steps or received:
                        self.save()
                        clock.saved()
                    if received and self.step < cfg.steps:
                        raise TrainingInterrupted(self.name, self.step, self.checkpoints.latest() if self.is_main
                                                  else None, received[0])
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        if self.is_main:
            logger.info("%s: complete (%d steps) in %s", self.name, self.step, self.folder)
        return self.history

    def checkpoint_due(self) -> bool:
        """Whether the step just finished is checkpointed besides the clock's steps and minutes (``config.
        checkpoint_every``, ``checkpoint_minutes``): none here; subclasses add theirs (PySOT: epoch ends)."""
        return False

    def _learning_rates(self) -> dict[str, float]:
        """``lr/group<i>``: the learning rate each parameter group stepped with."""
        return {f"lr/group{i}": float(group["lr"]) for i, group in enumerate(self.optimizer.param_groups)}

    def _log(self, stats: dict[str, float], writer: Any, bar: Any, logged: bool) -> None:
        """One step's statistics to TensorBoard, and to the bar on a terminal or a log line every ``log_every``."""
        if writer is not None:
            for key, value in stats.items():
                if math.isfinite(value):
                    writer.add_scalar(f"{self.name}/{key}", value, self.step)
        shown = {k: v for k, v in stats.items() if k in ("loss", "reward", "greedy_miou", "sampled_miou", "static_miou")}
        if logged:
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()})
        elif self.is_main and (self.step % self.config.log_every == 0 or self.step == self.config.steps):
            values = " ".join(f"{k} {v:.4f}" for k, v in shown.items())
            lrs = " ".join(f"{v:.3g}" for k, v in stats.items() if k.startswith("lr/"))
            logger.info("%s step %d/%d: %s lr %s (%.2f s)", self.name, self.step, self.config.steps, values, lrs,
                        stats["seconds"])

    def save(self) -> Path | None:
        if not self.is_main:
            return None
        return self.checkpoints.save(self.step, self.state())

    def _writer(self) -> Any:
        if not (self.config.tensorboard and self.is_main):
            return None
        from torch.utils.tensorboard import SummaryWriter

        folder = self.folder / "tensorboard"
        logger.info("%s: TensorBoard scalars in %s (tensorboard --logdir %s)", self.name, folder, folder)
        # purge_step drops events a killed run wrote after its last checkpoint, so no step appears twice.
        return SummaryWriter(log_dir=str(folder), purge_step=self.step + 1 if self.step else None)
