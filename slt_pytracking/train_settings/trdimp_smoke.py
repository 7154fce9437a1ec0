"""A CPU-sized SLT-TrDiMP run for checking an installation: ``python ltr/run_training.py slt trdimp_smoke``.

The SLT-TrDiMP recipe (:mod:`slt_pytracking.train_settings.trdimp`) on the GOT-10k folder of
``ltr/admin/local.py`` (all of its ``list.txt``, so small or synthetic GOT-10k-layout data works), one epoch
of one SLT step with N=2 clips of T=3 frames in one backward chunk. Starts from ``SLT_TRDIMP_WEIGHTS`` when
set, else from random weights (logged as a warning). Without a GPU, PreciseRoIPooling is replaced by the
RoIAlign stand-in (:mod:`slt_pytracking.prroi_standin`, logged as a warning): the point is that the pipeline
runs and writes a checkpoint, not the numbers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from slt_pytracking.loader import build_dataset, require_workspace
from slt_pytracking.train_settings.trdimp import configure, train
from slt_pytracking.trdimp_net import WEIGHTS_ENV, pretrained_weights_path

logger = logging.getLogger(__name__)


def run(settings: Any) -> None:
    """One small SLT-TrDiMP epoch; the checkpoint goes to ``<workspace_dir>/checkpoints/ltr/slt/trdimp_smoke``."""
    configure(settings)
    settings.description = "SLT-TrDiMP smoke run (tiny, CPU-sized)."
    settings.num_epochs = 1
    settings.samples_per_epoch = 2
    settings.num_seq = 2
    settings.num_frames = 3
    settings.num_seq_backward = 2
    settings.num_workers = 0
    settings.prroi_standin = not str(settings.device).startswith("cuda") or not torch.cuda.is_available()
    require_workspace(settings.env)
    weights = pretrained_weights_path(settings.env) if os.environ.get(WEIGHTS_ENV) else None
    if weights is None:
        logger.warning("%s is not set: the smoke run uses random TrDiMP weights", WEIGHTS_ENV)
    train(settings, [build_dataset(settings.env, "got10k")], p_datasets=[1], weights=weights)
