"""The SLT loop on OSTrack's ``LTRTrainer`` (``lib/train/trainers/ltr_trainer.py``).

:class:`SLTTrainer` keeps the host trainer's epochs, learning-rate schedule, statistics, log file and
TensorBoard, and replaces one batch of frame-level training by one SLT step: the trainer's tracker explores
(:func:`slt.rollout.explore`, greedy + S sampled trajectories per clip), then :func:`slt.update.slt_update`
(advantages, chunked backward through the actor, clipping, one optimizer step). The actor never explores.

Checkpoints are loadable with ``torch.load(weights_only=True)`` (tensors, numbers, strings only: the host's
own pickle ``stats`` and ``settings`` objects) and keep the host's names,
``<save_dir>/checkpoints/<project_path>/OSTrack_ep%04d.pth.tar`` with the weights under ``'net'``, so the
host's ``lib/test/tracker/ostrack.py`` loads them.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from typing import Any

import torch

from slt.distributed import DistContext
from slt.checkpoint import save_checkpoint
from slt.rollout import explore
from slt.update import UpdateConfig, check_start, rollout_advantages, rollout_stats, slt_update
from slt_ostrack import host_root
from slt_ostrack.actor import bare

host_root()

from lib.train.trainers import LTRTrainer  # noqa: E402  (host imports after the shims)

logger = logging.getLogger(__name__)
NET_TYPE = "OSTrack"


class SLTTrainer(LTRTrainer):
    """``LTRTrainer`` whose batches are SLT steps.

    Args:
        actor: :class:`slt_ostrack.actor.SLTOSTrackActor` (the loss module).
        loaders, optimizer, settings, lr_scheduler: as the host ``LTRTrainer`` (``settings.project_path``,
            ``save_dir``, ``env.tensorboard_dir``, ``log_file``, ``local_rank``, ``print_interval``).
        tracker: :class:`slt_ostrack.tracker.SLTOSTrack` around the actor's network; the trainer owns it.
        update: the SLT update's chunking and clipping; samples: S sampled trajectories per clip.
        dist: this rank under torchrun (:func:`slt.distributed.init_from_env`); rank 0 writes checkpoints.

    ``net_type``: the host's checkpoint prefix (``<net_type>_ep%04d.pth.tar``); subclasses for other trees set theirs.
    """

    net_type = NET_TYPE

    def __init__(self, actor: Any, loaders: list, optimizer: torch.optim.Optimizer, settings: Any,
                 lr_scheduler: Any, tracker: Any, update: UpdateConfig = UpdateConfig(), samples: int = 1,
                 dist: DistContext = DistContext()) -> None:
        super().__init__(actor, loaders, optimizer, settings, lr_scheduler)
        self.tracker = tracker
        self.update = update
        self.samples = samples
        self.dist = dist
        self.checked_start = False

    def cycle_dataset(self, loader: Any) -> None:
        """One epoch of ``loader``: per batch explore (eval mode), update (when training), log."""
        self._init_timing()
        loader.dataset.set_epoch(self.epoch)
        for i, data in enumerate(loader, 1):
            self.data_read_done_time = self.data_to_gpu_time = time.time()
            self.actor.eval()  # exploration and update both in eval mode (dropout off), as official SLT
            rollout = explore(self.tracker, data, samples=self.samples)  # draws keyed by each clip's key
            if loader.training:
                torch.set_grad_enabled(True)
                stats = slt_update(self.actor, self.actor.net.parameters(), self.optimizer, rollout, self.update,
                                   device=self.device)
            else:
                stats = rollout_stats(rollout, rollout_advantages(rollout, self.update))
            if not self.checked_start and self.dist.is_main:
                check_start(stats, "INIT_CHECKPOINT of the SLT config")
            self.checked_start = True
            self._update_stats(stats, len(data["search_images"]), loader)
            self._print_stats(i, loader, len(data["search_images"]))

    def _checkpoint_dir_of_project(self) -> str:
        return os.path.join(self._checkpoint_dir, self.settings.project_path)

    def save_checkpoint(self) -> None:
        """Write ``OSTrack_ep%04d.pth.tar`` (weights-only loadable); rank 0 only; atomic rename."""
        if not self.dist.is_main:
            return
        directory = self._checkpoint_dir_of_project()
        state = {"epoch": self.epoch, "net_type": self.net_type, "net": bare(self.actor.net).state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler is not None else {}}
        path = save_checkpoint(os.path.join(directory, f"{self.net_type}_ep{self.epoch:04d}.pth.tar"), state)
        logger.info("saved %s", path)

    def load_checkpoint(self, checkpoint: Any = None, fields: Any = None, ignore_fields: Any = None,
                        load_constructor: bool = False) -> bool:
        """Resume from the latest ``OSTrack_ep*.pth.tar`` of this project (``weights_only=True``); False if none."""
        found = sorted(glob.glob(os.path.join(self._checkpoint_dir_of_project(), f"{self.net_type}_ep*.pth.tar")))
        if not found:
            return False
        state = torch.load(found[-1], map_location="cpu", weights_only=True)
        bare(self.actor.net).load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state.get("lr_scheduler"):
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.epoch = int(state["epoch"])
        logger.info("resumed from %s (epoch %d)", found[-1], self.epoch)
        return True

    def _write_tensorboard(self) -> None:
        if self.dist.is_main:
            super()._write_tensorboard()
