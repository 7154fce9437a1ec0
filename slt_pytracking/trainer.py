"""The SLT training loop on the LTR trainer (docs/method.md), tracker-agnostic.

:class:`SLTTrainer` keeps everything of ``ltr.trainers.LTRTrainer`` (epochs, checkpoints and resuming,
learning-rate schedule, statistics, TensorBoard) and replaces one batch of frame-level training by one SLT
step: :func:`slt.rollout.explore` with the trainer's batched tracker (greedy + ``samples`` sampled trajectories
per clip), then :func:`slt.update.slt_update` (advantages, chunked backward through the actor, gradient
clipping, one optimizer step). The actor is a loss module only, as PyTracking's ``BaseActor``:
``actor(samples) -> (loss, stats)``.
"""

from __future__ import annotations

from typing import Any

import torch

from slt.distributed import DistContext
from slt.rollout import BatchTracker, explore
from slt.update import UpdateConfig, check_start, rollout_advantages, rollout_stats, slt_update
from slt_pytracking import require_patched_host

require_patched_host()

from ltr.trainers import LTRTrainer  # noqa: E402  (host imports after the patch check)

LOGGED_NAMES = {"reward": "reward", "greedy_miou": "mIoU", "sampled_miou": "e_mIoU", "grad_norm": "grad_norm",
                "skipped": "skipped"}
"""Names of :func:`slt.update.slt_update` statistics in the LTR logs (the official SLT trainers' names)."""


class SLTTrainer(LTRTrainer):
    """``LTRTrainer`` whose batches are SLT steps.

    Args:
        actor: the loss module (``actor(samples) -> (loss, stats)``, ``actor.net`` the trained network).
        tracker: the batched exploration tracker (:class:`slt.rollout.BatchTracker`) around ``actor.net``.
        loaders, optimizer, settings, lr_scheduler: as ``LTRTrainer`` (``settings.device``,
            ``settings.env.workspace_dir`` / ``tensorboard_dir``, ``settings.project_path``).
        update: chunk size, chunk normalisation, gradient clipping, return and baseline of the SLT update.
        samples: S, sampled trajectories per clip (``baseline='mean_of_samples'`` needs S >= 2).
        dist: this process's rank under ``torchrun`` (:func:`slt.distributed.init_from_env`): every rank
            explores its share of each step's clips, :func:`slt.update.slt_update` averages the gradients, and
            only rank 0 writes checkpoints and TensorBoard scalars.

    Exploration randomness is keyed by clip (:meth:`slt.policy.ClipRandom.for_batch` on the batch's ``key``
    entries, ``(seed, epoch, index)``), so a resumed run explores as the uninterrupted one and the ranks of a
    torchrun job explore what one process would. Exploration and the update both run in eval mode (BatchNorm
    statistics and dropout off), as the official trainers do; loaders with ``training=False`` only explore and
    log the rollout statistics.
    """

    def __init__(self, actor: Any, tracker: BatchTracker, loaders: list, optimizer: torch.optim.Optimizer,
                 settings: Any, lr_scheduler: Any = None, update: UpdateConfig = UpdateConfig(), samples: int = 1,
                 dist: DistContext = DistContext()) -> None:
        super().__init__(actor, loaders, optimizer, settings, lr_scheduler)
        self.tracker = tracker
        self.update = update
        self.samples = samples
        self.dist = dist
        self._started = False  # the start-up check (slt.update.check_start) runs on this process's first step

    def cycle_dataset(self, loader: Any) -> None:
        """One epoch of ``loader``: per batch ``actor.eval()``, explore, update (when training), log."""
        self.actor.train(loader.training)
        torch.set_grad_enabled(loader.training)
        self._init_timing()
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(self.epoch)
        for i, data in enumerate(loader, 1):
            self.actor.eval()
            rollout = explore(self.tracker, data, samples=self.samples)
            if loader.training:
                stats = slt_update(self.actor, self.actor.net.parameters(), self.optimizer, rollout, self.update,
                                   device=self.device)
                if not self._started and self.dist.is_main:
                    check_start(stats, "the settings' pretrained weights (SLT_TRANST_WEIGHTS / SLT_TRDIMP_WEIGHTS or "
                                       "local.py)")
                self._started = True
            else:
                stats = rollout_stats(rollout, rollout_advantages(rollout, self.update))
            logged = {LOGGED_NAMES.get(name, name): value for name, value in stats.items()}
            batch_size = len(data["search_images"]) * len(data["search_images"][0])
            self._update_stats(logged, batch_size, loader)
            self._print_stats(i, loader, batch_size)

    def save_checkpoint(self) -> None:
        """The host's checkpoint, written by rank 0 only."""
        if self.dist.is_main:
            super().save_checkpoint()

    def _write_tensorboard(self) -> None:
        if self.dist.is_main:
            super()._write_tensorboard()
