"""The SLT loop on OSTrack's ``LTRTrainer`` (``lib/train/trainers/ltr_trainer.py``).

:class:`SLTTrainer` keeps the host trainer's epochs, learning-rate schedule, statistics, log file and
TensorBoard, and replaces one batch of frame-level training by one SLT step: the trainer's tracker explores
(:func:`slt.rollout.explore`, greedy + S sampled trajectories per clip), then :func:`slt.update.slt_update`
(advantages, chunked backward through the actor, clipping, one optimizer step). The actor never explores.

Checkpoints (all loadable with ``torch.load(weights_only=True)``: tensors, numbers, strings only -- the host's own
pickle ``stats`` and ``settings`` objects), in ``<save_dir>/checkpoints/<project_path>/``:

* ``<net_type>_step_%08d.pth``: the resumable state (weights, optimizer, LR schedule, RNG states, epoch and step)
  after step ``%08d``, written every :attr:`StepCheckpoints.every` steps, after :attr:`StepCheckpoints.minutes`
  of wall time, at every epoch end and on SIGINT/SIGTERM (atomically, :mod:`slt.checkpoint`); the newest
  :attr:`StepCheckpoints.keep` are kept. A new run of the same command resumes from the newest, inside its epoch.
* ``<net_type>_ep%04d.pth.tar``: the weights under ``'net'`` at each epoch end, the host's name and layout, so the
  host's ``lib/test/tracker/ostrack.py`` (``tracking/test.py``, ``TEST.EPOCH``) loads them. All are kept.

SIGINT or SIGTERM (:func:`slt.runner.stop_on_signals`) lets the current step finish, writes its checkpoint and
raises :class:`slt.runner.TrainingInterrupted`; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from slt.checkpoint import CheckpointManager, load_checkpoint, load_state_dict_checked, restore_rng_state, rng_state
from slt.checkpoint import save_checkpoint
from slt.distributed import DistContext, StepShardSampler
from slt.rollout import explore
from slt.runner import CheckpointClock, TrainingInterrupted, stop_on_signals
from slt.update import UpdateConfig, check_start, rollout_advantages, rollout_stats, slt_update
from slt_ostrack import host_root
from slt_ostrack.compat import bare

host_root()

from lib.train.trainers import LTRTrainer  # noqa: E402  (host imports after the shims)

logger = logging.getLogger(__name__)
LOGGED = ("Loss/total", "reward", "greedy_miou", "sampled_miou")
"""Statistics of the per-step log line (every statistic goes to TensorBoard)."""


@dataclass(frozen=True)
class StepCheckpoints:
    """Resumable checkpoints inside epochs: every ``every`` steps or ``minutes`` of wall time (``<= 0``: never
    by time) since the last one, whichever comes first, the newest ``keep`` files kept."""

    every: int = 50
    minutes: float = 10.0
    keep: int = 3


class SLTTrainer(LTRTrainer):
    """``LTRTrainer`` whose batches are SLT steps, resumable at any step.

    Args:
        actor: :class:`slt_ostrack.actor.SLTOSTrackActor` (the loss module).
        loaders, optimizer, settings, lr_scheduler: as the host ``LTRTrainer`` (``settings.project_path``,
            ``save_dir``, ``env.tensorboard_dir``, ``log_file``, ``local_rank``, ``print_interval``); each
            loader's sampler is a :class:`slt.distributed.StepShardSampler` over one epoch's steps (the trainer
            starts it mid-epoch on a resume). The LR scheduler steps once per epoch, as the host's.
        tracker: :class:`slt_ostrack.tracker.SLTOSTrack` around the actor's network; the trainer owns it.
        update: the SLT update's chunking and clipping; samples: S sampled trajectories per clip.
        dist: this rank under torchrun (:func:`slt.distributed.init_from_env`); rank 0 writes checkpoints.
        checkpoints: when step checkpoints are written and how many are kept.

    Subclasses for other trees of this layout set :attr:`net_type` (the prefix of the checkpoint files, the
    name the host's tracker loads) and :attr:`run_name` (the interrupt line).
    """

    net_type: str = "OSTrack"
    run_name: str = "SLT-OSTrack"

    def __init__(self, actor: Any, loaders: list, optimizer: torch.optim.Optimizer, settings: Any,
                 lr_scheduler: Any, tracker: Any, update: UpdateConfig = UpdateConfig(), samples: int = 1,
                 dist: DistContext = DistContext(), checkpoints: StepCheckpoints = StepCheckpoints()) -> None:
        super().__init__(actor, loaders, optimizer, settings, lr_scheduler)
        for loader in loaders:
            if not isinstance(loader.sampler, StepShardSampler):
                raise TypeError(f"loader {loader.name!r}: its sampler is a {type(loader.sampler).__name__}; the SLT "
                                f"trainer needs a slt.distributed.StepShardSampler over one epoch's steps")
        self.tracker = tracker
        self.update = update
        self.samples = samples
        self.dist = dist
        self.checkpoints = checkpoints
        self.steps_per_epoch = loaders[0].sampler.last_step - loaders[0].sampler.first_step
        self.step = 0
        self.epoch_step = 0  # steps of the current epoch done before this process started (a resume)
        self.total_steps = 0
        self.received: list[int] = []
        self.clock = CheckpointClock(checkpoints.every, checkpoints.minutes)
        self.checked_start = False
        self.own_writers: dict[str, Any] = {}
        self.manager = CheckpointManager(self._checkpoint_dir_of_project(), f"{self.net_type}_step",
                                         keep=checkpoints.keep)

    def train(self, max_epochs: int, load_latest: bool = True, fail_safe: bool = False) -> None:
        """Train to ``max_epochs`` epochs, resuming from the newest step checkpoint when ``load_latest``.

        Raises :class:`slt.runner.TrainingInterrupted` after SIGINT/SIGTERM (the step's checkpoint written).
        ``fail_safe`` (the host's restart-after-a-crash loop) is not offered: rerunning the command resumes.
        """
        if fail_safe:
            raise ValueError("fail_safe=True is not supported by the SLT trainer: rerun the command, it resumes")
        self.total_steps = max_epochs * self.steps_per_epoch
        if load_latest:
            self.load_checkpoint()
        with stop_on_signals() as received:
            self.received = received
            self.clock.saved()
            for epoch in range(self.epoch + 1, max_epochs + 1):
                self.epoch = epoch
                self.train_epoch()
                self.epoch_step = 0
                if self.lr_scheduler is not None:
                    self.lr_scheduler.step()
                self.save_checkpoint()
                if received and epoch < max_epochs:
                    raise self._interrupted()
        if self.dist.is_main:
            logger.info("%s: finished %d epochs (%d steps) in %s", self.run_name, max_epochs, self.step,
                        self._checkpoint_dir_of_project())

    def cycle_dataset(self, loader: Any) -> None:
        """One epoch of ``loader`` (from the resumed step on): per batch explore (eval mode), update (when
        training), log; step checkpoints when due or on a signal."""
        self._init_timing()
        loader.dataset.set_epoch(self.epoch)
        sampler = loader.sampler
        sampler.start_at(sampler.first_step + self.epoch_step)
        try:
            for i, data in enumerate(loader, 1):
                self.data_read_done_time = self.data_to_gpu_time = time.time()
                self.actor.eval()  # exploration and update both in eval mode (dropout off), as official SLT
                rollout = explore(self.tracker, data, samples=self.samples)  # draws keyed by each clip's key
                if loader.training:
                    torch.set_grad_enabled(True)
                    stats = slt_update(self.actor, self.actor.net.parameters(), self.optimizer, rollout,
                                       self.update, device=self.device)
                    self.step += 1
                else:
                    stats = rollout_stats(rollout, rollout_advantages(rollout, self.update))
                if not self.checked_start and self.dist.is_main:
                    check_start(stats, "INIT_CHECKPOINT of the SLT config")
                self.checked_start = True
                self._update_stats(stats, len(data["search_images"]), loader)
                self._print_stats(i, loader, len(data["search_images"]))
                if not loader.training:
                    continue
                done = self.epoch_step + i
                self._log_step(stats, loader, done)
                if done < self.steps_per_epoch and (self.received or self.clock.due(self.step)):
                    self._save_state(done)
                    if self.received:
                        raise self._interrupted()
        finally:
            sampler.start_at(sampler.first_step)

    def _log_step(self, stats: dict[str, float], loader: Any, done: int) -> None:
        """Step ``self.step``'s statistics and learning rates to TensorBoard (``step/...``, every step) and the
        log (every ``settings.print_interval`` steps and at the epoch's end); rank 0 only."""
        if not self.dist.is_main:
            return
        rates = {f"lr/group{i}": float(group["lr"]) for i, group in enumerate(self.optimizer.param_groups)}
        writer = self._step_writer(loader.name)
        for key, value in {**stats, **rates}.items():
            if math.isfinite(value):
                writer.add_scalar(f"step/{key}", value, self.step)
        if self.step % max(int(self.settings.print_interval), 1) == 0 or done == self.steps_per_epoch:
            shown = " ".join(f"{k} {stats[k]:.4f}" for k in LOGGED if k in stats)
            logger.info("step %d/%d (epoch %d, %d/%d): %s lr %s", self.step, self.total_steps, self.epoch, done,
                        self.steps_per_epoch, shown, " ".join(f"{v:.3g}" for v in rates.values()))

    def _step_writer(self, name: str) -> Any:
        """The TensorBoard writer of loader ``name``: the host's (``lib.train.admin.TensorboardWriter``), or, for
        trees whose ``LTRTrainer`` keeps none (ARTrack comments it out), SLT's own in the folder the host would use,
        ``<env.tensorboard_dir>/<project_path>/<name>``."""
        host = getattr(self, "tensorboard_writer", None)
        if host is not None:
            return host.writer[name]
        if name not in self.own_writers:
            from torch.utils.tensorboard import SummaryWriter

            folder = os.path.join(self.settings.env.tensorboard_dir, self.settings.project_path, name)
            self.own_writers[name] = SummaryWriter(folder)
        return self.own_writers[name]

    def _interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(self.run_name, self.step, self.manager.latest() if self.dist.is_main else None,
                                   self.received[0])

    def _checkpoint_dir_of_project(self) -> str:
        return os.path.join(self._checkpoint_dir, self.settings.project_path)

    def _save_state(self, epoch_step: int) -> Path | None:
        """The resumable state after ``epoch_step`` steps of epoch ``self.epoch`` (rank 0 only)."""
        self.clock.saved()
        if not self.dist.is_main:
            return None
        done = epoch_step == self.steps_per_epoch
        state = {"epoch": self.epoch if done else self.epoch - 1, "epoch_step": 0 if done else epoch_step,
                 "step": self.step, "net_type": self.net_type, "net": bare(self.actor.net).state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler is not None else {},
                 "rng": rng_state()}
        path = self.manager.save(self.step, state)
        logger.info("saved %s (step %d, epoch %d, %d/%d)", path, self.step, self.epoch, epoch_step,
                    self.steps_per_epoch)
        return path

    def save_checkpoint(self) -> None:
        """Epoch end (after the LR step): the resumable step checkpoint, then ``<net_type>_ep%04d.pth.tar``
        (``'net'``, ``'epoch'``, ``'net_type'``) for the host's tracker; rank 0 only; atomic renames."""
        self._save_state(self.steps_per_epoch)
        if not self.dist.is_main:
            return
        state = {"epoch": self.epoch, "net_type": self.net_type, "net": bare(self.actor.net).state_dict()}
        name = f"{self.net_type}_ep{self.epoch:04d}.pth.tar"
        path = save_checkpoint(os.path.join(self._checkpoint_dir_of_project(), name), state)
        logger.info("saved %s", path)

    def load_checkpoint(self, checkpoint: Any = None, fields: Any = None, ignore_fields: Any = None,
                        load_constructor: bool = False) -> bool:
        """Resume from the newest ``<net_type>_step_*.pth`` of this project (``weights_only=True``); False if none.
        The host's other ways of calling this (an epoch number, a path) are not offered."""
        if checkpoint is not None or fields is not None or ignore_fields is not None or load_constructor:
            raise ValueError("SLTTrainer.load_checkpoint resumes from the newest step checkpoint only")
        self.manager.remove_stale_temporaries()
        path = self.manager.latest()
        if path is None:
            return False
        state = load_checkpoint(path)
        load_state_dict_checked(bare(self.actor.net), state["net"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state.get("lr_scheduler"):
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        restore_rng_state(state["rng"])
        self.epoch, self.epoch_step, self.step = int(state["epoch"]), int(state["epoch_step"]), int(state["step"])
        if self.epoch_step >= self.steps_per_epoch:
            raise ValueError(f"{path}: {self.epoch_step} steps into an epoch, but an epoch now has "
                             f"{self.steps_per_epoch}: resume with the SAMPLES_PER_EPOCH and NUM_SEQ of that run")
        logger.info("%s: resumed from %s at step %d (epoch %d, %d/%d done)", self.run_name, path, self.step,
                    self.epoch + 1, self.epoch_step, self.steps_per_epoch)
        return True

    def _write_tensorboard(self) -> None:
        if self.dist.is_main:
            super()._write_tensorboard()
