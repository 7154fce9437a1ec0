"""Actors of the reference tracker on recorded exploration crops: ``actor(samples) -> (loss, stats)``.

:class:`ReferenceSLTActor` is SLT (SCST + box loss); :class:`ReferenceSSActor` is the paper's "+SS" control,
the frame-level objective on the same crops with no reward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from slt import scst
from slt.reference.anchors import anchor_targets
from slt.reference.flt import FLTConfig, frame_level_loss
from slt.reference.losses import box_loss, crop_gt_to_centre
from slt.reference.tracker import ReferenceTracker
from slt.rollout import Samples


class ReferenceSLTActor:
    """``slt_weight * L_scst + box_weight * L_box`` for the reference SiamRPN (PySOT's SLT recipe).

    Built from the exploration tracker: its network, anchors and its :class:`slt.policy.Shaping` (cosine window,
    window influence, temperature, epsilon), so the update's logits are the exploration's by construction. The
    policy logits are recomputed by a training-time forward on the recorded template and search crops with the
    recorded scale/ratio penalty; the box loss is the weighted L1 of the anchor deltas against the ground truth
    in each crop (frames without ground truth get no positive anchor). ``slt_weight=0`` leaves the box loss on
    explored crops only (not the paper's "+SS" row, which also trains classification: :class:`ReferenceSSActor`).
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


class ReferenceSSActor:
    """The paper's "+SS" control: FLT's objective on the crops of the tracker's own trajectories, no reward.

    Sequence-level sampling without sequence-level optimisation: the recorded search crops of the sampled
    trajectories (M, 3, s, s) get PySOT anchor targets from their ground truth (random subsets of at most 16
    positives in 64 labelled anchors, as FLT; a frame without ground truth has only negatives) and the loss is
    :func:`slt.reference.flt.frame_level_loss` -- classification + box loss, the same weights as FLT. The
    recorded actions and advantages are not read.
    """

    def __init__(self, tracker: ReferenceTracker, config: FLTConfig = FLTConfig()) -> None:
        self.model = tracker.model
        self.anchors = tracker.anchors
        self.config = config

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        template_features = self.model.template(samples.templates)[samples.sequence]
        cls, loc = self.model.track(samples.crops, template_features)
        targets = anchor_targets(crop_gt_to_centre(samples.gt_in_crop, samples.crops.shape[-1]), self.anchors)
        return frame_level_loss(cls, loc, targets, self.config, samples.mask)
