"""A training loop that survives kills: resumable steps, atomic checkpoints, TensorBoard, progress.

:class:`Runner` drives any ``step_fn(batch) -> stats`` over a dataset whose samples are deterministic per
index (:class:`slt.sampling.SequenceSampler`, :class:`slt.reference.flt.PairSampler`): step ``k`` always
sees samples ``k * batch_size ... (k + 1) * batch_size - 1``, so a resumed run replays exactly what an
uninterrupted one would. Checkpoints hold the model, optimizer, scheduler, step, RNG states and the
per-step history (each step's statistics plus ``seconds``, its wall time including data loading); the newest
``keep`` are kept.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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


class NonFiniteError(RuntimeError):
    """Too many optimizer steps in a row were skipped for a non-finite loss or gradient."""


@dataclass(frozen=True)
class RunConfig:
    """``steps`` optimizer steps of ``batch_size`` samples; a checkpoint every ``checkpoint_every`` steps and
    at the end; ``max_nonfinite`` skipped steps in a row end the run with :class:`NonFiniteError`."""

    steps: int
    batch_size: int
    checkpoint_every: int = 50
    keep: int = 3
    max_nonfinite: int = 5
    num_workers: int = 0
    tensorboard: bool = True
    progress: bool = True


class Runner:
    """Runs ``step_fn`` for ``config.steps`` steps, checkpointing into ``out_dir/name``.

    ``model``, ``optimizer`` and the optional ``scheduler`` (stepped after every optimizer step) are saved
    and restored. ``resume=True`` continues from the newest checkpoint in ``out_dir/name`` if there is one.

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

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "step": self.step,
            "rng": rng_state(),
            "history": self.history,
        }

    def resume(self) -> int:
        """Restore the newest checkpoint if any; returns the step to continue from."""
        self.checkpoints.remove_stale_temporaries()
        path = self.checkpoints.latest()
        if path is None:
            return 0
        state = load_checkpoint(path)
        load_state_dict_checked(self.model, state["model"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        self.history = list(state["history"])
        self.step = int(state["step"])
        logger.info("resumed %s from %s at step %d", self.name, path, self.step)
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
            return self.history
        share = cfg.batch_size // self.dist.world_size
        indices = StepShardSampler(self.step, cfg.steps, cfg.batch_size, self.dist)
        # The loader's own generator keeps it from drawing its base seed from the global RNG.
        loader = DataLoader(dataset, batch_size=share, sampler=indices, collate_fn=list_collate,
                            num_workers=cfg.num_workers, generator=torch.Generator().manual_seed(self.step))
        writer = self._writer()
        skipped_in_row = 0
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.name, disable=not (cfg.progress and self.is_main),
                   dynamic_ncols=True)
        try:
            tick = time.perf_counter()
            for batch in loader:
                torch.manual_seed(step_seed(self.seed, self.dist.rank, self.step))
                stats = step_fn(batch)
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
                self.history.append({"step": float(self.step), **{k: float(v) for k, v in stats.items()}})
                if writer is not None:
                    for key, value in stats.items():
                        if math.isfinite(value):
                            writer.add_scalar(f"{self.name}/{key}", value, self.step)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items() if k in ("loss", "reward", "greedy_miou")})
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        return self.history

    def save(self) -> Path | None:
        if not self.is_main:
            return None
        return self.checkpoints.save(self.step, self.state())

    def _writer(self) -> Any:
        if not (self.config.tensorboard and self.is_main):
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.folder / "tensorboard"))
