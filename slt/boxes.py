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
    """IoU of ``(..., 4)`` xywh boxes (broadcasting) -> ``(...)``.

    Boxes with zero or negative area, or with a non-finite coordinate, have IoU 0 with everything
    (never NaN), so an invisible ground-truth frame scores 0.
    """
    ax1, ay1, aw, ah = a.unbind(-1)
    bx1, by1, bw, bh = b.unbind(-1)
    ix = (torch.minimum(ax1 + aw, bx1 + bw) - torch.maximum(ax1, bx1)).clamp(min=0)
    iy = (torch.minimum(ay1 + ah, by1 + bh) - torch.maximum(ay1, by1)).clamp(min=0)
    inter = ix * iy
    area_a = aw.clamp(min=0) * ah.clamp(min=0)
    area_b = bw.clamp(min=0) * bh.clamp(min=0)
    union = area_a + area_b - inter
    ok = (aw > 0) & (ah > 0) & (bw > 0) & (bh > 0) & torch.isfinite(a).all(-1) & torch.isfinite(b).all(-1)
    iou = inter / torch.where(ok, union, torch.ones_like(union))
    return torch.where(ok, iou, torch.zeros_like(iou))
