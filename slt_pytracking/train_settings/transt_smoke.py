"""A CPU-sized SLT-TransT run for checking an installation: ``python ltr/run_training.py slt transt_smoke``.

The SLT-TransT recipe (:mod:`slt_pytracking.train_settings.transt`) on the GOT-10k folder of
``ltr/admin/local.py`` (all of its ``list.txt``, so small or synthetic GOT-10k-layout data works), one epoch
of one SLT step with N=2 clips of T=3 frames. Starts from ``SLT_TRANST_WEIGHTS`` when set (TransT's
architecture), else from random weights with a small transformer (width 64, one feature-fusion layer; the
ResNet-50 backbone and the crops are TransT's), logged as a warning: the point is that the pipeline runs and
writes a checkpoint, not the numbers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from slt_pytracking.loader import build_dataset, require_workspace
from slt_pytracking.train_settings.transt import configure, train
from slt_pytracking.transt_net import WEIGHTS_ENV, pretrained_weights_path

logger = logging.getLogger(__name__)

SMALL_TRANSFORMER = {"hidden_dim": 64, "dim_feedforward": 128, "featurefusion_layers": 1}
"""Transformer of random-weight smoke runs (TransT: 256, 2048, 4)."""


def run(settings: Any) -> None:
    """One small SLT-TransT epoch; the checkpoint goes to ``<workspace_dir>/checkpoints/ltr/slt/transt_smoke``."""
    configure(settings)
    settings.description = "SLT-TransT smoke run (tiny, CPU-sized)."
    settings.num_epochs = 1
    settings.samples_per_epoch = 2
    settings.num_seq = 2
    settings.num_frames = 3
    settings.num_seq_backward = 1
    settings.num_workers = 0
    require_workspace(settings.env)
    weights = pretrained_weights_path(settings.env) if os.environ.get(WEIGHTS_ENV) else None
    if weights is None:
        logger.warning("%s is not set: the smoke run uses random TransT weights and a small transformer",
                       WEIGHTS_ENV)
        for name, value in SMALL_TRANSFORMER.items():
            setattr(settings, name, value)
    train(settings, [build_dataset(settings.env, "got10k")], p_datasets=[1], weights=weights)
