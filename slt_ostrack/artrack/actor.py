"""SLT-ARTrack actor: the loss of recorded exploration samples, with a selectable objective (a loss module only).

Every sample is a search crop the tracker saw, the row's decoder start ``prefix`` (28 history tokens of its own
trajectory and START), its 4 recorded box tokens and the ground truth in the decoding frame. The backbone runs once
per sample; the objectives differ in how the head is run:

* ``"scst"``: teacher forcing with the recorded tokens (``[prefix, t0, t1, t2]``, ``stage=None``) gives the 4
  positions' logits; ``L_scst`` = :func:`slt.scst.log_prob_scst_loss` of ``log pi(box)``
  (:func:`slt.token_policy.teacher_forced_log_prob`, the function exploration recorded) with the trajectory's
  advantage; plus the host's box loss on the same logits: ``SIoU_loss`` (``lib/train/actors/artrack_seq.py``) of
  :func:`slt.box_tokens.artrack_expected_box` against :func:`slt.box_tokens.artrack_target_box` of the ground
  truth. ``loss = slt_weight * L_scst + giou_weight * SIoU``.
* ``"rollout"``: ARTrack's own sequence-stage objective (``ARTrackSeqActor.compute_sequence_losses``): the host
  network re-decodes greedily from the recorded prefix on the recorded crop (``stage="forward_pass"``, with
  gradients) and ``loss = giou_weight * SIoU`` of the expected box of those logits. No reward. (The host adds a
  cross-entropy term with weight 0, left out.) Here the rollouts are the recorded trajectories, the sampled ones;
  ARTrack's own rollouts are greedy.
* ``"sum"``: the sum of the two losses above.

Weights: ``giou_weight = cfg.TRAIN.GIOU_WEIGHT`` (2, the host's); ``slt_weight`` 15, SLT-TransT's
``slt_loss_weight`` next to its GIoU weight 2 (SLT-OSTrack's choice too). Samples without ground truth (NaN),
padded or empty get no SIoU term.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from slt import scst, token_policy
from slt.box_tokens import artrack_expected_box, artrack_target_box
from slt.rollout import Samples
from slt_ostrack import host_root
from slt_ostrack.artrack.tracker import backbone_features, head_logits
from slt_ostrack.tracker import normalise

host_root()

from lib.train.actors import BaseActor  # noqa: E402  (host imports after the shims)
from lib.train.actors.artrack_seq import SIoU_loss  # noqa: E402

OBJECTIVES = ("scst", "rollout", "sum")
SLT_WEIGHT = 15.0
SIOU_THETA = 4
"""``SIoU_loss``'s shape-cost exponent, as the host's sequence stage calls it."""


class SLTARTrackActor(BaseActor):
    """``actor(samples) -> (loss, stats)`` for :func:`slt.update.slt_update`; never explores.

    Args:
        net: the host ``ARTrackSeq`` network, the one the trainer's tracker explores with.
        cfg: the host config (``MODEL.{BINS,RANGE,PRENUM}``, ``DATA.SEARCH.SIZE``, ``TRAIN.GIOU_WEIGHT``).
        rules: the tracker's :class:`slt.token_policy.TokenRules` (``SLTARTrack.rules``), so the update's
            log-probabilities are exploration's.
        objective: ``"scst"``, ``"rollout"`` or ``"sum"`` (module docstring).
        slt_weight: weight of ``L_scst``; denominator: :func:`slt.scst.log_prob_scst_loss`'s.
    """

    def __init__(self, net: nn.Module, cfg: Any, rules: token_policy.TokenRules, objective: str = "scst",
                 slt_weight: float = SLT_WEIGHT, denominator: str = "all") -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown SLT-ARTrack objective {objective!r}; expected one of {OBJECTIVES}")
        super().__init__(net, {"siou": SIoU_loss})
        self.cfg = cfg
        self.rules = rules
        self.objective_name = objective
        self.weights = {"slt": slt_weight, "giou": float(cfg.TRAIN.GIOU_WEIGHT)}
        self.denominator = denominator
        self.bins = int(cfg.MODEL.BINS)
        self.coord_range = int(cfg.MODEL.RANGE)
        self.history_tokens = 4 * int(cfg.MODEL.PRENUM)
        self.search_size = int(cfg.DATA.SEARCH.SIZE)

    def features(self, samples: Samples) -> Tensor:
        """``(M, Lz + Lx, C)`` backbone features of the samples' template and search crops, with gradients."""
        return backbone_features(self.net, normalise(samples.templates[samples.sequence]), normalise(samples.crops))

    def teacher_forced_logits(self, features: Tensor, samples: Samples) -> Tensor:
        """``(M, 4, V)`` logits of the 4 positions with the recorded tokens teacher-forced."""
        seq = token_policy.teacher_forcing_input(samples.extras["prefix"], samples.actions)
        return head_logits(self.net, features, seq)[:, -self.rules.num_tokens:]

    def log_probs(self, samples: Samples) -> Tensor:
        """``(M,)`` ``log pi(box)`` of the recorded tokens, recomputed with gradients."""
        logits = self.teacher_forced_logits(self.features(samples), samples)
        return token_policy.teacher_forced_log_prob(logits, samples.actions, self.rules)

    def rollout_logits(self, features: Tensor, samples: Samples) -> Tensor:
        """``(M, 4, V)`` logits of the host's greedy re-decoding from the recorded prefix (``stage="forward_pass"``,
        the call of ``compute_sequence_losses``)."""
        net = self.net
        history = samples.extras["prefix"][:, : self.history_tokens]
        out = net.pix_head(features, net.backbone.pos_embed_z, net.backbone.pos_embed_x, net.identity, history,
                           stage="forward_pass")
        return out["feat"].transpose(0, 1)

    def siou(self, logits: Tensor, target: Tensor, usable: Tensor) -> tuple[Tensor, Tensor]:
        """Mean ``SIoU_loss`` and mean IoU of the expected boxes of ``logits`` (M, 4, V) on the usable samples."""
        if not bool(usable.any()):
            zero = logits.sum() * 0.0
            return zero, zero.detach()
        pred = artrack_expected_box(logits[usable], self.bins, self.coord_range)
        loss, iou = self.objective["siou"](pred, target[usable], SIOU_THETA)
        return loss.mean(), iou.detach().mean()

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (a chunk of :class:`slt.rollout.Samples`), with gradients.

        ``samples.actions`` (M, 4) tokens; ``samples.extras['prefix']`` (M, 29); ``samples.gt_in_crop`` (M, 4) xywh
        pixels of the decoding frame, divided by the search size -> normalised, then x1 y1 x2 y2.
        """
        features = self.features(samples)
        gt = samples.gt_in_crop / self.search_size
        corners = torch.cat((gt[:, :2], gt[:, :2] + gt[:, 2:]), dim=1)
        usable = samples.mask & torch.isfinite(gt).all(-1) & (gt[:, 2:] > 0).all(-1)
        target = artrack_target_box(torch.nan_to_num(corners), self.bins, self.coord_range)
        w = self.weights
        stats: dict[str, float] = {}
        loss = features.sum() * 0.0
        if self.objective_name in ("scst", "sum"):
            logits = self.teacher_forced_logits(features, samples)
            log_prob = token_policy.teacher_forced_log_prob(logits, samples.actions, self.rules)
            loss_slt = scst.log_prob_scst_loss(log_prob, samples.advantages, samples.mask,
                                               denominator=self.denominator).float()
            siou, iou = self.siou(logits, target, usable)
            loss = loss + w["slt"] * loss_slt + w["giou"] * siou
            stats.update({"Loss/scst": loss_slt.item(), "Loss/siou": siou.item(), "IoU": float(iou)})
        if self.objective_name in ("rollout", "sum"):
            siou, iou = self.siou(self.rollout_logits(features, samples), target, usable)
            loss = loss + w["giou"] * siou
            stats.update({"Loss/siou_rollout": siou.item(), "IoU_rollout": float(iou)})
        stats["Loss/total"] = loss.item()
        return loss, stats
