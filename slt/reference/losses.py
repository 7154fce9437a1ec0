"""Frame-level losses of the reference SiamRPN (PySOT's ``select_cross_entropy_loss`` and ``weight_l1_loss``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from slt.reference.anchors import AnchorTargets


def classification_loss(cls: Tensor, labels: Tensor) -> Tensor:
    """``(B, K)`` foreground logits, ``(B, K)`` labels {1, 0, -1 ignored} -> 0.5 * (BCE on positives) +
    0.5 * (BCE on negatives), each averaged over its anchors in the batch (0 when there are none)."""
    bce = F.binary_cross_entropy_with_logits(cls, labels.clamp(min=0), reduction="none")
    pos, neg = labels == 1, labels == 0
    loss_pos = bce[pos].sum() / pos.sum().clamp(min=1)
    loss_neg = bce[neg].sum() / neg.sum().clamp(min=1)
    return 0.5 * loss_pos + 0.5 * loss_neg


def box_loss(loc: Tensor, targets: AnchorTargets, mask: Tensor | None = None) -> Tensor:
    """Weighted L1 of ``(B, K, 4)`` deltas over positive anchors: per sample the mean over its positives,
    summed over the 4 coordinates; averaged over the B samples (masked samples count 0, as padded PySOT
    samples do)."""
    per_sample = ((loc - targets.deltas).abs().sum(-1) * targets.loc_weight).sum(-1)
    if mask is not None:
        per_sample = per_sample * mask.to(per_sample.dtype)
    return per_sample.mean()


def crop_gt_to_centre(gt_xywh: Tensor, crop_size: int) -> Tensor:
    """``(B, 4)`` xywh in crop pixels -> ``(B, 4)`` cx cy w h relative to the crop centre (anchor frame)."""
    centre = gt_xywh[:, :2] + gt_xywh[:, 2:] / 2 - crop_size / 2
    return torch.cat((centre, gt_xywh[:, 2:]), dim=1)
