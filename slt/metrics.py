"""One-pass evaluation (OPE) metrics: IoU, centre errors, success/precision curves, AUC, GOT-10k AO/SR.

Boxes are xywh, pixels, 0-based top-left. Conventions follow the OTB/LaSOT toolkits, PyTracking and pysot:

* success curve: fraction of frames with IoU strictly greater than each threshold; the 21 thresholds
  ``0, 0.05, ..., 1`` (so a perfect tracker scores 20/21, not 1, at threshold 1);
* AUC: mean of that success curve, in percent (0-100): a perfect tracker gets 100 * 20/21 = 95.24;
* precision: fraction of frames with centre error <= 20 px; normalised precision: <= 0.2 in units of the ground-truth
  size per axis (TrackingNet/LaSOT);
* GOT-10k: AO = mean IoU, SR50/SR75 = fraction of frames with IoU > 0.5 / 0.75.

Scalar scores (AUC, precision, normalised precision, AO, SR) are in percent; curves are fractions in [0, 1].
Boxes that are not finite or have zero or negative size get IoU 0 and an infinite centre error, so they count as
failures rather than producing NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
"""IoU thresholds of the success curve (OTB/LaSOT/pysot/PyTracking)."""

PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
"""Centre-error thresholds (px) of the precision curve."""


def _valid(boxes: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=-1) & (boxes[..., 2] > 0) & (boxes[..., 3] > 0)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (..., 4) xywh boxes ``a`` and ``b`` (broadcast) -> (...) float64; 0 where either box is invalid."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    valid = _valid(a) & _valid(b)
    a, b = np.where(valid[..., None], a, 0.0), np.where(valid[..., None], b, 0.0)
    w = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    scored = valid & (union > 0)  # union is 0 for valid boxes too small for float64 areas (w * h underflows)
    return np.where(scored, inter / np.where(scored, union, 1.0), 0.0)


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
    return float(success_curve(ious).mean() * 100.0)


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
) -> dict[str, object]:
    """One-pass evaluation over videos: per video (T, 4) xywh predictions and ground truth, (T,) bool visibility.

    Scored frames: frame 0 is excluded (the tracker is given its box) and so are frames whose ground truth is
    invalid (not finite, w <= 0 or h <= 0) or not visible. The scores pool the scored frames of all videos
    (each frame weighs the same, GOT-10k toolkit style) rather than averaging per-video scores.

    Returns a dict with ``auc``, ``precision``, ``norm_precision``, ``ao``, ``sr50``, ``sr75`` (percent),
    ``num_frames`` (scored frames) and ``per_video_auc`` (list, NaN for a video without scored frames).
    """
    num_videos = len(gt_boxes_per_video)
    if len(pred_boxes_per_video) != num_videos:
        raise ValueError(f"evaluate_ope: {len(pred_boxes_per_video)} predicted videos, {num_videos} ground truth")
    if visible_per_video is not None and len(visible_per_video) != num_videos:
        raise ValueError(f"evaluate_ope: {len(visible_per_video)} visibility arrays for {num_videos} videos")
    preds, gts, per_video_auc = [], [], []
    for k, (pred, gt) in enumerate(zip(pred_boxes_per_video, gt_boxes_per_video)):
        pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
        if pred.shape != gt.shape or gt.ndim != 2 or gt.shape[1] != 4:
            raise ValueError(f"evaluate_ope: video {k}: predictions {pred.shape} vs ground truth {gt.shape}, "
                             "expected equal (T, 4)")
        keep = _valid(gt)
        if visible_per_video is not None:
            visible = np.asarray(visible_per_video[k], dtype=bool)
            if visible.shape != (len(gt),):
                raise ValueError(f"evaluate_ope: video {k}: visibility {visible.shape}, expected ({len(gt)},)")
            keep &= visible
        keep[:1] = False
        preds.append(pred[keep])
        gts.append(gt[keep])
        per_video_auc.append(auc(iou_xywh(pred[keep], gt[keep])) if keep.any() else float("nan"))
    empty = [np.zeros((0, 4))]
    overall = OPEResult.from_boxes(np.concatenate(preds or empty), np.concatenate(gts or empty))
    return {**asdict(overall), "per_video_auc": per_video_auc}
