"""SLT-TrDiMP actor: exploration and the sequence-level loss on recorded exploration crops (SLT_REFERENCE 3).

``loss = sl_clf * L_scst + bb_ce * L_KL`` (4 and 0.01 in SLT-TrDiMP): the SCST policy-gradient term on the
sampled candidates of the final filter iteration's score map (mean/max-normalised exactly as in
exploration), plus the host's ``KLRegression`` loss of the IoU-Net on proposals around the ground truth in
each recorded search crop. The DiMP classification losses of TrDiMP training are not used (as official).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from slt import scst
from slt.rollout import Rollout, Samples, explore
from slt_pytracking import require_patched_host
from slt_pytracking.trdimp_tracker import SLTTrDiMP, policy_logits, search_scores, template_model, \
    transformer_labels

require_patched_host()

import ltr.data.bounding_box_utils as bbutils  # noqa: E402  (host imports after the patch check)
from ltr.actors import BaseActor  # noqa: E402
from ltr.models.loss.kl_regression import KLRegression  # noqa: E402

logger = logging.getLogger(__name__)

LOSS_WEIGHTS = {"sl_clf": 4.0, "bb_ce": 0.01}
"""SLT-TrDiMP loss weights (SLT_REFERENCE 5.1)."""


def trdimp_box_objective() -> dict[str, nn.Module]:
    """The host's IoU-Net loss of TrDiMP training: ``KLRegression`` between the predicted IoU scores of the
    proposals and the ground-truth density, Monte-Carlo over the proposals (``mc_dim=1``)."""
    return {"bb_ce": KLRegression()}


def proposals_around(gt: Tensor, offsets: Tensor) -> Tensor:
    """``(M, 4)`` IoU-Net ``xywh`` boxes and ``(M, P, 4)`` recorded offsets -> ``(M, P, 4)`` proposal boxes.

    The host's ``sample_box_gmm`` mapping: ``rel_to_rect(offsets + rect_to_rel(gt, gt_wh), gt_wh)``.
    """
    sz_norm = gt[:, None, 2:]
    return bbutils.rel_to_rect(offsets + bbutils.rect_to_rel(gt[:, None], sz_norm), sz_norm)


class SLTTrDiMPActor(BaseActor):
    """``explore(data) -> Rollout`` with the batched tracker, ``actor(samples) -> (loss, stats)`` for the update.

    Args:
        net: the host ``DiMPnet`` (the one ``tracker`` explores with).
        objective: ``{'bb_ce': KLRegression}`` (:func:`trdimp_box_objective`).
        tracker: :class:`~slt_pytracking.trdimp_tracker.SLTTrDiMP` around ``net``; its exploration config
            defines the policy shaping the loss rebuilds.
        loss_weight: ``{'sl_clf': 4.0, 'bb_ce': 0.01}``.
        denominator: :func:`slt.scst.scst_loss` denominator (``"all"``: official, padded samples counted).
        freeze_iounet_in_exploration: reproduce official SLT-TrDiMP (SLT_REFERENCE B7): its exploration sets
            ``requires_grad=False`` on the training network's IoU-Net, which then never trains (``bb_ce`` still
            reaches backbone layer3). Default False: the IoU-Net trains with ``bb_ce``.
    """

    def __init__(self, net: nn.Module, objective: dict[str, nn.Module], tracker: SLTTrDiMP,
                 loss_weight: dict[str, float] | None = None, denominator: str = "all",
                 freeze_iounet_in_exploration: bool = False) -> None:
        super().__init__(net, objective)
        self.tracker = tracker
        self.loss_weight = {**LOSS_WEIGHTS, **(loss_weight or {})}
        self.denominator = denominator
        self.freeze_iounet_in_exploration = freeze_iounet_in_exploration

    def explore(self, data: dict[str, list], generator: torch.Generator | None = None) -> Rollout:
        """Greedy and sampled trajectories over a batch of clips (:func:`slt.rollout.explore`)."""
        if self.freeze_iounet_in_exploration:
            self._freeze_iounet()
        return explore(self.tracker, data, generator)

    def _freeze_iounet(self) -> None:
        params = [p for p in self.net.bb_regressor.parameters() if p.requires_grad]
        if params:
            logger.warning("freeze_iounet_in_exploration=True: the IoU-Net (bb_regressor) is frozen for the rest of "
                           "training, as official SLT-TrDiMP does (SLT_REFERENCE B7)")
        for p in params:
            p.requires_grad_(False)

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (any chunk of a rollout's :class:`~slt.rollout.Samples`), with gradients.

        The template model (13 augmented template crops -> encoder memory, DiMP filter, IoU-Net modulation) is
        rebuilt once per clip present in the chunk from the recorded uint8 crops and boxes. Samples without
        ground truth (NaN) and padded samples get no box loss. Inputs are never modified.
        """
        config = self.tracker.config
        clips, inverse = torch.unique(samples.sequence, return_inverse=True)
        first = torch.stack([(inverse == c).nonzero()[0, 0] for c in range(len(clips))])
        boxes = samples.extras["template_boxes"][first].transpose(0, 1)  # (K, C, 4)
        crops = samples.templates[clips].transpose(0, 1).float()  # (K, C, 3, S, S)
        labels = transformer_labels(self.net, boxes, config).to(crops.device)
        template = template_model(self.net, crops, boxes, labels, config.net_opt_iter).index(inverse)
        scores, feats = search_scores(self.net, template, samples.crops.float())
        logits = policy_logits(scores, config)
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator)
        bb_ce = self._box_loss(template, feats, samples)
        weighted_slt = self.loss_weight["sl_clf"] * loss_slt
        weighted_bb = self.loss_weight["bb_ce"] * bb_ce
        loss = weighted_slt + weighted_bb
        stats = {"Loss/total": loss.item(), "Loss/bb_ce": bb_ce.item(), "Loss/loss_bb_ce": weighted_bb.item(),
                 "Loss/sl_target_clf": weighted_slt.item(), "ClfTrain/sl_loss": loss_slt.item()}
        return loss, stats

    def _box_loss(self, template, feats: dict[str, Tensor], samples: Samples) -> Tensor:
        """``KLRegression`` of the IoU-Net on the proposals of the samples with a usable ground truth (0 if none)."""
        gt = samples.gt_in_crop
        usable = samples.mask & torch.isfinite(gt).all(-1) & (gt[:, 2:] > 0).all(-1)
        iou_feats = self.net.bb_regressor.get_iou_feat(self.net.get_backbone_bbreg_feat(feats))
        if not bool(usable.any()):
            return sum(f.sum() for f in iou_feats) * 0.0
        rows = usable.nonzero().squeeze(1)
        proposals = proposals_around(gt[rows], samples.extras["proposal_offsets"][rows])
        modulation = [m[rows] for m in template.modulation]
        bb_scores = self.net.bb_regressor.predict_iou(modulation, [f[rows] for f in iou_feats], proposals)
        return self.objective["bb_ce"](bb_scores, sample_density=samples.extras["proposal_density"][rows],
                                       gt_density=samples.extras["gt_density"][rows], mc_dim=1)
