"""Box conversions and IoU on torch tensors (any device, any float dtype).

Conventions used across the project:

* ``xywh``: ``(..., 4)`` top-left x, top-left y, width, height; pixels, 0-based.
* ``corners``: ``(..., 4)`` x1, y1, x2, y2; pixels (PySOT's convention).
* ``cxcywh``: ``(..., 4)`` centre x, centre y, width, height (pixels or normalised, as the caller states).
"""

from __future__ import annotations

import torch
from torch import Tensor


def xywh_to_cxcywh(boxes: Tensor) -> Tensor:
    """``(..., 4)`` xywh -> ``(..., 4)`` cx cy w h."""
    x, y, w, h = boxes.unbind(-1)
    return torch.stack((x + 0.5 * w, y + 0.5 * h, w, h), dim=-1)


def cxcywh_to_xywh(boxes: Tensor) -> Tensor:
    """``(..., 4)`` cx cy w h -> ``(..., 4)`` xywh."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, w, h), dim=-1)


def box_iou_xywh(a: Tensor, b: Tensor) -> Tensor:
    """IoU of ``(..., 4)`` xywh boxes (broadcasting) -> ``(...)``, in ``[0, 1]``; the project's one IoU formula.

    Continuous boxes: the intersection is ``min(x1 + w1, x2 + w2) - max(x1, x2)`` per axis (PyTracking's
    ``x + w - 1`` inclusive-pixel form is the same number), union = sum of areas - intersection. The value is
    capped at 1 (PySOT's toolkit and the got10k toolkit cap too): identical float boxes can round to
    ``1 + 2e-16``, which would pass a threshold-1.0 success test. Boxes with zero or negative size, or with a
    non-finite coordinate, and pairs whose union underflows to 0, have IoU 0 with everything (never NaN), so
    an invisible ground-truth frame scores 0.
    """
    ax1, ay1, aw, ah = a.unbind(-1)
    bx1, by1, bw, bh = b.unbind(-1)
    ix = (torch.minimum(ax1 + aw, bx1 + bw) - torch.maximum(ax1, bx1)).clamp(min=0)
    iy = (torch.minimum(ay1 + ah, by1 + bh) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = ix * iy
    union = aw.clamp(min=0) * ah.clamp(min=0) + bw.clamp(min=0) * bh.clamp(min=0) - inter
    ok = (aw > 0) & (ah > 0) & (bw > 0) & (bh > 0) & torch.isfinite(a).all(-1) & torch.isfinite(b).all(-1)
    ok = ok & (union > 0)  # union is 0 for valid boxes too small for their areas (w * h underflows)
    iou = inter / torch.where(ok, union, torch.ones_like(union))
    return torch.where(ok, iou.clamp(max=1.0), torch.zeros_like(iou))
