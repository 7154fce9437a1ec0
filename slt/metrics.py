"""One-pass evaluation (OPE) metrics and the published evaluation protocols, by name.

Boxes are xywh, pixels, 0-based top-left; arrays are float64. Building blocks:

* IoU: :func:`iou_xywh`, which delegates to :func:`slt.boxes.box_iou_xywh` (the project's one IoU formula, capped at
  1, 0 for invalid boxes);
* success curve: fraction of frames with IoU strictly greater than each of the 21 thresholds ``0, 0.05, ..., 1``
  (so a perfect tracker scores 20/21, not 1, at threshold 1); AUC = mean of that curve, in percent (a perfect
  tracker gets 100 * 20/21 = 95.24);
* precision: fraction of frames with centre error <= 20 px; normalised precision: <= 0.2 with the offset divided
  by the ground-truth size per axis (LaSOT/TrackingNet);
* GOT-10k: AO = mean IoU, SR50/SR75 = fraction of frames with IoU > 0.5 / 0.75.

Protocols (:data:`PROTOCOLS`, :func:`evaluate_ope`); each was checked against its reference toolkit on the same
inputs (``tests/test_protocols.py``; host tests in ``tests/test_protocol_hosts.py``):

* ``'lasot'``: per video, all frames count, frame 0 included (its prediction is replaced by the ground truth, as
  PyTracking's ``calc_seq_err_robust`` does; PySOT's ``tools/test.py`` writes the ground truth through its centre
  convention, half a pixel off, so on PySOT result files success can differ by one threshold of frame 0); frames
  whose ground truth is invalid or whose target is not visible (full occlusion or out of view) count as failures.
  Success, precision and normalised-precision curves are averaged over videos; AUC = mean of the averaged success
  curve. Equal to
  PyTracking's ``extract_results`` + ``plot_results`` (visionml/pytracking 7eb9e74) and PySOT's ``OPEBenchmark``
  (STVIR/pysot d04028f8e18c) with LaSOT's absent flags.
* ``'otb'``: as ``'lasot'`` but visibility flags are ignored (OTB has none). Frames with invalid ground truth (OTB
  has none either) fail in success and precision and, as in PyTracking, count as normalised-precision successes.
  Equal to PyTracking's ``extract_results`` for OTB; PySOT's ``OPEBenchmark`` agrees on AUC, and on precision too
  where every ground-truth box is valid (it counts invalid-ground-truth frames as precision successes).
* ``'got10k'``: frame 0 excluded, only visible frames scored (GOT-10k's ``cover > 0``), IoUs pooled over all frames
  of all videos; AO, SR0.5, SR0.75. Both boxes are first clipped to the image (the got10k toolkit's
  ``rect_iou(..., bound=resolution)``) when the image sizes are given. Equal to got10k 0.1.3's
  ``ExperimentGOT10k.report`` (to 1e-15: that toolkit adds machine epsilon to the union).
* ``'pooled'``: frame 0, invalid and invisible frames excluded, every remaining frame of every video pooled; all six
  scores. This is the project's earlier variant; its AUC is NOT comparable with published LaSOT/OTB tables.

Known differences from the references, on inputs the project's trackers do not produce: an invalid *prediction*
(NaN, zero or negative size) is a failure here (IoU 0, infinite centre error), whereas PyTracking raises on NaN or
negative sizes and carries the previous box over a zero-size one, and PySOT measures the centre error of a zero-size
box. PyTracking does not cap IoU at 1 (identical non-integer boxes can score above threshold 1.0 there), and
upstream PyTracking (7eb9e74, not the TransT fork) also treats a ground-truth box with ``x <= 0`` or ``y <= 0`` as
invalid; here, as in PySOT, a box is valid when ``w > 0`` and ``h > 0`` (and finite). Scalar scores are in percent;
curves are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from slt.boxes import box_iou_xywh

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
"""IoU thresholds of the success curve (OTB/LaSOT/pysot/PyTracking)."""

PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
"""Centre-error thresholds (px) of the precision curve; index 20 is the reported 20 px."""

NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
"""Normalised centre-error thresholds; index 20 is the reported 0.2."""

PROTOCOLS = ("lasot", "otb", "got10k", "pooled")
"""Names accepted by :func:`evaluate_ope` (see the module docstring)."""


def _valid(boxes: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=-1) & (boxes[..., 2] > 0) & (boxes[..., 3] > 0)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (..., 4) xywh boxes ``a`` and ``b`` (broadcast) -> (...) float64 in [0, 1]; 0 where either box is
    invalid. Computed by :func:`slt.boxes.box_iou_xywh` in float64."""
    a = torch.as_tensor(np.asarray(a, dtype=np.float64))
    b = torch.as_tensor(np.asarray(b, dtype=np.float64))
    return box_iou_xywh(a, b).numpy()


