"""The SiamRPN tracking step, written once and host-free: context size, anchor decoding, and the state update.

Both SiamRPN trackers of this project call it: the reference tracker (:mod:`slt.reference.tracker`) and the PySOT
adapter (:mod:`slt_pysot.tracker`). What differs between them is a :class:`SiamRPNConventions`:

* box centre: ``x + (w - 1) / 2`` in pixel-index coordinates (PySOT) or ``x + w / 2`` in continuous ones
  (reference);
* crop region: SiamFC's integer region (:func:`slt.crop.siamfc_region`: rounded side, floored corner; PySOT) or
  the exact square (reference);
* dtype of the state and the shaping: float64 as the stock tracker's NumPy maths (PySOT) or float32 (reference);
* minimum tracked size: 10 px, PySOT's ``_bbox_clip`` (PySOT), or ``TrackerParams.min_size``, 4 px (reference);
* size deltas: ``exp(dw)`` unclamped as PySOT's ``_convert_bbox`` (PySOT) or ``exp(min(dw, 6))`` (reference).

Candidate order is anchor-major, ``a * S * S + y * S + x`` (PySOT's flattening). Anchors and decoded boxes are
``cx, cy, w, h`` in search-crop pixels with the centre relative to the crop centre. Tracker boxes are ``xywh`` image
pixels; the state is a centre (in the convention's coordinates) and a size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from slt import policy
from slt.crop import siamfc_region


def siamfc_context_side(wh: Tensor, context_amount: float) -> Tensor:
    """SiamFC template-region side ``sqrt((w + p)(h + p))``, ``p = context_amount * (w + h)``: ``(..., 2) -> (...)``.

    ``wh`` in pixels; the search region is this side times ``instance_size / exemplar_size``. (TransT's rule,
    ``ceil(sqrt((w + c)(h + c)))`` with ``c = (factor - 1)(w + h) / 2``, is another formula, named after TransT in its adapter.)
    """
    pad = context_amount * wh.sum(-1)
    return torch.sqrt((wh[..., 0] + pad) * (wh[..., 1] + pad))


def decode_deltas(deltas: Tensor, anchors: Tensor, max_log_delta: float | None = None) -> Tensor:
    """Regression deltas ``(B, 4, K)`` (rows dx, dy, dw, dh) + anchors ``(K, 4)`` cx cy w h -> ``(B, K, 4)`` cx cy w h.

    ``cx = dx * w_a + cx_a``, ``cy = dy * h_a + cy_a``, ``w = exp(dw) * w_a``, ``h = exp(dh) * h_a`` (PySOT's
    ``_convert_bbox``); ``max_log_delta`` clamps ``dw, dh`` from above before the exponential (None: no clamp).
    ``deltas`` may be any strided view (e.g. ``(B, K, 4).transpose(1, 2)``).
    """
    dw, dh = deltas[:, 2], deltas[:, 3]
    if max_log_delta is not None:
        dw, dh = dw.clamp(max=max_log_delta), dh.clamp(max=max_log_delta)
    cx = deltas[:, 0] * anchors[:, 2] + anchors[:, 0]
    cy = deltas[:, 1] * anchors[:, 3] + anchors[:, 1]
    return torch.stack((cx, cy, torch.exp(dw) * anchors[:, 2], torch.exp(dh) * anchors[:, 3]), dim=-1)


def rpn_deltas(loc: Tensor) -> Tensor:
    """PySOT RPN box output ``(B, 4A, s, s)`` (channel ``c * A + a``: delta ``c`` of anchor ``a``) -> ``(B, 4, K)``."""
    return loc.reshape(loc.shape[0], 4, -1)


def rpn_foreground_prob(cls: Tensor, no_neg_logit: bool = False) -> Tensor:
    """PySOT RPN classification output ``(B, 2A, s, s)`` -> ``(B, K)`` target probability per anchor.

    Channel block 0 is the background, block 1 the target: ``sigmoid(block1 - block0)`` (= PySOT's
    ``softmax(...)[:, 1]``), or ``sigmoid(block1)`` with ``no_neg_logit``.
    """
    blocks = cls.reshape(cls.shape[0], 2, -1)
    return torch.sigmoid(blocks[:, 1] if no_neg_logit else blocks[:, 1] - blocks[:, 0])


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


@dataclass(frozen=True)
class SiamRPNConventions:
    """The conventions in which two SiamRPN trackers differ (see the module docstring).

    ``pixel_index_centre``: a box ``x, y, w, h`` has its centre at ``x + (w - 1) / 2`` and crops are SiamFC's
    integer regions (PySOT), or the centre is ``x + w / 2`` and crops are exact squares (continuous coordinates).
    ``dtype``: the dtype of the state and of the shaping (scores are cast to it before the logits).
    ``min_size``: the smallest tracked width and height, pixels. ``max_log_delta``: clamp of ``dw, dh``.
    """

    pixel_index_centre: bool
    dtype: torch.dtype
    min_size: float
    max_log_delta: float | None

    def centre(self, boxes: Tensor) -> Tensor:
        """``(B, 4)`` xywh pixels -> ``(B, 2)`` centres in this convention (same dtype as ``boxes``)."""
        if self.pixel_index_centre:
            return boxes[:, :2] + (boxes[:, 2:] - 1) / 2
        return boxes[:, :2] + boxes[:, 2:] / 2

    def region(self, centre: Tensor, side: Tensor) -> Tensor:
        """``(B, 2)`` centres and ``(B,)`` sides -> ``(B, 4)`` crop squares ``x0, y0, side, side`` (continuous)."""
        if self.pixel_index_centre:
            return siamfc_region(centre, side)
        return torch.cat((centre - side[:, None] / 2, side[:, None], side[:, None]), dim=1)


PYSOT = SiamRPNConventions(pixel_index_centre=True, dtype=torch.float64, min_size=10.0, max_log_delta=None)
"""STVIR/pysot's ``SiamRPNTracker``: greedy rows reproduce its ``track`` up to float rounding."""

