"""SLT-SeqTrack actor: the sequence-level loss on recorded exploration crops (a loss module only).

``loss = slt_weight * L_scst + ce_weight * L_ce`` with

* ``L_scst``: :func:`slt.scst.log_prob_scst_loss` of ``log pi(box) = sum_j log pi_j(t_j)``, recomputed with
  gradients by teacher forcing the four recorded tokens (:func:`slt.token_policy.teacher_forced_log_prob`, the
  tracker's :class:`~slt.token_policy.TokenRules`) through the host's encoder on ``[z_1 .. z_K, x]`` and
  ``forward_decoder`` on ``[START, t_0, t_1, t_2]``. Weight :data:`SLT_WEIGHT` = 15, SLT-TransT's
  ``slt_loss_weight``: the advantages are the same mIoU gaps, and the frame-level term below is, like TransT's
  box losses, of order one per sample.
* ``L_ce``: the host's own objective (``lib/train/train_script.py``, ``lib/train/actors/seqtrack.py``): the
  cross-entropy of the decoder fed ``[START, gt tokens]`` against ``[gt tokens, END]``, class weights 1 with
  0.01 on END and START, weight ``cfg.TRAIN.CE_WEIGHT`` (1), on the search crops the tracker actually saw. The
  ground truth in the crop is normalised by the crop side, the convention the tracker decodes with
  (``token / (bins - 1) * search_size``), so the target tokens are the ones that decode to the ground truth.
  Samples without ground truth (NaN), padded or with an empty box get no CE.

Both passes share one encoder forward per chunk; the decoder (2 layers) runs twice.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from slt import scst, token_policy
from slt.box_tokens import seqtrack_box_tokens
from slt.rollout import Samples
from slt_ostrack.seqtrack import host_root
from slt_ostrack.seqtrack.tracker import normalise

host_root()

from lib.train.actors import BaseActor  # noqa: E402  (host imports after the shims)

SLT_WEIGHT = 15.0
SPECIAL_TOKEN_WEIGHT = 0.01
"""The host's cross-entropy class weight of END and START (``lib/train/train_script.py``)."""


def host_cross_entropy(bins: int) -> nn.CrossEntropyLoss:
    """The host's objective: ``CrossEntropyLoss`` over ``bins + 2`` tokens, END and START weighted 0.01."""
    weight = torch.ones(bins + 2)
    weight[bins] = SPECIAL_TOKEN_WEIGHT
    weight[bins + 1] = SPECIAL_TOKEN_WEIGHT
    return nn.CrossEntropyLoss(weight=weight)


class SLTSeqTrackActor(BaseActor):
    """``actor(samples) -> (loss, stats)`` for :func:`slt.update.slt_update`; never explores.

    Args:
        net: the host SeqTrack network, the one the trainer's tracker explores with.
        cfg: the host config (``MODEL.BINS``, ``DATA.SEQ_FORMAT``, ``DATA.SEARCH.SIZE``, ``DATA.MEAN``/``STD``,
            ``TRAIN.CE_WEIGHT``).
        rules: the tracker's token rules (``SLTSeqTrack.rules``), so the update's ``log pi`` is exploration's.
        slt_weight: weight of the SCST term; ``ce_weight``: of the host cross-entropy (None:
            ``cfg.TRAIN.CE_WEIGHT``); ``denominator``: :func:`slt.scst.log_prob_scst_loss`'s (``"all"``: padded
            samples counted, as official SLT).
    """

    def __init__(self, net: nn.Module, cfg: Any, rules: token_policy.TokenRules, slt_weight: float = SLT_WEIGHT,
                 ce_weight: float | None = None, denominator: str = "all") -> None:
        self.bins = int(cfg.MODEL.BINS)
        super().__init__(net, {"ce": host_cross_entropy(self.bins)})
        self.cfg = cfg
        self.rules = rules
        self.weights = {"slt": slt_weight, "ce": float(cfg.TRAIN.CE_WEIGHT if ce_weight is None else ce_weight)}
        self.denominator = denominator
        self.seq_format = cfg.DATA.SEQ_FORMAT
        self.search_size = int(cfg.DATA.SEARCH.SIZE)

    def to(self, device: torch.device | str) -> None:
        self.net.to(device)
        self.objective["ce"].to(device)

    def teacher_forced(self, samples: Samples) -> tuple[list[Tensor], Tensor, Tensor]:
        """Encoder features, teacher-forced decoder logits and ``log pi(box)`` of M recorded samples.

        Uses ``samples.templates[samples.sequence]`` (the first template, uint8), ``extras['templates']``
        (M, K - 1, 3, S, S) the row's other templates at that frame, ``crops`` (M, 3, S, S) and ``actions``
        (M, 4) the recorded tokens. Returns the encoder's output list, ``(M, 4, bins + 2)`` logits and ``(M,)``
        ``log pi`` (with gradients; exploration recorded the same quantity as ``extras['log_prob']``).
        """
        others = samples.extras["templates"]
        images = [normalise(samples.templates[samples.sequence], self.cfg)]
        images += [normalise(others[:, k], self.cfg) for k in range(others.shape[1])]
        features = self.net(images_list=images + [normalise(samples.crops, self.cfg)], mode="encoder")
        tokens = samples.actions.long()
        start = self._start(tokens.shape[0], tokens.device)
        logits = self.net(xz=features, seq=token_policy.teacher_forcing_input(start, tokens), mode="decoder")[-1]
        return features, logits, token_policy.teacher_forced_log_prob(logits, tokens, self.rules.to(tokens.device))

    def _start(self, rows: int, device: torch.device) -> Tensor:
        return torch.full((rows, 1), self.bins + 1, dtype=torch.long, device=device)

    def __call__(self, samples: Samples) -> tuple[Tensor, dict[str, float]]:
        """Loss of M recorded samples (a chunk of :class:`slt.rollout.Samples`), with gradients: the SCST term
        on :meth:`teacher_forced`'s ``log pi``, the host cross-entropy against ``gt_in_crop`` (M, 4) xywh crop
        pixels on the same encoder features."""
        device = samples.crops.device
        features, logits, log_prob = self.teacher_forced(samples)
        loss_slt = scst.log_prob_scst_loss(log_prob, samples.advantages, samples.mask,
                                           denominator=self.denominator).float()

        target = samples.gt_in_crop / self.search_size
        usable = samples.mask & torch.isfinite(target).all(-1) & (target[:, 2:] > 0).all(-1)
        ce = logits.sum() * 0.0
        if bool(usable.any()):
            gt = seqtrack_box_tokens(target[usable].float(), self.bins, self.seq_format)
            end = torch.full((gt.shape[0], 1), self.bins, dtype=torch.long, device=device)
            seq = torch.cat((self._start(gt.shape[0], device), gt), dim=1)
            out = self.net(xz=[f[usable] for f in features], seq=seq, mode="decoder")[-1]
            ce = self.objective["ce"](out.reshape(-1, self.bins + 2), torch.cat((gt, end), dim=1).reshape(-1))
        w = self.weights
        loss = w["slt"] * loss_slt + w["ce"] * ce
        stats = {"Loss/total": loss.item(), "Loss/scst": loss_slt.item(), "Loss/ce": ce.item(),
                 "log_pi": float(log_prob.detach().mean())}
        return loss, stats
