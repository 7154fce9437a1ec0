"""The SLT training loop on the LTR trainer (SLT_REFERENCE 4.1), tracker-agnostic.

:class:`SLTTrainer` keeps everything of ``ltr.trainers.LTRTrainer`` (epochs, checkpoints and resuming,
learning-rate schedule, statistics, TensorBoard) and replaces one batch of frame-level training by one SLT
step: explore (greedy + sampled trajectories), then :func:`slt.update.slt_update` (rewards, chunked backward,
gradient clipping, one optimizer step). The actor is any ``BaseActor`` with ``explore(data, generator) ->
slt.rollout.Rollout`` and ``actor(samples) -> (loss, stats)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from slt import scst
from slt.distributed import DistContext
from slt.update import UpdateConfig, rollout_stats, slt_update
from slt_pytracking import require_patched_host

require_patched_host()

from ltr.trainers import LTRTrainer  # noqa: E402  (host imports after the patch check)

LOGGED_NAMES = {"reward": "reward", "greedy_miou": "mIoU", "sampled_miou": "e_mIoU", "grad_norm": "grad_norm",
                "skipped": "skipped"}
"""Names of :func:`slt.update.slt_update` statistics in the LTR logs (the official SLT trainers' names)."""


class SLTTrainer(LTRTrainer):
    """``LTRTrainer`` whose batches are SLT steps.

    Args:
        actor, loaders, optimizer, settings, lr_scheduler: as ``LTRTrainer`` (``settings.device``,
            ``settings.env.workspace_dir`` / ``tensorboard_dir``, ``settings.project_path``).
        update: chunk size, chunk normalisation, gradient clipping of the SLT update.
        seed: base seed of the exploration sampling; batch ``i`` of epoch ``e`` samples with a generator seeded
            from ``(seed, rank, e, i)``, so a resumed run explores as the uninterrupted one.
        dist: this process's rank under ``torchrun`` (:func:`slt.distributed.init_from_env`): every rank
            explores its own clips, :func:`slt.update.slt_update` averages the gradients, and only rank 0
            writes checkpoints and TensorBoard scalars.

    Exploration and the update both run in eval mode (BatchNorm statistics and dropout off), as the official
    trainers do; loaders with ``training=False`` only explore and log the rollout statistics.
    """

    def __init__(self, actor: Any, loaders: list, optimizer: torch.optim.Optimizer, settings: Any,
                 lr_scheduler: Any = None, update: UpdateConfig = UpdateConfig(), seed: int = 0,
                 dist: DistContext = DistContext()) -> None:
        super().__init__(actor, loaders, optimizer, settings, lr_scheduler)
        self.update = update
        self.seed = seed
        self.dist = dist

    def generator(self, iteration: int) -> torch.Generator:
        """The exploration generator of batch ``iteration`` of the current epoch, on the training device."""
        entropy = [self.seed, self.dist.rank, self.epoch, iteration]
        state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
        return torch.Generator(device=self.device).manual_seed(int(state))

    def cycle_dataset(self, loader: Any) -> None:
        """One epoch of ``loader``: per batch ``actor.eval()``, explore, update (when training), log."""
        self.actor.train(loader.training)
        torch.set_grad_enabled(loader.training)
        self._init_timing()
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(self.epoch)
        for i, data in enumerate(loader, 1):
            self.actor.eval()
            rollout = self.actor.explore(data, self.generator(i))
            if loader.training:
                stats = slt_update(self.actor, self.actor.net.parameters(), self.optimizer, rollout, self.update,
                                   device=self.device)
            else:
                rewards = scst.advantages(rollout.sampled_iou, rollout.greedy_iou, rollout.lengths,
                                          return_fn=self.update.return_fn, baseline=self.update.baseline)
                stats = rollout_stats(rollout, rewards)
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
