"""SLT-OSTrack actor: the sequence-level loss on recorded exploration crops (a loss module only).

``loss = slt_weight * L_scst + giou_weight * GIoU + l1_weight * L1 + focal_weight * focal`` with

* ``L_scst``: :func:`slt.scst.scst_loss` of the policy logits recomputed (with gradients, the tracker's
  :class:`slt.policy.Shaping`) on each recorded search crop, at the sampled cell; weight 15, SLT-TransT's
  ``slt_loss_weight`` (the box losses below have the scale of TransT's, L1 x 5 and GIoU x 2);
* the host's own frame-level losses (``lib/train/train_script.py``'s objective) against the ground truth in
  the crop: ``giou_loss`` (weight ``cfg.TRAIN.GIOU_WEIGHT``, 2) and ``l1_loss`` (``cfg.TRAIN.L1_WEIGHT``, 5)
  on the box the host's ``cal_bbox`` decodes at the *chosen* cell, and ``FocalLoss`` (weight 1, as the host
  script) on the centre map against ``generate_heatmap`` of the ground truth. They keep the box head honest
  on the crops the tracker actually sees, as SLT-TransT's box losses do.

Candidate elimination runs at ``keep_rate`` given explicitly (default None: every block's own test-time ratio
``MODEL.BACKBONE.CE_KEEP_RATIO``, what exploration used), never through ``data['epoch']``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import l1_loss

from slt import scst
from slt.policy import Shaping
from slt.rollout import Samples
from slt_ostrack import host_root, policy
from slt_ostrack.compat import bare
from slt_ostrack.tracker import masked_forward, normalise

host_root()

from lib.test.utils.hann import hann2d  # noqa: E402  (host imports after the shims)
from lib.train.actors import BaseActor  # noqa: E402
from lib.utils.box_ops import box_cxcywh_to_xyxy, giou_loss  # noqa: E402
from lib.utils.focal_loss import FocalLoss  # noqa: E402
from lib.utils.heapmap_utils import generate_heatmap  # noqa: E402

SLT_WEIGHT = 15.0
FOCAL_WEIGHT = 1.0


class SLTOSTrackActor(BaseActor):
    """``actor(samples) -> (loss, stats)`` for :func:`slt.update.slt_update`; never explores.

    Args:
        net: the host OSTrack network (possibly DDP-wrapped), the one the trainer's tracker explores with.
        cfg: the host config (sizes, stride, candidate elimination, ``TRAIN.GIOU_WEIGHT`` / ``L1_WEIGHT``).
        shaping: the tracker's :class:`slt.policy.Shaping` (``SLTOSTrack.shaping``), so the update's logits
            are exploration's.
        slt_weight, focal_weight: see the module doc; ``keep_rate``: candidate elimination keep rate.
        denominator: :func:`slt.scst.scst_loss` denominator (``"all"``: padded samples counted, as official).
    """

    def __init__(self, net: nn.Module, cfg: Any, shaping: Shaping = policy.shaping(),
                 slt_weight: float = SLT_WEIGHT, focal_weight: float = FOCAL_WEIGHT, keep_rate: float | None = None,
                 denominator: str = "all") -> None:
        objective = {"giou": giou_loss, "l1": l1_loss, "focal": FocalLoss()}
        super().__init__(net, objective)
        self.cfg = cfg
        self.shaping = shaping
        self.weights = {"slt": slt_weight, "giou": float(cfg.TRAIN.GIOU_WEIGHT), "l1": float(cfg.TRAIN.L1_WEIGHT),
                        "focal": focal_weight}
        self.keep_rate = keep_rate
        self.denominator = denominator
        self.search_size = int(cfg.DATA.SEARCH.SIZE)
        self.stride = int(cfg.MODEL.BACKBONE.STRIDE)
        self.feat_size = self.search_size // self.stride
        self.window = hann2d(torch.tensor([self.feat_size, self.feat_size]).long(), centered=True)

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (a chunk of :class:`slt.rollout.Samples`), with gradients.

        Templates ``samples.templates[samples.sequence]`` (uint8, re-fed with every search crop: one-stream
        ViT), with the template mask each crop was explored with (the extra ``template_mask`` (M, Z) bool, absent
        when exploration masked nothing); box targets ``samples.gt_in_crop`` (M, 4) xywh crop pixels / search
        size -> normalised. Samples without ground truth (NaN), padded or with an empty box get no box or focal
        loss.
        """
        crops = samples.crops
        device = crops.device
        out = masked_forward(self.net, normalise(samples.templates[samples.sequence]), normalise(crops),
                             samples.extras.get("template_mask"), ce_keep_rate=self.keep_rate)
        score_map = out["score_map"]
        logits = policy.policy_logits(score_map, self.window, self.shaping)
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator).float()
        chosen = bare(self.net).box_head.cal_bbox(policy.onehot_maps(samples.actions, self.feat_size),
                                                  out["size_map"], out["offset_map"])
        target = samples.gt_in_crop / self.search_size
        usable = samples.mask & torch.isfinite(target).all(-1) & (target[:, 2:] > 0).all(-1)
        zero = score_map.sum() * 0.0
        giou, l1, focal, iou = zero, zero, zero, zero
        if bool(usable.any()):
            gt = target[usable]
            gt_xyxy = torch.cat((gt[:, :2], gt[:, :2] + gt[:, 2:]), dim=1).clamp(0.0, 1.0)
            pred_xyxy = box_cxcywh_to_xyxy(chosen[usable])
            giou, iou = self.objective["giou"](pred_xyxy, gt_xyxy)
            l1 = self.objective["l1"](pred_xyxy, gt_xyxy)
            heatmap = generate_heatmap(gt[None].cpu(), self.search_size, self.stride)[0].unsqueeze(1).to(device)
            focal = self.objective["focal"](score_map[usable], heatmap)
            iou = iou.detach().mean()
        w = self.weights
        loss = w["slt"] * loss_slt + w["giou"] * giou + w["l1"] * l1 + w["focal"] * focal
        stats = {"Loss/total": loss.item(), "Loss/scst": loss_slt.item(), "Loss/giou": giou.item(),
                 "Loss/l1": l1.item(), "Loss/location": focal.item(), "IoU": float(iou)}
        return loss, stats
