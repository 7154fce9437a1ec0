"""``SLTSiamRPNActor``: the SLT-SiamRPN++ loss on recorded exploration samples (SLT_REFERENCE section 3).

``actor(samples) -> (loss, stats)``, as :class:`slt.reference.actor.ReferenceSLTActor` does for the reference
network: a fresh training forward of :class:`~slt_pysot.model_builder.SLTModelBuilder` on the recorded template
and search crops, the policy logits rebuilt with the recorded penalty and exactly the exploration shaping
(:func:`slt_pysot.tracker.policy_logits`, ``NO_NEG_LOGIT`` included: official bug B15 fixed), the SCST term of
:func:`slt.scst.scst_loss`, and PySOT's anchor L1 loss with targets from PySOT's own ``AnchorTarget``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pysot.core.config import cfg
from pysot.datasets.anchor_target import AnchorTarget
from slt import policy, scst
from slt.rollout import Samples
from slt_pysot.tracker import foreground_prob, policy_logits


def crop_gt_to_corners(gt_in_crop: np.ndarray) -> np.ndarray:
    """``(M, 4)`` ground truth xywh in continuous crop pixels -> ``(M, 4)`` x1y1x2y2 in PySOT's crop frame.

    Crop pixel ``k`` covers ``[k, k + 1)`` in the continuous frame (:mod:`slt.crop`) and has index ``k`` in
    PySOT's frame, whose anchors sit at ``SEARCH_SIZE // 2 + stride * j`` (the crop centre is the index
    ``(S - 1) / 2``, where the tracker's centre ``x + (w - 1) / 2`` lands). So the centre moves by -0.5 px and
    the size is kept. Rows with NaN stay NaN.
    """
    centre = gt_in_crop[:, :2] + gt_in_crop[:, 2:] / 2 - 0.5
    half = gt_in_crop[:, 2:] / 2
    return np.concatenate((centre - half, centre + half), axis=1)


class SLTSiamRPNActor:
    """``CLS_WEIGHT * L_slt + LOC_WEIGHT * L_loc`` for SLT-SiamRPN++ (the loc term only when ``RL_TRAIN_LOC``).

    The recorded crops must come from :class:`~slt_pysot.tracker.SLTSiamRPNTracker` with the same cfg; anchor
    targets need ``TRAIN.SEARCH_SIZE == TRACK.INSTANCE_SIZE`` and ``TRAIN.OUTPUT_SIZE`` equal to the tracker's
    score size (checked here). Frames without ground truth (invisible or padded) get all-zero anchor targets,
    i.e. no loc loss, as the official code does. ``AnchorTarget`` keeps a random subset of at most
    ``TRAIN.POS_NUM`` positives (NumPy's global RNG, saved in every checkpoint).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        score_size = (cfg.TRACK.INSTANCE_SIZE - cfg.TRACK.EXEMPLAR_SIZE) // cfg.ANCHOR.STRIDE + 1 + cfg.TRACK.BASE_SIZE
        if cfg.TRAIN.SEARCH_SIZE != cfg.TRACK.INSTANCE_SIZE or cfg.TRAIN.OUTPUT_SIZE != score_size:
            raise ValueError(
                f"SLT trains on the tracker's own search crops: TRAIN.SEARCH_SIZE ({cfg.TRAIN.SEARCH_SIZE}) must equal "
                f"TRACK.INSTANCE_SIZE ({cfg.TRACK.INSTANCE_SIZE}) and TRAIN.OUTPUT_SIZE ({cfg.TRAIN.OUTPUT_SIZE}) the "
                f"score size {score_size} = (INSTANCE_SIZE - EXEMPLAR_SIZE) // STRIDE + 1 + TRACK.BASE_SIZE"
            )
        self.model = model
        self.score_size = score_size
        self.anchor_num = len(cfg.ANCHOR.RATIOS) * len(cfg.ANCHOR.SCALES)
        self.window = policy.hann_window(score_size, self.anchor_num)
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
        fg_prob = foreground_prob(outputs["cls"], cfg.TRAIN.NO_NEG_LOGIT)
        return policy_logits(fg_prob, samples.extras["penalty"].to(device), self.window.to(device)), outputs

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
