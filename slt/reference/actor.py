"""SCST actor of the reference tracker: ``actor(samples) -> (loss, stats)`` on recorded exploration crops."""

from __future__ import annotations

import torch
from torch import Tensor

from slt import policy, scst
from slt.reference.anchors import anchor_targets, generate_anchors
from slt.reference.losses import box_loss, crop_gt_to_centre
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import TrackerParams
from slt.rollout import Samples


class ReferenceSLTActor:
    """``slt_weight * L_scst + box_weight * L_box`` for the reference SiamRPN (PySOT's SLT recipe).

    The policy logits are recomputed by a training-time forward on the recorded template and search crops
    with exactly the exploration shaping (recorded scale/ratio penalty, cosine window, temperature); the box
    loss is the weighted L1 of the anchor deltas against the ground truth in each crop (frames without ground
    truth get no positive anchor). ``slt_weight=0`` gives the "+SS" control: box loss on explored crops only.
    """

    def __init__(
        self,
        model: ReferenceSiamRPN,
        params: TrackerParams = TrackerParams(),
        slt_weight: float = 1.0,
        box_weight: float = 1.0,
        denominator: str = "all",
    ) -> None:
        self.model = model
        self.params = params
        self.slt_weight = slt_weight
        self.box_weight = box_weight
        self.denominator = denominator
        net = model.config
        device = next(model.parameters()).device
        self.anchors = generate_anchors(net.anchors, net.score_size).to(device)
        self.window = policy.hann_window(net.score_size, net.anchors.num).to(device)

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        p = self.params
        template_features = self.model.template(samples.templates)[samples.sequence]
        cls, loc = self.model.track(samples.crops, template_features)
        logits = policy.shaped_logits(
            torch.sigmoid(cls), penalty=samples.extras["penalty"], window=self.window,
            window_influence=p.window_influence, temperature=p.temperature, sig_eps=p.sig_eps,
        )
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator)
        # Every positive anchor counts (no random subset): the update is a deterministic function of the rollout.
        count = self.anchors.shape[0]
        targets = anchor_targets(crop_gt_to_centre(samples.gt_in_crop, samples.crops.shape[-1]), self.anchors,
                                 max_pos=count, total=count)
        loss_box = box_loss(loc, targets, samples.mask)
        loss = self.slt_weight * loss_slt + self.box_weight * loss_box
        return loss, {"loss": loss.item(), "loss_slt": loss_slt.item(), "loss_box": loss_box.item()}
