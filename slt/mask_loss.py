"""Mask losses: binary cross-entropy with online hard example mining (OHEM) over pixels.

SiamAttn trains its mask head with per-pixel BCE on the logits of every RoI's mask and keeps only the hardest
``keep`` share of all pixels (the largest per-pixel losses, over all RoIs of the batch together; 70 % in SiamAttn's
``mask_loss_bce``), so that the easy background pixels do not dominate. SLT-SiamAttn adds this term with weight 0.2
(``TRAIN.MASK_WEIGHT``) on datasets with masks.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

OHEM_KEEP = 0.7
"""Share of pixels SiamAttn's mask loss keeps (its ``top_k``)."""


def hardest_mean(losses: Tensor, keep: float = OHEM_KEEP) -> Tensor:
    """Mean of the ``int(keep * n)`` largest of the ``n`` values of ``losses`` (any shape, flattened) -> scalar.

    ``keep`` in ``(0, 1]``; at least one value is kept. Ties are broken by ``torch.topk``; the mean is the same
    whichever tied values it takes.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must lie in (0, 1], got {keep}")
    flat = losses.reshape(-1)
    if flat.numel() == 0:
        raise ValueError("hardest_mean needs at least one value")
    count = max(int(keep * flat.numel()), 1)
    return flat.topk(count).values.mean()


def ohem_bce(logits: Tensor, targets: Tensor, keep: float = OHEM_KEEP) -> Tensor:
    """Per-pixel BCE of ``logits`` against ``targets`` (same shape, e.g. ``(R, S, S)``; targets in [0, 1]), averaged
    over the hardest ``keep`` share of all pixels (:func:`hardest_mean`) -> scalar."""
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    losses = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return hardest_mean(losses, keep)
