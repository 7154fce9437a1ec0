"""What the SLT-TransT and SLT-TrDiMP recipes share: run set-up, sequence-level sampling, the SLT update and the
trainer (docs/method.md#hyper-parameters, the rows both columns agree on). Each recipe reads as the host's settings files:
datasets -> sampler -> loader -> network -> tracker -> actor -> optimizer -> trainer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import torch

from slt.distributed import DistContext
from slt.rollout import BatchTracker
from slt.runner import ScheduleChanged, TrainingInterrupted
from slt.update import UpdateConfig
from slt_pytracking.trainer import SLTTrainer

logger = logging.getLogger(__name__)


def configure_run(settings: Any, description: str) -> None:
    """Settings common to both recipes on an LTR ``Settings`` object: device, seed, data loading, sequence-level
    sampling and augmentation (SS + SA), exploration samples, the update's return, baseline and chunk
    normalisation, checkpointing. Also SLT's own loggers at INFO level, so the resume, checkpoint and completion
    lines show whatever logging the host's imports configured."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    for name in ("slt", "slt_pytracking"):  # a host import (TransformerTrack's lvis) may set the root to WARNING
        if logging.getLogger(name).getEffectiveLevel() > logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    settings.description = description
    settings.device = getattr(settings, "device", None) or ("cuda" if torch.cuda.is_available() else "cpu")
    settings.seed = 12345                  # the sampler's, on every rank; exploration is keyed by clip
    settings.num_frames = 24               # T: frames per clip, the init frame included
    settings.num_workers = 4
    settings.print_interval = 1
    # Sequence-level sampling and augmentation (SS + SA)
    settings.frame_sample_mode = "random_interval"
    settings.interval_prob = 0.3           # probability of a random-interval clip
    settings.max_interval = 10
    settings.max_gap = 300
    # Exploration and advantages
    settings.samples = 1                   # S: sampled trajectories per clip (next to the greedy one)
    settings.return_fn = "mean_iou"
    settings.baseline = "greedy"           # 'mean_of_samples' (self-critical over S >= 2 samples) needs samples >= 2
    # 'sum' adds the chunk means as the official LTR trainer (docs/method.md#b9); 'mean' gives the batch mean
    settings.chunk_norm = "sum"
    settings.fail_safe = False             # True: a crash restarts from the newest checkpoint (up to 10 times)
    # Checkpoints: every epoch's end, every checkpoint_every steps, after checkpoint_minutes of wall time (<= 0:
    # never by time) and on Ctrl-C / SIGTERM; the newest keep_checkpoints kept (None: all)
    settings.checkpoint_every = 50
    settings.checkpoint_minutes = 10.0
    settings.keep_checkpoints = 3


def update_config(settings: Any) -> UpdateConfig:
    """The SLT update of configured ``settings``: chunks of ``num_seq_backward`` whole clips, as the official
    trainers (``sample_order='clip'``), ``chunk_norm``, ``grad_max_norm``, ``return_fn`` and ``baseline``."""
    return UpdateConfig(chunk_size=settings.num_seq_backward * (settings.num_frames - 1),
                        chunk_norm=settings.chunk_norm, grad_clip=settings.grad_max_norm,
                        return_fn=settings.return_fn, baseline=settings.baseline, sample_order="clip")


def train(settings: Any, actor: Any, tracker: BatchTracker, loader: Any, optimizer: torch.optim.Optimizer,
          context: DistContext) -> SLTTrainer:
    """Step learning-rate schedule (``lr_step``, ``lr_gamma``), the :class:`SLTTrainer` and
    ``settings.num_epochs`` epochs (resuming from the latest checkpoint); returns the trainer.

    Ctrl-C / SIGTERM end the process after the current step's checkpoint with one line and exit status
    ``128 + signal`` (no traceback); rerunning the same command resumes at the next step. A checkpoint folder
    holding a run with other settings (:data:`slt_pytracking.trainer.SCHEDULE_KEYS`) is refused in one line,
    exit status 1."""
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings.lr_step, gamma=settings.lr_gamma)
    trainer = SLTTrainer(actor, tracker, [loader], optimizer, settings, lr_scheduler, update=update_config(settings),
                         samples=settings.samples, dist=context)
    try:
        trainer.train(settings.num_epochs, load_latest=True, fail_safe=settings.fail_safe)
    except TrainingInterrupted as stop:
        logger.warning("%s", stop)
        sys.exit(stop.exit_code)
    except ScheduleChanged as refusal:
        logger.error("%s", refusal)
        sys.exit(1)
    return trainer