def clip_to_image(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """(..., 4) xywh boxes clipped to the image ``[0, width] x [0, height]`` -> new (..., 4) float64 array.

    The got10k toolkit's rule (``rect_iou`` with ``bound``): ``x`` clipped to ``[0, width]``, then ``w`` to
    ``[0, width - x]``; likewise ``y``/``h`` (so a box reaching left of the image is moved right, not cut; one
    reaching past the right edge is cut). NaN stays NaN.
    """
    boxes = np.array(boxes, dtype=np.float64)
    boxes[..., 0] = np.clip(boxes[..., 0], 0, width)
    boxes[..., 1] = np.clip(boxes[..., 1], 0, height)
    boxes[..., 2] = np.clip(boxes[..., 2], 0, width - boxes[..., 0])
    boxes[..., 3] = np.clip(boxes[..., 3], 0, height - boxes[..., 1])
    return boxes


def _centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[..., :2] + boxes[..., 2:] / 2


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) between box centres of (..., 4) xywh -> (...); inf where either box is invalid."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    valid = _valid(pred) & _valid(gt)
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(_centers(pred) - _centers(gt), axis=-1)
    return np.where(valid, dist, np.inf)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre distance with each axis divided by the ground-truth size on that axis -> (...); inf where invalid."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    valid = _valid(pred) & _valid(gt)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.linalg.norm((_centers(pred) - _centers(gt)) / gt[..., 2:], axis=-1)
    return np.where(valid, dist, np.inf)


def success_curve(ious: np.ndarray, thresholds: np.ndarray = SUCCESS_THRESHOLDS) -> np.ndarray:
    """(K,) fraction of frames with IoU > each threshold (strictly greater). ``ious`` (N,), N > 0."""
    ious = _nonempty(ious, "ious")
    return (ious[:, None] > np.asarray(thresholds)[None, :]).mean(axis=0)


def auc(ious: np.ndarray) -> float:
    """Area under the success curve: mean over :data:`SUCCESS_THRESHOLDS`, in percent (perfect = 95.24)."""
    return curve_auc(success_curve(ious))


def curve_auc(curve: np.ndarray) -> float:
    """Mean of a (K,) success curve in percent, as ``100 * sum / K`` (a perfect curve gives exactly
    ``100 * 20 / 21``)."""
    curve = np.asarray(curve, dtype=np.float64)
    return float(100.0 * curve.sum() / curve.size)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = PRECISION_THRESHOLDS) -> np.ndarray:
    """(K,) fraction of frames with centre error <= each threshold. ``errors`` (N,), N > 0."""
    errors = _nonempty(errors, "errors")
    return (errors[:, None] <= np.asarray(thresholds)[None, :]).mean(axis=0)


def precision(center_errors: np.ndarray, threshold: float = 20.0) -> float:
    """Percent of frames with centre error <= ``threshold`` px."""
    return float((_nonempty(center_errors, "center_errors") <= threshold).mean() * 100.0)


