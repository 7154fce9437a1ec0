"""SLT-TrDiMP actor: the sequence-level loss on recorded exploration crops (docs/method.md#scst).

``loss = sl_clf * L_scst + bb_ce * L_KL`` (4 and 0.01 in SLT-TrDiMP): the SCST policy-gradient term on the
sampled candidates of the final filter iteration's score map (shaped by the exploration tracker's own
:class:`slt.policy.Shaping`), plus the host's ``KLRegression`` loss of the IoU-Net on proposals around the ground
truth in each recorded search crop. The DiMP classification losses of TrDiMP training are not used (as
official). Exploration is the trainer's (:class:`slt_pytracking.trainer.SLTTrainer` runs
:func:`slt.rollout.explore` with the tracker).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from slt import scst
from slt.policy import Shaping
from slt.rollout import Samples
from slt_pytracking import require_patched_host
from slt_pytracking.trdimp_net import TemplateModel, proposals_around, search_scores, template_model, \
    transformer_labels
from slt_pytracking.trdimp_tracker import TrDiMPExplorationConfig

require_patched_host()

from ltr.actors import BaseActor  # noqa: E402  (host imports after the patch check)
from ltr.models.loss.kl_regression import KLRegression  # noqa: E402

LOSS_WEIGHTS = {"sl_clf": 4.0, "bb_ce": 0.01}
"""SLT-TrDiMP loss weights (docs/method.md#hyper-parameters)."""


def trdimp_box_objective() -> dict[str, nn.Module]:
    """The host's IoU-Net loss of TrDiMP training: ``KLRegression`` between the predicted IoU scores of the
    proposals and the ground-truth density, Monte-Carlo over the proposals (``mc_dim=1``)."""
    return {"bb_ce": KLRegression()}


class SLTTrDiMPActor(BaseActor):
    """``actor(samples) -> (loss, stats)``: the SLT-TrDiMP loss of recorded samples, with gradients.

    Args:
        net: the host ``DiMPnet`` (the one the tracker explores with).
        objective: ``{'bb_ce': KLRegression}`` (:func:`trdimp_box_objective`).
        shaping: the exploration tracker's policy shaping (``SLTTrDiMP.shaping``): the update's logits are the
            exploration's by construction.
        config: the exploration tracker's parameters (``SLTTrDiMP.config``): the template model is rebuilt with
            its ``net_opt_iter``, ``image_sample_size`` and ``transformer_label_sigma``.
        loss_weight: ``{'sl_clf': 4.0, 'bb_ce': 0.01}``.
        denominator: :func:`slt.scst.scst_loss` denominator (``"all"``: official, padded samples counted).

    Freezing the IoU-Net as official SLT-TrDiMP does (docs/method.md#b7) is the recipe's explicit option
    (``settings.freeze_iounet``, :func:`slt_pytracking.trdimp_net.freeze_iounet`), not a side effect here.
    """

    def __init__(self, net: nn.Module, objective: dict[str, nn.Module], shaping: Shaping,
                 config: TrDiMPExplorationConfig = TrDiMPExplorationConfig(),
                 loss_weight: dict[str, float] | None = None, denominator: str = "all") -> None:
        super().__init__(net, objective)
        self.shaping = shaping
        self.config = config
        self.loss_weight = {**LOSS_WEIGHTS, **(loss_weight or {})}
        self.denominator = denominator

    def outputs(self, samples: Samples) -> tuple[Tensor, TemplateModel, dict[str, Tensor]]:
        """The network on M recorded samples -> ``(logits (M, 529), per-sample template model, backbone features)``.

        The template model (13 augmented template crops -> encoder memory, DiMP filter, IoU-Net modulation) is
        rebuilt once per clip present in the samples from the recorded uint8 crops and boxes; ``logits`` are
        the policy's (``shaping.logits`` of the score maps), so their argmax is the greedy decision.
        """
        config = self.config
        clips, inverse = torch.unique(samples.sequence, return_inverse=True)
        first = torch.stack([(inverse == c).nonzero()[0, 0] for c in range(len(clips))])
        boxes = samples.extras["template_boxes"][first].transpose(0, 1)  # (K, C, 4)
        crops = samples.templates[clips].transpose(0, 1).float()  # (K, C, 3, S, S)
        labels = transformer_labels(self.net, boxes, config.image_sample_size,
                                    config.transformer_label_sigma).to(crops.device)
        template = template_model(self.net, crops, boxes, labels, config.net_opt_iter).index(inverse)
        scores, feats = search_scores(self.net, template, samples.crops.float())
        return self.shaping.logits(scores.reshape(scores.shape[0], -1)), template, feats

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (any chunk of a rollout's :class:`~slt.rollout.Samples`), with gradients.

        Samples without ground truth (NaN) and padded samples get no box loss. Inputs are never modified.
        """
        logits, template, feats = self.outputs(samples)
        loss_slt = scst.scst_loss(logits, samples.actions, samples.advantages, samples.mask,
                                  denominator=self.denominator)
        bb_ce = self._box_loss(template, feats, samples)
        weighted_slt = self.loss_weight["sl_clf"] * loss_slt
        weighted_bb = self.loss_weight["bb_ce"] * bb_ce
        loss = weighted_slt + weighted_bb
        stats = {"Loss/total": loss.item(), "Loss/bb_ce": bb_ce.item(), "Loss/loss_bb_ce": weighted_bb.item(),
                 "Loss/sl_target_clf": weighted_slt.item(), "ClfTrain/sl_loss": loss_slt.item()}
        return loss, stats

    def _box_loss(self, template: TemplateModel, feats: dict[str, Tensor], samples: Samples) -> Tensor:
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
