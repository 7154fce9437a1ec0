"""The SLT training loop on the LTR trainer (docs/method.md), tracker-agnostic.

:class:`SLTTrainer` keeps everything of ``ltr.trainers.LTRTrainer`` (epochs, learning-rate schedule, statistics,
printed lines, the host's checkpoint contents) and replaces one batch of frame-level training by one SLT
step: :func:`slt.rollout.explore` with the trainer's batched tracker (greedy + ``samples`` sampled trajectories
per clip), then :func:`slt.update.slt_update` (advantages, chunked backward through the actor, gradient
clipping, one optimizer step). The actor is a loss module only, as PyTracking's ``BaseActor``:
``actor(samples) -> (loss, stats)``.

What it adds to the host's loop, as :class:`slt.runner.Runner` does for the reference loop:

* checkpoints inside an epoch too (every ``settings.checkpoint_every`` steps or ``checkpoint_minutes`` of wall
  time), written atomically, and one retention rule over both kinds (:func:`checkpoint_order`);
* SIGINT / SIGTERM finish the current step, write a checkpoint and stop with
  :class:`slt.runner.TrainingInterrupted`; a rerun resumes at the next step, saying where from, and a finished
  run's rerun says it is complete;
* TensorBoard scalars per step (``<tensorboard_dir>/<project_path>/train_steps``, learning rate of each parameter
  group included) next to the host's epoch means (``.../train``), none duplicated after a resume.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist

from slt.checkpoint import keep_newest, restore_rng_state, rng_state, save_checkpoint
from slt.distributed import DistContext
from slt.rollout import BatchTracker, explore
from slt.runner import CheckpointClock, ScheduleChanged, TrainingInterrupted, stop_on_signals
from slt.update import UpdateConfig, check_start, rollout_advantages, rollout_stats, slt_update
from slt_pytracking import require_patched_host

require_patched_host()

from ltr.admin import multigpu  # noqa: E402  (host imports after the patch check)
from ltr.trainers import LTRTrainer  # noqa: E402

logger = logging.getLogger(__name__)

LOGGED_NAMES = {"reward": "reward", "greedy_miou": "mIoU", "sampled_miou": "e_mIoU", "grad_norm": "grad_norm",
                "skipped": "skipped"}
"""Names of :func:`slt.update.slt_update` statistics in the LTR logs (the official SLT trainers' names)."""

CHECKPOINT_DEFAULTS = {"checkpoint_every": 50, "checkpoint_minutes": 10.0, "keep_checkpoints": 3}
"""``settings`` attributes of checkpointing and their defaults: a checkpoint every ``checkpoint_every`` steps or
``checkpoint_minutes`` of wall time (<= 0: never by time) besides every epoch's end; the newest
``keep_checkpoints`` checkpoints kept (None: all)."""

SCHEDULE_KEYS = ("seed", "num_seq", "samples_per_epoch", "num_frames", "samples", "lr", "backbone_lr", "learning_rates",
                 "weight_decay", "lr_step", "lr_gamma")
"""``settings`` attributes a resumed run must share with the checkpoint's (else :class:`slt.runner.ScheduleChanged`):
what each step reads and the learning-rate schedule. ``num_epochs`` may grow (the step schedule does not
depend on it)."""

_CHECKPOINT_NAME = re.compile(r"^(?P<net>.+)_ep(?P<epoch>\d{4})(?:_step(?P<step>\d{6}))?\.pth\.tar$")


def checkpoint_order(path: Path) -> tuple[int, float] | None:
    """Sort key of an SLT LTR checkpoint file, None for other files.

    ``<Net>_ep<EEEE>.pth.tar`` (the host's name: epoch E finished) -> ``(E, inf)``;
    ``<Net>_ep<EEEE>_step<SSSSSS>.pth.tar`` (S steps of epoch E done) -> ``(E, S)``. Retention: once epoch E
    ends, its step checkpoints are deleted (the epoch's checkpoint supersedes them; so the names also sort in
    this order, as the host's and :func:`slt_pytracking.ltr_weights.latest_checkpoint` glob them); of the rest,
    the newest ``keep_checkpoints`` are kept.
    """
    match = _CHECKPOINT_NAME.match(path.name)
    if match is None:
        return None
    step = match.group("step")
    return int(match.group("epoch")), math.inf if step is None else int(step)


class SLTTrainer(LTRTrainer):
    """``LTRTrainer`` whose batches are SLT steps.

    Args:
        actor: the loss module (``actor(samples) -> (loss, stats)``, ``actor.net`` the trained network).
        tracker: the batched exploration tracker (:class:`slt.rollout.BatchTracker`) around ``actor.net``.
        loaders, optimizer, settings, lr_scheduler: as ``LTRTrainer`` (``settings.device``,
            ``settings.env.workspace_dir`` / ``tensorboard_dir``, ``settings.project_path``; checkpointing from
            the attributes of :data:`CHECKPOINT_DEFAULTS`). The training loader's ``sampler`` is a
            :class:`slt.distributed.StepShardSampler` (a resume inside an epoch skips its first steps' indices).
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
        options = {name: getattr(settings, name, default) for name, default in CHECKPOINT_DEFAULTS.items()}
        if int(options["checkpoint_every"]) < 1:
            raise ValueError(f"settings.checkpoint_every must be >= 1, got {options['checkpoint_every']}")
        self.clock = CheckpointClock(int(options["checkpoint_every"]), float(options["checkpoint_minutes"]))
        self.keep_checkpoints = options["keep_checkpoints"]
        self.slt_progress: dict[str, Any] = {}  # restored by the host's load_checkpoint (a checkpoint field)
        self.epoch_step = 0  # steps of epoch self.epoch + 1 done (resumed from a step checkpoint)
        self._started = False  # the start-up check (slt.update.check_start) runs on this process's first step
        self._received: list[int] = []
        self._step_writer: Any = None

    # -- the loop ---------------------------------------------------------------------------------------------

    def train(self, max_epochs: int, load_latest: bool = False, fail_safe: bool = True) -> None:
        """Train to epoch ``max_epochs``, resuming from the newest checkpoint when ``load_latest``.

        SIGINT / SIGTERM: the current step finishes, a checkpoint is written and
        :class:`slt.runner.TrainingInterrupted` is raised (the entry point reports it in one line).
        ``fail_safe``: an exception other than an interrupt restarts from the newest checkpoint, up to 10 times
        (the host's behaviour), then propagates.
        """
        if load_latest:
            self.load_checkpoint()
        if self.epoch >= max_epochs:
            logger.info("%s: complete (%d epochs) in %s", self.settings.project_path, self.epoch, self._run_folder())
            return
        self._open_writers()
        tries = 10 if fail_safe else 1
        try:
            with stop_on_signals() as received:
                self._received = received
                self.clock.saved()
                for attempt in range(1, tries + 1):
                    try:
                        self._train_epochs(max_epochs)
                        break
                    except TrainingInterrupted:
                        raise
                    except Exception:
                        if attempt == tries:
                            raise
                        logger.exception("training crashed in epoch %d; restarting from the newest checkpoint "
                                         "(attempt %d of %d)", self.epoch, attempt + 1, tries)
                        self.load_checkpoint()
        finally:
            self._close_writers()
        logger.info("%s: complete (%d epochs) in %s", self.settings.project_path, self.epoch, self._run_folder())

    def _train_epochs(self, max_epochs: int) -> None:
        for epoch in range(self.epoch + 1, max_epochs + 1):
            self.epoch = epoch
            self.train_epoch()
            if self.lr_scheduler is not None:
                self.lr_scheduler.step()
            self.epoch_step = 0
            if self._checkpoint_dir:
                self.save_checkpoint()
            signum = self._stop_signal()
            if signum and epoch < max_epochs:
                raise TrainingInterrupted(self.settings.project_path, self._steps_done(), self._latest(), signum)

    def cycle_dataset(self, loader: Any) -> None:
        """One epoch of ``loader``: per batch ``actor.eval()``, explore, update (when training), log; on a
        training loader also per-step TensorBoard scalars, checkpoints when due and the stop on a signal."""
        self.actor.train(loader.training)
        torch.set_grad_enabled(loader.training)
        self._init_timing()
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(self.epoch)
        skip = self.epoch_step if loader.training else 0
        steps = len(loader)
        sampler, indices = loader.sampler, None
        if skip:  # resumed inside this epoch: read only the steps not done (the indices fix each step's clips)
            indices = sampler.indices
            sampler.indices = indices[skip * loader.batch_size:]
            logger.info("epoch %d: continuing at step %d of %d", self.epoch, skip + 1, steps)
        try:
            for i, data in enumerate(loader, skip + 1):
                stats = self._step(i, data, loader, steps)
                if not loader.training:
                    continue
                self.epoch_step = i
                step = (self.epoch - 1) * steps + i
                self._write_step(step, stats)
                signum = self._stop_signal()
                if i < steps and (self.clock.due(i) or signum) and self._checkpoint_dir:
                    self.save_checkpoint()
                if i < steps and signum:
                    raise TrainingInterrupted(self.settings.project_path, step, self._latest(), signum)
        finally:
            if indices is not None:
                sampler.indices = indices

    def _step(self, i: int, data: dict[str, Any], loader: Any, steps: int) -> dict[str, float]:
        """Step ``i`` (1-based) of ``steps`` in this epoch of ``loader``: explore, update, log; returns the
        logged statistics (LTR names)."""
        self.actor.eval()
        rollout = explore(self.tracker, data, samples=self.samples)
        if loader.training:
            stats = slt_update(self.actor, self.actor.net.parameters(), self.optimizer, rollout, self.update,
                               device=self.device)
            if not self._started and self.dist.is_main:
                check_start(stats, "the settings' pretrained weights (SLT_TRANST_WEIGHTS / SLT_TRDIMP_WEIGHTS or "
                                   "local.py)")
            self._started = True
            stats.update({f"lr/group{k}": float(group["lr"]) for k, group in enumerate(self.optimizer.param_groups)})
        else:
            stats = rollout_stats(rollout, rollout_advantages(rollout, self.update))
        logged = {LOGGED_NAMES.get(name, name): value for name, value in stats.items()}
        batch_size = len(data["search_images"]) * len(data["search_images"][0])
        self._update_stats(logged, batch_size, loader)
        self._print_stats(i, _Counted(loader.name, steps), batch_size)  # "i / steps" also after a resume
        return logged

    def _steps_done(self) -> int:
        """Training steps done, between steps (``self.epoch`` finished epochs, then ``epoch_step``)."""
        return self.epoch * len(self.loaders[0]) + self.epoch_step

    def _stop_signal(self) -> int:
        """The signal that asked to stop (0: none); under torchrun the ranks agree (the largest), so all stop
        after the same step."""
        signum = self._received[0] if self._received else 0
        if self.dist.enabled and torch_dist.is_initialized():
            flag = torch.tensor([signum], dtype=torch.int64, device=self.device)
            torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MAX)
            signum = int(flag.item())
        return signum

    # -- checkpoints ------------------------------------------------------------------------------------------

    def _run_folder(self) -> Path:
        return Path(f"{self._checkpoint_dir}/{self.settings.project_path}")

    def _net(self) -> torch.nn.Module:
        net = self.actor.net
        return net.module if multigpu.is_multi_gpu(net) else net

    def checkpoints(self) -> list[Path]:
        """This run's checkpoint files, oldest first (:func:`checkpoint_order`)."""
        folder = self._run_folder()
        if not folder.is_dir():
            return []
        prefix = type(self._net()).__name__ + "_ep"
        found = [(checkpoint_order(p), p) for p in folder.iterdir() if p.name.startswith(prefix)]
        return [p for order, p in sorted((o, p) for o, p in found if o is not None)]

    def _latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found and self.dist.is_main else None

    def save_checkpoint(self) -> None:
        """The host's checkpoint fields plus ``slt_progress`` (steps done in the current epoch, RNG states),
        written atomically by rank 0: ``<Net>_ep<E>.pth.tar`` at an epoch's end, ``<Net>_ep<E>_step<S>.pth.tar``
        inside epoch E; then the retention rule of :func:`checkpoint_order`."""
        self.clock.saved()
        if not self.dist.is_main:
            return
        net = self._net()
        net_type = type(net).__name__
        inside = self.epoch_step > 0
        state = {"epoch": self.epoch - 1 if inside else self.epoch, "actor_type": type(self.actor).__name__,
                 "net_type": net_type, "net": net.state_dict(), "net_info": getattr(net, "info", None),
                 "constructor": getattr(net, "constructor", None), "optimizer": self.optimizer.state_dict(),
                 "stats": self.stats, "settings": self.settings,
                 "slt_progress": {"epoch_step": self.epoch_step, "rng": rng_state(), "schedule": self._schedule()}}
        name = f"{net_type}_ep{self.epoch:04d}" + (f"_step{self.epoch_step:06d}" if inside else "") + ".pth.tar"
        path = save_checkpoint(self._run_folder() / name, state)
        found = self.checkpoints()
        superseded = [p for p in found if not inside and p != path and checkpoint_order(p)[0] == self.epoch]
        for old in superseded:
            old.unlink(missing_ok=True)
        keep_newest([p for p in found if p not in superseded], self.keep_checkpoints)
        logger.info("checkpoint %s", path)

    def load_checkpoint(self, checkpoint: Any = None, fields: Any = None, ignore_fields: Any = None,
                        load_constructor: bool = False) -> bool | None:
        """As the host's; without ``checkpoint``, the newest of :meth:`checkpoints` (step checkpoints included),
        logging where the run resumes (or that it starts from scratch)."""
        if checkpoint is None:
            found = self.checkpoints()
            if not found:
                logger.info("no checkpoint in %s: training starts at epoch 1", self._run_folder())
                return None
            checkpoint = str(found[-1])
        self.slt_progress = {}
        loaded = super().load_checkpoint(checkpoint, fields, ignore_fields, load_constructor)
        saved = self.slt_progress.get("schedule", self._schedule())
        changed = sorted(k for k in SCHEDULE_KEYS if saved.get(k) != self._schedule().get(k))
        if changed:
            differences = ", ".join(f"{k}: {saved.get(k)!r} there, {self._schedule().get(k)!r} now" for k in changed)
            raise ScheduleChanged(f"{self._run_folder()} holds a run with other settings ({differences}); resuming "
                                  f"would mix two schedules: use another train settings name (its folder), or the "
                                  f"settings of that run")
        self.epoch_step = int(self.slt_progress.get("epoch_step", 0))
        if "rng" in self.slt_progress:
            restore_rng_state(self.slt_progress["rng"])
        logger.info("resumed from %s at step %d (%d epochs and %d steps done; %d steps per epoch)", checkpoint,
                    self._steps_done(), self.epoch, self.epoch_step, len(self.loaders[0]))
        return loaded

    def _schedule(self) -> dict[str, Any]:
        return {key: getattr(self.settings, key, None) for key in SCHEDULE_KEYS}

    # -- TensorBoard ------------------------------------------------------------------------------------------

    def _open_writers(self) -> None:
        """Per-step and per-epoch writers that drop what a killed run wrote after the step / epoch resumed from."""
        if not self.dist.is_main:
            return
        from ltr.admin.tensorboard import SummaryWriter  # the host's choice (torch's, else tensorboardX)

        folder = Path(self.settings.env.tensorboard_dir) / self.settings.project_path
        step = self._steps_done()
        self._step_writer = SummaryWriter(str(folder / "train_steps"), purge_step=step + 1 if step else None)
        for name, writer in self.tensorboard_writer.writer.items():
            writer.close()
            self.tensorboard_writer.writer[name] = SummaryWriter(
                os.path.join(self.tensorboard_writer.directory, name), purge_step=self.epoch + 1 if self.epoch else None)
        logger.info("TensorBoard scalars in %s (tensorboard --logdir %s)", folder, folder)

    def _close_writers(self) -> None:
        if self._step_writer is not None:
            self._step_writer.close()
            self._step_writer = None
        for writer in self.tensorboard_writer.writer.values():
            writer.flush()

    def _write_step(self, step: int, stats: dict[str, float]) -> None:
        if self._step_writer is None:
            return
        for name, value in stats.items():
            if math.isfinite(value):
                self._step_writer.add_scalar(name, value, step)

    def _write_tensorboard(self) -> None:
        if self.dist.is_main:
            super()._write_tensorboard()


class _Counted:
    """A loader's name and its full number of steps, for the host's printed ``[name: epoch, i / steps]`` lines."""

    def __init__(self, name: str, steps: int) -> None:
        self.name = name
        self.steps = steps

    def __len__(self) -> int:
        return self.steps
