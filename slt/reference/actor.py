"""SCST actor of the reference tracker: ``actor(samples) -> (loss, stats)`` on recorded exploration crops."""

from __future__ import annotations

import torch
from torch import Tensor

from slt import scst
from slt.reference.anchors import anchor_targets
from slt.reference.losses import box_loss, crop_gt_to_centre
from slt.reference.tracker import ReferenceTracker
from slt.rollout import Samples


class ReferenceSLTActor:
    """``slt_weight * L_scst + box_weight * L_box`` for the reference SiamRPN (PySOT's SLT recipe).

    Built from the exploration tracker: its network, anchors and its :class:`slt.policy.Shaping` (cosine window,
    window influence, temperature, epsilon), so the update's logits are the exploration's by construction. The
    policy logits are recomputed by a training-time forward on the recorded template and search crops with the
    recorded scale/ratio penalty; the box loss is the weighted L1 of the anchor deltas against the ground truth
    in each crop (frames without ground truth get no positive anchor). ``slt_weight=0`` gives the "+SS" control:
    box loss on explored crops only.
    """

    def __init__(
        self,
        tracker: ReferenceTracker,
        slt_weight: float = 1.0,
        box_weight: float = 1.0,
        denominator: str = "all",
    ) -> None:
        self.model = tracker.model
        self.shaping = tracker.shaping
        self.anchors = tracker.anchors
        self.slt_weight = slt_weight
        self.box_weight = box_weight
        self.denominator = denominator

    def logits(self, samples: Samples) -> tuple[Tensor, Tensor]:
        """Training forward on ``templates[sequence]`` and the recorded ``crops`` (M, 3, s, s) -> ``(M, K)`` policy
        logits (the tracker's shaping with the recorded ``extras['penalty']``) and the ``(M, K, 4)`` deltas."""
        template_features = self.model.template(samples.templates)[samples.sequence]
        cls, loc = self.model.track(samples.crops, template_features)
        return self.shaping.logits(torch.sigmoid(cls), samples.extras), loc

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        logits, loc = self.logits(samples)
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator)
        # Every positive anchor counts (no random subset): the update is a deterministic function of the rollout.
        count = self.anchors.shape[0]
        targets = anchor_targets(crop_gt_to_centre(samples.gt_in_crop, samples.crops.shape[-1]), self.anchors,
                                 max_pos=count, total=count)
        loss_box = box_loss(loc, targets, samples.mask)
        loss = self.slt_weight * loss_slt + self.box_weight * loss_box
        return loss, {"loss": loss.item(), "loss_slt": loss_slt.item(), "loss_box": loss_box.item()}
