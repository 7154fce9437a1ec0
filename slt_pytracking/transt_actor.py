"""SLT-TransT actor: the sequence-level loss on recorded exploration crops (docs/method.md#scst).

``loss = slt_loss_weight * L_scst + 5 * L1 + 2 * GIoU``: the SCST policy-gradient term on the sampled
candidates, plus TransT's box losses (the host ``SetCriterion`` with only its ``'boxes'`` loss and the
``TrackingMatcher``) against the ground truth in each recorded search crop. Exploration is the trainer's
(:class:`slt_pytracking.trainer.SLTTrainer` runs :func:`slt.rollout.explore` with the tracker).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from slt import scst
from slt.boxes import xywh_to_cxcywh
from slt.policy import Shaping
from slt.rollout import Samples
from slt_pytracking import require_patched_host
from slt_pytracking.transt_net import fuse, target_probability, template_features

require_patched_host()

from ltr.actors import BaseActor  # noqa: E402  (host imports after the patch check)
from ltr.models.loss.matcher import build_matcher  # noqa: E402
from ltr.models.tracking.transt import SetCriterion  # noqa: E402


def transt_box_objective() -> SetCriterion:
    """The host's ``transt_loss`` criterion without its classification loss: L1 (weight 5) and GIoU (weight 2)
    on the cells the ``TrackingMatcher`` assigns to the target (every cell inside the ground-truth box)."""
    return SetCriterion(num_classes=1, matcher=build_matcher(), weight_dict={"loss_bbox": 5, "loss_giou": 2},
                        eos_coef=0.0625, losses=["boxes"])


class SLTTransTActor(BaseActor):
    """``actor(samples) -> (loss, stats)``: the SLT-TransT loss of recorded samples, with gradients.

    Args:
        net: the host TransT network (the one the tracker explores with).
        objective: box criterion, :func:`transt_box_objective`.
        shaping: the exploration tracker's policy shaping (``SLTTransT.shaping``): the update's logits are the
            exploration's by construction.
        no_neg_logit: the tracker's score (``TransTExplorationConfig.no_neg_logit``, see
            :func:`~slt_pytracking.transt_net.target_probability`).
        slt_loss_weight: weight of the SCST term (15 in SLT-TransT).
        denominator: :func:`slt.scst.scst_loss` denominator (``"all"``: official, padded samples counted).
    """

    def __init__(self, net: nn.Module, objective: nn.Module, shaping: Shaping, no_neg_logit: bool = False,
                 slt_loss_weight: float = 15.0, denominator: str = "all") -> None:
        super().__init__(net, objective)
        self.shaping = shaping
        self.no_neg_logit = no_neg_logit
        self.slt_loss_weight = slt_loss_weight
        self.denominator = denominator

    def to(self, device: torch.device | str) -> None:
        """Move the network and the criterion to ``device``."""
        super().to(device)
        self.objective.to(device)

    def outputs(self, samples: Samples) -> tuple[Tensor, Tensor, Tensor]:
        """The network on M recorded samples -> ``(logits (M, K), pred_logits (M, K, 2), pred_boxes (M, K, 4))``.

        The template branch runs once per clip present in the samples; ``logits`` are the policy's
        (``shaping.logits`` of the target probabilities), so their argmax is the greedy decision.
        """
        clips, inverse = torch.unique(samples.sequence, return_inverse=True)
        template = template_features(self.net, samples.templates[clips]).index(inverse)
        pred_logits, pred_boxes = fuse(self.net, template, samples.crops)
        shaping = self.shaping.to(pred_logits.device)
        return shaping.logits(target_probability(pred_logits, self.no_neg_logit)), pred_logits, pred_boxes

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (any chunk of a rollout's :class:`~slt.rollout.Samples`), with gradients.

        Box targets are ``samples.gt_in_crop`` (M, 4) xywh crop pixels converted to normalised ``cx cy w h``;
        samples without ground truth (NaN), padded ones, and those whose target centre lies outside the crop
        (the host matcher would index cells with negative numbers) get no box loss. Inputs are never modified.
        """
        logits, pred_logits, pred_boxes = self.outputs(samples)
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator)
        box = self._box_losses(pred_logits, pred_boxes, samples)
        weights = self.objective.weight_dict
        loss_box = sum(box[name] * weights[name] for name in weights) if box else pred_boxes.sum() * 0.0
        loss = self.slt_loss_weight * loss_slt + loss_box
        stats = {"Loss/total": loss.item(), "Loss/sl_clf": loss_slt.item(),
                 "Loss/bbox": box["loss_bbox"].item() if box else 0.0,
                 "Loss/giou": box["loss_giou"].item() if box else 0.0,
                 "bbox_iou": box["iou"].item() if box else 0.0}
        return loss, stats

    def _box_losses(self, pred_logits: Tensor, pred_boxes: Tensor, samples: Samples) -> dict[str, Tensor]:
        """Host ``SetCriterion`` losses over the samples with a usable target; empty dict when there is none."""
        target = xywh_to_cxcywh(samples.gt_in_crop) / samples.crops.shape[-1]
        usable = (samples.mask & torch.isfinite(target).all(-1) & (target[:, 2:] > 0).all(-1)
                  & (target[:, :2] > 0).all(-1) & (target[:, :2] < 1).all(-1))
        if not bool(usable.any()):
            return {}
        rows = usable.nonzero().squeeze(1)
        outputs = {"pred_logits": pred_logits[rows], "pred_boxes": pred_boxes[rows]}
        label = torch.zeros(1, dtype=torch.int64, device=target.device)
        targets = [{"boxes": target[r][None].clone(), "labels": label} for r in rows.tolist()]
        return self.objective(outputs, targets)
