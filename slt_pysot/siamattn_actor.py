"""``SLTSiamAttnActor``: the SLT-SiamAttn loss on recorded exploration samples, ``actor(samples) -> (loss, stats)``.

``CLS_WEIGHT * L_slt + LOC_WEIGHT * L_loc + BBOX_WEIGHT * L_box``: a fresh training forward of SiamAttn's network
(backbone, neck, attention enhancement, RPN, feature fusion, box head) on the recorded template and search crops;
``L_slt`` the SCST term on the policy logits rebuilt with the exploration tracker's shaping and recorded penalty;
``L_loc`` PySOT's anchor L1 loss (targets from the tree's ``AnchorTarget``, as SLT-SiamRPN++); ``L_box`` the box
head's smooth-L1 refinement loss on ``TRAIN.ROI_PER_IMG`` RoIs per sample, drawn with replacement among the RPN's
decoded boxes (and the ground truth) whose IoU with the ground truth is at least ``TRAIN.FG_THRESH`` (SiamAttn's
``FG_FRACTION: 1``), targets normalised by ``TRAIN.BBOX_NORMALIZE_*``. Samples without ground truth (invisible
or padded frames) give neither supervised term. The mask term of the official recipe is not computed here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pysot.core.config import cfg
from slt import scst
from slt.rollout import Samples
from slt.siamrpn import crop_gt_to_corners, decode_deltas, rpn_deltas, rpn_foreground_prob
from slt_pysot.actor import SLTSiamRPNActor
from slt_pysot.siamattn import SLTSiamAttnTracker


def corner_iou(boxes: Tensor, gt: Tensor) -> Tensor:
    """IoU of ``(M, K, 4)`` x1y1x2y2 boxes with ``(M, 4)`` x1y1x2y2 ground truth -> ``(M, K)``."""
    lo = torch.maximum(boxes[..., :2], gt[:, None, :2])
    hi = torch.minimum(boxes[..., 2:], gt[:, None, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    area_gt = (gt[:, 2:] - gt[:, :2]).clamp(min=0).prod(-1)[:, None]
    return inter / (area + area_gt - inter).clamp(min=1e-12)


def box_targets(rois: Tensor, gt: Tensor) -> Tensor:
    """Regression targets of ``(R, 4)`` x1y1x2y2 RoIs towards ``(R, 4)`` x1y1x2y2 ground truth -> ``(R, 4)``:
    ``((gcx - cx) / w, (gcy - cy) / h, log(gw / w), log(gh / h))`` with ``w = x2 - x1`` (SiamAttn's
    ``bbox_transform``), normalised by ``TRAIN.BBOX_NORMALIZE_MEANS`` / ``_STDS`` when precomputed."""
    wh = (rois[:, 2:] - rois[:, :2]).clamp(min=1e-6)
    gt_wh = (gt[:, 2:] - gt[:, :2]).clamp(min=1e-6)
    centre = (rois[:, 2:] + rois[:, :2]) / 2
    gt_centre = (gt[:, 2:] + gt[:, :2]) / 2
    targets = torch.cat(((gt_centre - centre) / wh, torch.log(gt_wh / wh)), dim=1)
    if cfg.TRAIN.BBOX_NORMALIZE_TARGETS_PRECOMPUTED:
        targets = (targets - targets.new_tensor(cfg.TRAIN.BBOX_NORMALIZE_MEANS)) / \
            targets.new_tensor(cfg.TRAIN.BBOX_NORMALIZE_STDS)
    return targets


class SLTSiamAttnActor(SLTSiamRPNActor):
    """The SLT-SiamAttn loss, built from the exploration tracker (its model, shaping and score rule).

    ``generator``: the RoI draws (default: torch's global generator).
    """

    def __init__(self, tracker: SLTSiamAttnTracker, generator: torch.Generator | None = None) -> None:
        super().__init__(tracker)
        self.anchors = tracker.anchors_t
        self.generator = generator

    def forward_network(self, templates: Tensor, crops: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Training forward on ``templates`` (M, 3, 127, 127) and ``crops`` (M, 3, S, S) 0-255 BGR ->
        ``(cls (M, 2A, s, s), loc (M, 4A, s, s), box features (M, 256, 25, 25))``."""
        model = self.model
        zf = model.backbone(templates)
        xf = model.backbone(crops)
        if cfg.ADJUST.ADJUST:
            zf[2:] = model.neck(zf[2:])
            xf[2:] = model.neck(xf[2:])
        zf[2:], xf[2:] = model.feature_enhance(zf[2:], xf[2:])
        cls, loc = model.rpn_head(zf[2:], xf[2:])
        box_features, _ = model.feature_fusion(zf, xf)
        return cls, loc, box_features

    def sample_rois(self, loc: Tensor, gt: Tensor) -> Tensor:
        """``(M * R, 5)`` RoIs ``(sample, x1, y1, x2, y2)`` crop pixels, R = ``TRAIN.ROI_PER_IMG`` per sample, drawn
        among the RPN's decoded boxes ``loc`` (detached) and the ground truth ``gt`` (M, 4) x1y1x2y2."""
        count = gt.shape[0]
        pred = decode_deltas(rpn_deltas(loc.detach()), self.anchors)  # (M, K, 4) cx cy w h, centre-relative
        centre = pred[..., :2] + (cfg.TRACK.INSTANCE_SIZE - 1) / 2  # PySOT's crop frame: the centre is (S - 1) / 2
        boxes = torch.cat((centre - pred[..., 2:] / 2, centre + pred[..., 2:] / 2), dim=-1)
        boxes = torch.cat((boxes, gt[:, None]), dim=1)
        foreground = corner_iou(boxes, gt) >= cfg.TRAIN.FG_THRESH  # the ground truth itself always is
        per = int(cfg.TRAIN.ROI_PER_IMG)
        weights = foreground.float().cpu()
        picks = torch.multinomial(weights, per, replacement=True, generator=self.generator).to(loc.device)
        chosen = torch.gather(boxes, 1, picks[..., None].expand(count, per, 4)).reshape(-1, 4)
        rows = torch.arange(count, device=loc.device, dtype=chosen.dtype).repeat_interleave(per)[:, None]
        return torch.cat((rows, chosen), dim=1)

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M samples -> ``(loss, stats)`` with ``loss_slt``, ``loss_loc``, ``loss_box``."""
        device = self.anchors.device
        templates = samples.templates[samples.sequence].to(device).float()
        cls, loc, box_features = self.forward_network(templates, samples.crops.to(device).float())
        fg_prob = rpn_foreground_prob(cls, self.no_neg_logit)
        extras = {key: value.to(device) for key, value in samples.extras.items()}
        logits = self.shaping.to(device).logits(fg_prob, extras)
        loss_slt = scst.scst_loss(logits, samples.actions.to(device), samples.advantages.to(device),
                                  samples.mask.to(device))
        loss = cfg.TRAIN.CLS_WEIGHT * loss_slt
        stats = {"loss_slt": loss_slt.item()}
        gt_xywh = samples.gt_in_crop.to(device).double()
        usable = samples.mask.to(device) & torch.isfinite(gt_xywh).all(1) & (gt_xywh[:, 2:] > 0).all(1)
        if cfg.TRAIN.RL_TRAIN_LOC:
            label_loc, weight = self.anchor_targets(samples)
            from pysot.models.loss import weight_l1_loss

            loss_loc = weight_l1_loss(loc, label_loc.to(device), weight.to(device))
            loss = loss + cfg.TRAIN.LOC_WEIGHT * loss_loc
            stats["loss_loc"] = loss_loc.item()
        if bool(usable.any()):
            keep = usable.nonzero().flatten()
            gt = torch.from_numpy(crop_gt_to_corners(gt_xywh[keep].cpu().numpy())).to(device, torch.float32)
            rois = self.sample_rois(loc[keep], gt)
            deltas = self.model.bbox_head(box_features[keep], rois).view(-1, 4)
            targets = box_targets(rois[:, 1:], gt.repeat_interleave(int(cfg.TRAIN.ROI_PER_IMG), dim=0))
            loss_box = F.smooth_l1_loss(deltas, targets)
        else:
            loss_box = box_features.sum() * 0.0
        loss = loss + cfg.TRAIN.BBOX_WEIGHT * loss_box
        stats["loss_box"] = loss_box.item()
        return loss, {"loss": loss.item(), **stats}
