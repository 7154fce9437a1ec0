"""``SLTSiamAttnActor``: the SLT-SiamAttn loss on recorded exploration samples, ``actor(samples) -> (loss, stats)``.

``CLS_WEIGHT * L_slt + LOC_WEIGHT * L_loc + BBOX_WEIGHT * L_box + MASK_WEIGHT * L_mask`` (1.0, 0.5, 0.5, 0.2 in
``experiments/slt_siamattn/config.yaml``, the official SLT-SiamAttn weights): a fresh training forward of SiamAttn's
network (backbone, neck, attention enhancement, RPN, feature fusion, box and mask heads) on the recorded template
and search crops;
``L_slt`` the SCST term on the policy logits rebuilt with the exploration tracker's shaping and recorded penalty;
``L_loc`` PySOT's anchor L1 loss (targets from the tree's ``AnchorTarget``, as SLT-SiamRPN++); ``L_box`` the box
head's smooth-L1 refinement loss on ``TRAIN.ROI_PER_IMG`` RoIs per sample, drawn with replacement among the RPN's
decoded boxes (and the ground truth) whose IoU with the ground truth is at least ``TRAIN.FG_THRESH`` (SiamAttn's
``FG_FRACTION: 1``), targets normalised by ``TRAIN.BBOX_NORMALIZE_*``; ``L_mask`` the mask head's BCE on the same
RoIs of the samples whose clip has ground-truth masks (:attr:`slt.rollout.Samples.masks`, cropped to the search crop
during exploration), averaged over the hardest 70 % of pixels (:func:`slt.mask_loss.ohem_bce`, as SiamAttn's
``mask_loss_bce``), targets cut from the crop's mask by the tree's own ``build_mask_target`` (each RoI's pixels,
nearest-resized to ``MASK.MASK_OUTSIZE``). Samples without ground truth (invisible or padded frames) give no
supervised term; samples without masks give no mask term, and the mask head is not run on them.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pysot.core.config import cfg
from pysot.utils.mask_target_builder import build_mask_target
from slt import scst
from slt.mask_loss import ohem_bce
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
        if "device" not in inspect.signature(build_mask_target).parameters:
            raise RuntimeError("SiamAttn's pysot/utils/mask_target_builder.py is not patched (it puts mask targets "
                               "on CUDA): run `slt patch-host siamattn ROOT` (30-mask-targets-on-any-device.patch)")
        self.anchors = tracker.anchors_t
        self.generator = generator

    def forward_network(self, templates: Tensor, crops: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Training forward on ``templates`` (M, 3, 127, 127) and ``crops`` (M, 3, S, S) 0-255 BGR ->
        ``(cls (M, 2A, s, s), loc (M, 4A, s, s), box features (M, 256, 25, 25), mask features (M, 256, 63, 63))``."""
        model = self.model
        zf = model.backbone(templates)
        xf = model.backbone(crops)
        if cfg.ADJUST.ADJUST:
            zf[2:] = model.neck(zf[2:])
            xf[2:] = model.neck(xf[2:])
        zf[2:], xf[2:] = model.feature_enhance(zf[2:], xf[2:])
        cls, loc = model.rpn_head(zf[2:], xf[2:])
        box_features, mask_features = model.feature_fusion(zf, xf)
        return cls, loc, box_features, mask_features

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

    def mask_loss(self, features: Tensor, rois: Tensor, masks: Tensor) -> Tensor:
        """OHEM BCE (:func:`slt.mask_loss.ohem_bce`) of the mask head on K samples' RoIs.

        ``features`` (K, 256, 63, 63) mask features, ``rois`` (K * R, 5) ``(sample, x1, y1, x2, y2)`` crop pixels
        (R = ``TRAIN.ROI_PER_IMG`` per sample, in sample order), ``masks`` (K, S, S) 0/1 ground truth in the same
        crops; the targets are each RoI's pixels of the mask, nearest-resized to ``MASK.MASK_OUTSIZE`` by the
        tree's ``build_mask_target``."""
        count, per = masks.shape[0], int(cfg.TRAIN.ROI_PER_IMG)
        boxes = rois[:, 1:].detach().view(count, per, 4)
        targets, _ = build_mask_target(boxes.cpu().numpy(), masks[:, None].cpu().numpy().astype(np.float32),
                                       np.ones((count, per)), int(cfg.MASK.MASK_OUTSIZE), device=features.device)
        logits = self.model.mask_head(features, rois)
        return ohem_bce(logits.view_as(targets), targets)

    def masked_samples_loss(self, samples: Samples, keep: Tensor, rois: Tensor, features: Tensor) -> Tensor | None:
        """The mask term of the usable samples ``keep`` (indices into the chunk) whose clip has masks, on their RoIs
        (``rois`` (len(keep) * R, 5), rows ``keep``-ordered) and mask ``features`` (M, 256, 63, 63) of the whole
        chunk; None when none of them has a mask (the mask head is then not run)."""
        if samples.masks is None:
            return None
        with_mask = samples.has_mask.to(keep.device)[keep].nonzero().flatten()
        if with_mask.numel() == 0:
            return None
        per = int(cfg.TRAIN.ROI_PER_IMG)
        mask_rois = rois.view(-1, per, 5)[with_mask].reshape(-1, 5).clone()
        mask_rois[:, 0] = torch.arange(with_mask.numel(), device=rois.device).repeat_interleave(per)
        rows = keep[with_mask]
        return self.mask_loss(features[rows], mask_rois, samples.masks[rows.to(samples.masks.device)])

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M samples -> ``(loss, stats)`` with ``loss_slt``, ``loss_loc``, ``loss_box``, ``loss_mask`` (0 when
        no sample of the chunk has a mask)."""
        device = self.anchors.device
        templates = samples.templates[samples.sequence].to(device).float()
        cls, loc, box_features, mask_features = self.forward_network(templates, samples.crops.to(device).float())
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
        loss_mask = None
        if bool(usable.any()):
            keep = usable.nonzero().flatten()
            gt = torch.from_numpy(crop_gt_to_corners(gt_xywh[keep].cpu().numpy())).to(device, torch.float32)
            rois = self.sample_rois(loc[keep], gt)
            deltas = self.model.bbox_head(box_features[keep], rois).view(-1, 4)
            targets = box_targets(rois[:, 1:], gt.repeat_interleave(int(cfg.TRAIN.ROI_PER_IMG), dim=0))
            loss_box = F.smooth_l1_loss(deltas, targets)
            loss_mask = self.masked_samples_loss(samples, keep, rois, mask_features)
        else:
            loss_box = box_features.sum() * 0.0
        loss = loss + cfg.TRAIN.BBOX_WEIGHT * loss_box
        stats["loss_box"] = loss_box.item()
        if loss_mask is not None:
            loss = loss + cfg.TRAIN.MASK_WEIGHT * loss_mask
        stats["loss_mask"] = 0.0 if loss_mask is None else loss_mask.item()
        return loss, {"loss": loss.item(), **stats}