def normalized_precision(norm_errors: np.ndarray, threshold: float = 0.2) -> float:
    """Percent of frames with normalised centre error <= ``threshold``."""
    return float((_nonempty(norm_errors, "norm_errors") <= threshold).mean() * 100.0)


def got10k_ao_sr(ious: np.ndarray) -> dict[str, float]:
    """GOT-10k scores in percent: ``ao`` (mean IoU), ``sr50``/``sr75`` (IoU > 0.5 / > 0.75)."""
    ious = _nonempty(ious, "ious")
    return {"ao": float(ious.mean() * 100.0), "sr50": float((ious > 0.5).mean() * 100.0),
            "sr75": float((ious > 0.75).mean() * 100.0)}


def _nonempty(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError(f"{name}: no frames to score")
    return values


@dataclass(frozen=True)
class OPEResult:
    """Scores of one set of frames, all in percent; ``num_frames`` = frames scored."""

    auc: float
    precision: float
    norm_precision: float
    ao: float
    sr50: float
    sr75: float
    num_frames: int

    @classmethod
    def from_boxes(cls, pred: np.ndarray, gt: np.ndarray) -> OPEResult:
        """Score (N, 4) xywh predictions against (N, 4) xywh ground truth, every frame counted."""
        ious = iou_xywh(pred, gt)
        return cls(auc=auc(ious), precision=precision(center_error(pred, gt)),
                   norm_precision=normalized_precision(normalized_center_error(pred, gt)),
                   num_frames=len(ious), **got10k_ao_sr(ious))


def evaluate_ope(
    pred_boxes_per_video: Sequence[np.ndarray],
    gt_boxes_per_video: Sequence[np.ndarray],
    visible_per_video: Sequence[np.ndarray] | None = None,
    *,
    protocol: str,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> dict[str, object]:
    """One-pass evaluation of videos under a named protocol (:data:`PROTOCOLS`, module docstring).

    Args:
        pred_boxes_per_video: per video a (T, 4) xywh array of predictions, row 0 the initial box.
        gt_boxes_per_video: per video the (T, 4) xywh ground truth (NaN or non-positive sizes: no box).
        visible_per_video: per video (T,) bool target visibility (LaSOT: not fully occluded and not out of view;
            GOT-10k: ``cover > 0`` and not absent), or None (all frames with a valid box are visible). Ignored by
            ``'otb'``.
        protocol: ``'lasot'``, ``'otb'``, ``'got10k'`` or ``'pooled'``.
        image_sizes: per video ``(width, height)`` in pixels; ``'got10k'`` clips both boxes to the image, as the
            got10k toolkit does. Other protocols ignore it.

    Returns a dict with ``protocol``, ``num_videos``, ``num_frames`` (frames entering the scores) and

    * ``'lasot'``/``'otb'``: ``auc``, ``precision``, ``norm_precision`` (percent), ``success_curve`` (21),
      ``precision_curve`` (51), ``norm_precision_curve`` (51) (lists, averaged over videos), ``per_video_auc``;
    * ``'got10k'``: ``ao``, ``sr50``, ``sr75`` (percent), ``per_video_ao`` (NaN for a video without scored frame);
    * ``'pooled'``: ``auc``, ``precision``, ``norm_precision``, ``ao``, ``sr50``, ``sr75``, ``per_video_auc``.

    Raises ValueError for an unknown protocol, mismatched shapes (naming the video) or no frame to score.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"evaluate_ope: unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    videos = _check_videos(pred_boxes_per_video, gt_boxes_per_video, visible_per_video, image_sizes)
    if protocol in ("lasot", "otb"):
        result = _per_video_curves(videos, use_visibility=protocol == "lasot")
    elif protocol == "got10k":
        result = _got10k(videos, clip=image_sizes is not None)
    else:
        result = _pooled(videos)
    return {"protocol": protocol, "num_videos": len(videos), **result}


def _check_videos(preds, gts, visibles, image_sizes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, tuple]]:
    """Per video ``(pred, gt, visible & valid gt, (width, height) or None)``, shapes checked."""
    num_videos = len(gts)
    if len(preds) != num_videos:
        raise ValueError(f"evaluate_ope: {len(preds)} predicted videos, {num_videos} ground truth")
    for what, values in (("visibility arrays", visibles), ("image sizes", image_sizes)):
        if values is not None and len(values) != num_videos:
            raise ValueError(f"evaluate_ope: {len(values)} {what} for {num_videos} videos")
    if num_videos == 0:
        raise ValueError("evaluate_ope: no videos to score")
    videos = []
    for k, (pred, gt) in enumerate(zip(preds, gts)):
        pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
        if pred.shape != gt.shape or gt.ndim != 2 or gt.shape[1] != 4 or len(gt) == 0:
            raise ValueError(f"evaluate_ope: video {k}: predictions {pred.shape} vs ground truth {gt.shape}, "
                             "expected equal (T, 4) with T > 0")
        visible = _valid(gt)
        if visibles is not None:
            flags = np.asarray(visibles[k], dtype=bool)
            if flags.shape != (len(gt),):
                raise ValueError(f"evaluate_ope: video {k}: visibility {flags.shape}, expected ({len(gt)},)")
            visible = visible & flags
        videos.append((pred, gt, visible, None if image_sizes is None else tuple(image_sizes[k])))
    return videos


def _per_video_curves(videos, use_visibility: bool) -> dict[str, object]:
    succ, prec, norm, per_video_auc, frames = [], [], [], [], 0
    for pred, gt, visible, _ in videos:
        pred = pred.copy()
        pred[0] = gt[0]
        scored = visible if use_visibility else _valid(gt)
        ious = np.where(scored, iou_xywh(pred, gt), 0.0)  # IoU 0 fails every threshold, as the toolkits' -1
        succ.append(success_curve(ious))
        prec.append(precision_curve(np.where(scored, center_error(pred, gt), np.inf)))
        norm_err = np.where(scored, normalized_center_error(pred, gt), np.inf)
        if not use_visibility:
            norm_err[~scored] = -1.0  # PyTracking's OTB rule: no valid ground-truth box -> error -1, a success
        norm.append(precision_curve(norm_err, NORM_PRECISION_THRESHOLDS))
        per_video_auc.append(curve_auc(succ[-1]))
        frames += len(gt)
    succ_mean, prec_mean, norm_mean = (np.mean(c, axis=0) for c in (succ, prec, norm))
    return {"auc": curve_auc(succ_mean), "precision": float(prec_mean[20] * 100.0),
            "norm_precision": float(norm_mean[20] * 100.0), "num_frames": frames,
            "success_curve": succ_mean.tolist(), "precision_curve": prec_mean.tolist(),
            "norm_precision_curve": norm_mean.tolist(), "per_video_auc": per_video_auc}


def _got10k(videos, clip: bool) -> dict[str, object]:
    ious, per_video_ao = [], []
    for pred, gt, visible, size in videos:
        pred, gt = pred[1:], gt[1:]
        if clip:
            pred, gt = clip_to_image(pred, *size), clip_to_image(gt, *size)
        video_ious = iou_xywh(pred, gt)[visible[1:]]
        ious.append(video_ious)
        per_video_ao.append(float(video_ious.mean() * 100.0) if video_ious.size else float("nan"))
    pooled = np.concatenate(ious)
    return {**got10k_ao_sr(pooled), "num_frames": int(pooled.size), "per_video_ao": per_video_ao}


def _pooled(videos) -> dict[str, object]:
    preds, gts, per_video_auc = [], [], []
    for pred, gt, visible, _ in videos:
        keep = visible.copy()
        keep[0] = False
        preds.append(pred[keep])
        gts.append(gt[keep])
        per_video_auc.append(auc(iou_xywh(pred[keep], gt[keep])) if keep.any() else float("nan"))
    overall = OPEResult.from_boxes(np.concatenate(preds), np.concatenate(gts))
    return {**asdict(overall), "per_video_auc": per_video_auc}
