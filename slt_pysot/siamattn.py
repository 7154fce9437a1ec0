"""``SLTSiamAttnTracker``: SiamAttn's ``SiamMaskTracker`` plus the batched exploration API of :mod:`slt.rollout`.

SiamAttn (msight-tech/research-siamattn, a PySOT fork, CC BY-NC 4.0; the user brings the checkout) tracks like
SiamRPN++ on attention-enhanced features, then refines the chosen anchor's box with its box head (deformable RoI
pooling, 4x4 bins) and draws a mask. SLT-SiamAttn keeps the policy of SLT-SiamRPN++ on the RPN classification
(:meth:`slt.siamrpn.SiamRPNRules.step` gives the penalty, logits and action) and lets the *refined* box of the
chosen anchor update the state, as the stock ``track`` does; the mask branch is not run during exploration.

Importing this module installs the PyTorch deformable ops (:func:`slt_pysot.deform_ops.install`) before anything
imports SiamAttn's models, registers SLT's cfg keys and ``TRACKS['SLTSiamAttnTracker']``. Its test-time
``init()`` / ``track()`` are SiamAttn's, unchanged. Images are HxWx3 uint8 BGR; boxes xywh pixels with PySOT's
centre ``x + (w - 1) / 2``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from slt_pysot import deform_ops

deform_ops.install()

from pysot.core.config import cfg  # noqa: E402  (after install: SiamAttn's models import the extension)
from pysot.tracker.siammask_tracker import SiamMaskTracker  # noqa: E402
from pysot.tracker.tracker_builder import TRACKS  # noqa: E402

from slt import policy  # noqa: E402
from slt.rollout import TrackStep  # noqa: E402
from slt.siamrpn import PYSOT, SiamRPNState, decode_deltas, rpn_deltas, rpn_foreground_prob  # noqa: E402
from slt_pysot.config import register_slt_cfg  # noqa: E402
from slt_pysot.tracker import SLTSiamRPNTracker  # noqa: E402


def rpn_rois(chosen: Tensor, instance_size: int, min_size: float = 10.0) -> tuple[Tensor, Tensor]:
    """Chosen anchors' boxes ``(B, 4)`` cx cy w h (crop pixels, centre relative to the crop centre, float32) ->
    ``(clipped (B, 4) cx cy w h in absolute crop pixels, rois (B, 5))``.

    As SiamAttn's ``track``: the centre moves to absolute crop pixels (``+ instance_size / 2``), is clipped to
    ``[0, S - 1]`` and the size to ``[min_size, S - 1]`` (SiamAttn's ``_bbox_clip`` stops one pixel short of
    STVIR/pysot's); the RoI is ``(row, cx - w/2 + 0.5, cy - h/2 + 0.5,
    cx + w/2 - 0.5, cy + h/2 - 0.5)`` (inclusive pixel corners), row ``r`` pooling from batch row ``r``.
    """
    centre = (chosen[:, :2] + instance_size / 2).clamp(0.0, float(instance_size - 1))
    size = chosen[:, 2:].clamp(min_size, float(instance_size - 1))
    rows = torch.arange(chosen.shape[0], device=chosen.device, dtype=chosen.dtype)[:, None]
    rois = torch.cat((rows, centre - size * 0.5 + 0.5, centre + size * 0.5 - 0.5), dim=1)
    return torch.cat((centre, size), dim=1), rois


def refine_boxes(deltas: Tensor, rpn_box: Tensor, stds: Sequence[float] | None,
                 means: Sequence[float] | None) -> Tensor:
    """Box-head deltas ``(B, 4)`` + the RPN boxes they refine ``(B, 4)`` cx cy w h (crop pixels) -> ``(B, 4)``
    refined cx cy w h: ``d * stds + means`` (when the targets were normalised), then ``cx + dx * w``,
    ``cy + dy * h``, ``w * exp(dw)``, ``h * exp(dh)``."""
    if stds is not None:
        deltas = deltas * torch.tensor(stds, dtype=deltas.dtype, device=deltas.device) + \
            torch.tensor(means, dtype=deltas.dtype, device=deltas.device)
    return torch.cat((deltas[:, :2] * rpn_box[:, 2:] + rpn_box[:, :2], torch.exp(deltas[:, 2:]) * rpn_box[:, 2:]),
                     dim=1)


class SLTSiamAttnTracker(SiamMaskTracker, SLTSiamRPNTracker):
    """SiamAttn tracker with ``batch_init`` / ``batch_track`` over ``copies * N`` copy-major trajectories.

    ``batch_init`` is :meth:`SLTSiamRPNTracker.batch_init` (template crops, features repeated per copy);
    ``track`` / ``init`` are SiamAttn's ``SiamMaskTracker``'s. ``shaping``, ``rules`` and ``no_neg_logit`` come
    from the cfg as SLT-SiamRPN++'s do (``TRACK.PENALTY_K``, ``TRACK.WINDOW_INFLUENCE``, ``TRAIN.TEMP``,
    ``TRAIN.SIG_EPS``).
    """

    def __init__(self, model: torch.nn.Module, crop: str | None = None) -> None:
        SLTSiamRPNTracker.__init__(self, model, crop)
        if not hasattr(self.model, "bbox_head"):
            raise ValueError("SLTSiamAttnTracker needs SiamAttn's box head: set MASK.MASK: true in the config")
        precomputed = bool(cfg.TRAIN.BBOX_NORMALIZE_TARGETS_PRECOMPUTED)
        self.bbox_stds = tuple(cfg.TRAIN.BBOX_NORMALIZE_STDS) if precomputed else None
        self.bbox_means = tuple(cfg.TRAIN.BBOX_NORMALIZE_MEANS) if precomputed else None

    def batch_track(
        self,
        frames: Sequence[np.ndarray],
        action_mode: str = "half",
        random: policy.Randomness = None,
    ) -> TrackStep:
        """Track one frame per clip (N HxWx3 uint8 BGR) for every trajectory -> :class:`slt.rollout.TrackStep`.

        ``boxes`` ``(B, 4)`` xywh image pixels (SiamAttn's reported box), ``actions`` ``(B,)`` anchor indices,
        ``crops`` ``(B, 3, 255, 255)`` float32 BGR, ``regions`` ``(B, 4)``, ``extras['penalty']`` ``(B, K)``.
        The chosen anchor's box is refined by the box head; the refined box (divided by ``scale_z`` and placed
        relative to the crop box ``centre - round(s_x) / 2`` as the stock tracker does) moves the centre, and
        the size moves towards it by ``lr = penalty * score * TRACK.LR``; then SiamAttn's clip to the image:
        centre to ``[0, W - 1] x [0, H - 1]``, size to ``[10, W - 1] x [10, H - 1]``.
        """
        state = self.state
        scale_z, regions = self.rules.search(state)
        crops = self._search_crops(frames, regions)
        outputs = self.model.track(crops)
        fg_prob = rpn_foreground_prob(outputs["cls"], self.no_neg_logit)
        pred = decode_deltas(rpn_deltas(outputs["loc"]), self.anchors_t, PYSOT.max_log_delta)
        image_wh = self.rules.image_wh(frames, self.copies, self.device)
        decision = self.rules.step(state, fg_prob, pred, scale_z, image_wh, self.shaping, action_mode, random)
        actions = decision.actions
        rows = torch.arange(actions.shape[0], device=actions.device)
        rpn_box, rois = rpn_rois(pred[rows, actions], self.rules.instance_size)
        deltas = self.model.bbox_refine(rois).view(-1, 4).to(PYSOT.dtype)
        refined = refine_boxes(deltas, rpn_box.to(PYSOT.dtype), self.bbox_stds, self.bbox_means)
        box = refined / scale_z[:, None]
        corner = state.centre - regions[:, 2:3].to(PYSOT.dtype) / 2  # regions' side is the rounded s_x
        lr = (decision.penalty[rows, actions] * fg_prob[rows, actions].to(PYSOT.dtype) * self.rules.size_lr)[:, None]
        centre = box[:, :2] + corner
        size = state.size * (1 - lr) + box[:, 2:] * lr
        image_wh = image_wh.to(PYSOT.dtype) - 1
        self.state = SiamRPNState(centre=torch.minimum(centre, image_wh).clamp(min=0.0),
                                  size=torch.minimum(size, image_wh).clamp(min=PYSOT.min_size))
        return TrackStep(boxes=self.state.boxes().float(), actions=actions, crops=crops, regions=regions.float(),
                         extras={"penalty": decision.penalty.float()})


register_slt_cfg(cfg)
TRACKS["SLTSiamAttnTracker"] = SLTSiamAttnTracker