REFERENCE = SiamRPNConventions(pixel_index_centre=False, dtype=torch.float32, min_size=4.0, max_log_delta=6.0)
"""The reference tracker (:mod:`slt.reference.tracker`); its ``min_size`` follows ``TrackerParams.min_size``."""


@dataclass(frozen=True)
class SiamRPNState:
    """``B`` trajectories: ``centre`` ``(B, 2)`` (the conventions' coordinates) and ``size`` ``(B, 2)`` w h, pixels."""

    centre: Tensor
    size: Tensor

    def boxes(self) -> Tensor:
        """``(B, 4)`` reported boxes ``[cx - w / 2, cy - h / 2, w, h]`` (PySOT's ``track`` rule, both conventions)."""
        return torch.cat((self.centre - self.size / 2, self.size), dim=1)


@dataclass(frozen=True)
class SiamRPNDecision:
    """One frame's decision: the new ``state``, ``actions`` ``(B,)`` anchor indices, ``penalty`` ``(B, K)`` (the
    scale/ratio penalty the logits used: record it for the update) and ``logits`` ``(B, K)``."""

    state: SiamRPNState
    actions: Tensor
    penalty: Tensor
    logits: Tensor


@dataclass(frozen=True)
class SiamRPNRules:
    """SiamRPN++'s tracking rules (PySOT's TRACK block) in one tracker's conventions.

    ``exemplar_size`` / ``instance_size``: template and search crop sides (pixels); ``context_amount``: the
    SiamFC context; ``penalty_k``: the scale/ratio penalty strength; ``size_lr``: the size learning rate.
    """

    exemplar_size: int
    instance_size: int
    context_amount: float
    penalty_k: float
    size_lr: float
    conventions: SiamRPNConventions

    @property
    def dtype(self) -> torch.dtype:
        return self.conventions.dtype

    def start(self, boxes: Tensor, copies: int = 1) -> SiamRPNState:
        """The state of ``copies * N`` trajectories (copy-major) starting at ``(N, 4)`` xywh ``boxes``."""
        boxes = boxes.detach().to(dtype=self.dtype)
        return SiamRPNState(centre=self.conventions.centre(boxes).repeat(copies, 1),
                            size=boxes[:, 2:].repeat(copies, 1))

    def template_region(self, boxes: Tensor) -> Tensor:
        """``(N, 4)`` xywh template boxes -> ``(N, 4)`` template crop squares (side :func:`siamfc_context_side`)."""
        boxes = boxes.detach().to(dtype=self.dtype)
        return self.conventions.region(self.conventions.centre(boxes),
                                       siamfc_context_side(boxes[:, 2:], self.context_amount))

    def search(self, state: SiamRPNState) -> tuple[Tensor, Tensor]:
        """``(scale_z (B,), regions (B, 4))``: crop pixels per image pixel, and the search squares around the state."""
        side_z = siamfc_context_side(state.size, self.context_amount)
        scale_z = self.exemplar_size / side_z
        regions = self.conventions.region(state.centre, side_z * (self.instance_size / self.exemplar_size))
        return scale_z, regions

    def step(
        self,
        state: SiamRPNState,
        fg_prob: Tensor,
        pred: Tensor,
        scale_z: Tensor,
        image_wh: Tensor,
        shaping: policy.Shaping,
        action_mode: str,
        random: policy.Randomness = None,
    ) -> SiamRPNDecision:
        """Penalty -> ``shaping.logits`` -> :func:`slt.policy.select_actions` -> size learning rate -> new state.

        ``fg_prob`` ``(B, K)`` target probabilities and ``pred`` ``(B, K, 4)`` decoded anchors (cx cy w h, crop
        pixels, centre relative to the crop centre) in the network's dtype; ``scale_z`` ``(B,)`` from
        :meth:`search`; ``image_wh`` ``(B, 2)`` each row's image width and height. The penalty compares the
        candidates with the previous size in crop pixels; the chosen candidate moves the centre by its offset
        and the size by ``lr = penalty * fg_prob * size_lr`` towards its size; the centre is clipped to
        ``[0, W] x [0, H]`` and the size to ``[min_size, W] x [min_size, H]`` (PySOT's ``_bbox_clip``).
        Scores are cast to the conventions' dtype before the shaping; ``pred`` is not (the stock tracker computes
        the penalty from float32 boxes too). Non-finite logits raise ``FloatingPointError``.
        """
        dtype = self.dtype
        penalty = policy.scale_ratio_penalty(pred[..., 2:], state.size * scale_z[:, None], self.penalty_k)
        logits = shaping.logits(fg_prob.to(dtype), {shaping.penalty: penalty} if shaping.penalty else None)
        if not bool(torch.isfinite(logits).all()):
            raise FloatingPointError("non-finite policy logits in exploration: the network's box or score outputs "
                                     "overflow (untrained or diverged weights?)")
        actions = policy.select_actions(logits, action_mode, random)
        rows = torch.arange(actions.shape[0], device=actions.device)
        chosen = pred[rows, actions].to(dtype) / scale_z[:, None]
        lr = (penalty[rows, actions] * fg_prob[rows, actions].to(dtype) * self.size_lr)[:, None]
        centre = state.centre + chosen[:, :2]
        size = state.size * (1 - lr) + chosen[:, 2:] * lr
        image_wh = image_wh.to(dtype)
        new = SiamRPNState(centre=torch.minimum(centre, image_wh).clamp(min=0.0),
                           size=torch.minimum(size, image_wh).clamp(min=self.conventions.min_size))
        return SiamRPNDecision(state=new, actions=actions, penalty=penalty, logits=logits)

    def image_wh(self, frames: Sequence[np.ndarray], copies: int, device: torch.device | str) -> Tensor:
        """``(copies * N, 2)`` width and height of N HxWx3 frames, repeated copy-major, in the conventions' dtype."""
        return torch.tensor([[f.shape[1], f.shape[0]] for f in frames], dtype=self.dtype,
                            device=device).repeat(copies, 1)


def siamrpn_shaping(
    score_size: int,
    num_anchors: int,
    window_influence: float,
    temperature: float,
    sig_eps: float,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> policy.Shaping:
    """SiamRPN++'s policy shaping: the recorded ``penalty`` times the scores, a cosine window ``(A * s * s,)`` in
    ``dtype`` (:func:`slt.policy.hann_window`), the stable inverse sigmoid and the temperature."""
    window = policy.hann_window(score_size, num_anchors, dtype=dtype).to(device)
    return policy.Shaping(window=window, window_influence=window_influence, temperature=temperature,
                          sig_eps=sig_eps, penalty="penalty")
