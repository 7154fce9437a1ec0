"""The per-step learning-rate schedule of SLT-SiamRPN++ training, host-free (imports nothing from PySOT).

PySOT's epoch-level schedulers (``pysot.utils.lr_scheduler``) set a group's learning rate at epoch ``e`` to
``lr_spaces[e] * initial_lr / start_lr``. SLT steps the schedule per optimizer step: step ``k`` uses the multiplier
of epoch ``k // steps_per_epoch`` (the last epoch's after the run's end), so skipped steps still count and epoch
boundaries stay where they are. :mod:`slt_pysot.train` builds PySOT's own scheduler for ``lr_spaces``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def relative_lrs(lr_spaces: Sequence[float], start_lr: float) -> np.ndarray:
    """``(epochs,)`` float64 multipliers ``lr_spaces / start_lr`` of a PySOT scheduler's per-epoch rates."""
    if start_lr <= 0:
        raise ValueError(f"a PySOT scheduler's start_lr must be positive, got {start_lr}")
    return np.asarray(lr_spaces, dtype=np.float64) / float(start_lr)


def step_scheduler(
    optimizer: torch.optim.Optimizer, multipliers: Sequence[float], steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step ``LambdaLR``: every group's base rate times ``multipliers[min(step // steps_per_epoch, last)]``."""
    if steps_per_epoch < 1 or not len(multipliers):
        raise ValueError(f"need steps_per_epoch >= 1 and at least one epoch multiplier, got {steps_per_epoch} and "
                         f"{len(multipliers)}")
    values = [float(m) for m in multipliers]
    last = len(values) - 1
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: values[min(step // steps_per_epoch, last)])
