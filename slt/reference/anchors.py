"""Anchors, box encoding and anchor targets of the reference tracker (SiamRPN conventions, in torch).

Decoding is :func:`slt.siamrpn.decode_deltas`, shared with the PySOT adapter.

Candidate order is anchor-major: index ``a * S * S + y * S + x`` for anchor ``a`` at score-map cell
``(y, x)``, as PySOT's tracker flattens its maps. Anchor and decoded boxes are ``cx, cy, w, h`` in search-crop
pixels relative to the crop centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from slt.boxes import box_iou_xywh, cxcywh_to_xywh


@dataclass(frozen=True)
class AnchorSpec:
    """Anchor layout as PySOT's: per ratio ``r = h / w``, ``w = sqrt(area / r)``, ``h = w * r`` with
    ``area = (stride * scale) ** 2``; one scale; anchors on every score-map cell ``stride`` pixels apart."""

    stride: int = 8
    ratios: tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    scale: float = 4.0

    @property
    def num(self) -> int:
        return len(self.ratios)


def generate_anchors(spec: AnchorSpec, score_size: int) -> Tensor:
    """``(K, 4)`` anchors, ``K = num * score_size**2``, cx cy w h relative to the crop centre (pixels)."""
    area = (spec.stride * spec.scale) ** 2
    sizes = []
    for ratio in spec.ratios:
        w = math.sqrt(area / ratio)
        sizes.append((w, w * ratio))
    offset = -(score_size // 2) * spec.stride
    grid = torch.arange(score_size, dtype=torch.float32) * spec.stride + offset
    cy, cx = torch.meshgrid(grid, grid, indexing="ij")
    anchors = [
        torch.stack((cx.reshape(-1), cy.reshape(-1), torch.full_like(cx.reshape(-1), w), torch.full_like(cx.reshape(-1), h)), 1)
        for w, h in sizes
    ]
    return torch.cat(anchors, 0)


def encode(boxes: Tensor, anchors: Tensor) -> Tensor:
    """``(B, 4)`` target boxes cx cy w h (relative to the crop centre) -> ``(B, K, 4)`` deltas to every anchor."""
    b = boxes[:, None, :]
    return torch.stack(
        (
            (b[..., 0] - anchors[:, 0]) / anchors[:, 2],
            (b[..., 1] - anchors[:, 1]) / anchors[:, 3],
            torch.log(b[..., 2].clamp(min=1e-3) / anchors[:, 2]),
            torch.log(b[..., 3].clamp(min=1e-3) / anchors[:, 3]),
        ),
        dim=-1,
    )


@dataclass
class AnchorTargets:
    """Per-sample anchor targets: ``labels`` (B, K) in {1 positive, 0 negative, -1 ignored},
    ``deltas`` (B, K, 4), ``loc_weight`` (B, K) (1 / #positives on positives, else 0)."""

    labels: Tensor
    deltas: Tensor
    loc_weight: Tensor


def anchor_targets(
    gt: Tensor,
    anchors: Tensor,
    *,
    pos_iou: float = 0.6,
    neg_iou: float = 0.3,
    max_pos: int = 16,
    total: int = 64,
    negative: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> AnchorTargets:
    """PySOT-style anchor targets for ``(B, 4)`` gt boxes cx cy w h relative to the crop centre.

    Positives: IoU > ``pos_iou`` (at most ``max_pos``, random subset); negatives: IoU < ``neg_iou`` (random
    subset so that the total is ``total``); the rest is ignored. A gt with a non-finite coordinate or no area,
    or a row flagged in ``negative`` (B,) bool (negative pair: the target is not in the crop), gets no positive
    and only negatives.
    """
    rows, count = gt.shape[0], anchors.shape[0]
    iou = box_iou_xywh(cxcywh_to_xywh(torch.nan_to_num(gt))[:, None, :], cxcywh_to_xywh(anchors)[None])
    absent = ~(torch.isfinite(gt).all(-1) & (gt[:, 2] > 0) & (gt[:, 3] > 0))
    if negative is not None:
        absent = absent | negative
    pos = (iou > pos_iou) & ~absent[:, None]
    neg = (iou < neg_iou) | absent[:, None]
    # Random priorities pick random subsets of positives and negatives per row without Python loops.
    priority = torch.rand((rows, count), generator=generator, device=gt.device)
    pos = pos & (_rank(priority, pos) < max_pos)
    num_pos = pos.sum(1, keepdim=True)
    neg = neg & (_rank(priority, neg) < (total - num_pos))
    labels = torch.full((rows, count), -1.0, device=gt.device)
    labels[neg] = 0.0
    labels[pos] = 1.0
    loc_weight = pos.float() / num_pos.clamp(min=1).float()
    return AnchorTargets(labels=labels, deltas=encode(torch.nan_to_num(gt, nan=1.0), anchors), loc_weight=loc_weight)


def _rank(priority: Tensor, member: Tensor) -> Tensor:
    """Rank (0 = first) of each member of a row among that row's members, by descending priority."""
    keyed = torch.where(member, priority, torch.full_like(priority, -1.0))
    order = keyed.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks
