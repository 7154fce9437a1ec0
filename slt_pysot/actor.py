"""``SLTSiamRPNActor``: the SLT-SiamRPN++ loss on recorded exploration samples (docs/method.md#scst).

``actor(samples) -> (loss, stats)``, as :class:`slt.reference.actor.ReferenceSLTActor` does for the reference
network: a fresh training forward of :class:`~slt_pysot.model_builder.SLTModelBuilder` on the recorded template
and search crops, the policy logits rebuilt with the recorded penalty and the exploration tracker's own shaping
object and score rule (``tracker.shaping``, ``tracker.no_neg_logit``: official bug B15 fixed), the SCST term of
:func:`slt.scst.scst_loss`, and PySOT's anchor L1 loss with targets from PySOT's own ``AnchorTarget``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pysot.core.config import cfg
from pysot.datasets.anchor_target import AnchorTarget
from slt import scst
from slt.rollout import Samples
from slt.siamrpn import crop_gt_to_corners, rpn_foreground_prob
from slt_pysot.tracker import SLTSiamRPNTracker


class SLTSiamRPNActor:
    """``CLS_WEIGHT * L_slt + LOC_WEIGHT * L_loc`` for SLT-SiamRPN++ (the loc term only when ``RL_TRAIN_LOC``).

    Built from the exploration tracker (:class:`~slt_pysot.tracker.SLTSiamRPNTracker`): its model, its
    :class:`slt.policy.Shaping` and its ``no_neg_logit``, so the update's logits are the exploration's up to dtype
    (exploration float64, as the stock tracker; the update float32 with the same window cast). Anchor targets
    need ``TRAIN.SEARCH_SIZE == TRACK.INSTANCE_SIZE`` and ``TRAIN.OUTPUT_SIZE`` equal to the tracker's score size
    (checked here). Frames without ground truth (invisible or padded) get all-zero anchor targets,
    i.e. no loc loss, as the official code does. ``AnchorTarget`` keeps a random subset of at most
    ``TRAIN.POS_NUM`` positives (NumPy's global RNG, saved in every checkpoint).
    """

    def __init__(self, tracker: SLTSiamRPNTracker) -> None:
        score_size = tracker.score_size
        if cfg.TRAIN.SEARCH_SIZE != cfg.TRACK.INSTANCE_SIZE or cfg.TRAIN.OUTPUT_SIZE != score_size:
            raise ValueError(
                f"SLT trains on the tracker's own search crops: TRAIN.SEARCH_SIZE ({cfg.TRAIN.SEARCH_SIZE}) must equal "
                f"TRACK.INSTANCE_SIZE ({cfg.TRACK.INSTANCE_SIZE}) and TRAIN.OUTPUT_SIZE ({cfg.TRAIN.OUTPUT_SIZE}) the "
                f"score size {score_size} = (INSTANCE_SIZE - EXEMPLAR_SIZE) // STRIDE + 1 + TRACK.BASE_SIZE"
            )
        self.model = tracker.model
        self.shaping = tracker.shaping
        self.no_neg_logit = tracker.no_neg_logit
        self.score_size = score_size
        self.anchor_num = tracker.anchor_num
        self.anchor_target = AnchorTarget()

    def anchor_targets(self, samples: Samples) -> tuple[Tensor, Tensor]:
        """``label_loc`` ``(M, 4, A, s, s)`` and ``label_loc_weight`` ``(M, A, s, s)`` from ``samples.gt_in_crop``."""
        count = len(samples)
        size = self.score_size
        label_loc = np.zeros((count, 4, self.anchor_num, size, size), dtype=np.float32)
        weight = np.zeros((count, self.anchor_num, size, size), dtype=np.float32)
        gt = samples.gt_in_crop.detach().cpu().double().numpy()
        corners = crop_gt_to_corners(gt)
        usable = samples.mask.cpu().numpy() & np.isfinite(gt).all(1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
        for m in np.flatnonzero(usable):
            _, label_loc[m], weight[m], _ = self.anchor_target(corners[m], size)
        return torch.from_numpy(label_loc), torch.from_numpy(weight)

    def logits(self, samples: Samples) -> tuple[Tensor, dict[str, Tensor]]:
        """Fresh forward on ``templates[sequence]`` (M, 3, 127, 127) and ``crops`` (M, 3, S, S) uint8 BGR ->
        ``(M, K)`` policy logits rebuilt with the recorded ``extras['penalty']`` (M, K), and the network outputs
        (with ``loc_loss`` when ``RL_TRAIN_LOC``)."""
        data = {"template": samples.templates[samples.sequence], "search": samples.crops}
        if cfg.TRAIN.RL_TRAIN_LOC:
            data["label_loc"], data["label_loc_weight"] = self.anchor_targets(samples)
        outputs = self.model(data)
        device = outputs["cls"].device
        fg_prob = rpn_foreground_prob(outputs["cls"], self.no_neg_logit)
        extras = {key: value.to(device) for key, value in samples.extras.items()}
        return self.shaping.to(device).logits(fg_prob, extras), outputs

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M samples (see :meth:`logits`; also ``actions`` (M,), ``rewards`` (M,), ``mask`` (M,))."""
        logits, outputs = self.logits(samples)
        device = logits.device
        loss_slt = scst.scst_loss(logits, samples.actions.to(device), samples.advantages.to(device),
                                  samples.mask.to(device))
        loss = cfg.TRAIN.CLS_WEIGHT * loss_slt
        stats = {"loss_slt": loss_slt.item()}
        if cfg.TRAIN.RL_TRAIN_LOC:
            loss = loss + cfg.TRAIN.LOC_WEIGHT * outputs["loc_loss"]
            stats["loss_loc"] = outputs["loc_loss"].item()
        return loss, {"loss": loss.item(), **stats}
