"""Box <-> token conversions of the autoregressive hosts, host-free and with the hosts' exact arithmetic.

All boxes are in *normalised search-crop coordinates*: pixels of the search crop divided by its side (the crop
is square), so ``(0, 0)`` is the crop's top-left corner and ``(1, 1)`` its bottom-right one. Mapping a
crop box back to the image (scale ``search_size / resize_factor``, shift by the previous centre) is the
tracker's business, not this module's.

SeqTrack (``bins = cfg.MODEL.BINS = 4000``; vocabulary ``bins + 2``: END ``bins``, START ``bins + 1``)
    quantisation (``lib/train/actors/seqtrack.py:47-60``): xywh -> x1 y1 x2 y2, clamped to ``[0, 1]``, -> cx cy
    w h (except ``seq_format='corner'``), ``token = int(v * (bins - 1))`` (truncation), reordered ``w h cx cy``
    for ``'whxy'``. De-quantisation (``lib/test/tracker/seqtrack.py:86-95``): tokens back to cx cy w h
    (``'corner'``: ``box_xyxy_to_cxcywh`` of the tokens; ``'whxy'``: reorder), ``v = token / (bins - 1)``.

ARTrack (``bins = cfg.MODEL.BINS = 400``, ``range = cfg.MODEL.RANGE = 2``, ``m = (range - 1) / 2 = 0.5``;
vocabulary ``bins * range + 2``: coordinates ``0 .. bins * range - 1``, START/padding ``bins * range``, END
``bins * range + 1``), boxes x1 y1 x2 y2:
    history tokens (``lib/test/tracker/artrack_seq.py:92-99``, ``lib/train/actors/artrack_seq.py:395-396,
    578-579``): ``(clamp(v, -m, 1 + m) + m) * (bins - 1)``, a float the head truncates to an integer
    (``lib/models/layers/head_seq.py:851, 870``), so tokens ``0 .. 2 * (bins - 1)`` (798 for 400 bins).
    Rollout-supervision targets (``lib/train/actors/artrack_seq.py:593-600``): ``(v + 0.5) * (bins - 1)``
    clamped to ``[0, bins * range - 1e-4]``, truncated (up to 799). De-quantisation
    (``lib/test/tracker/artrack_seq.py:110``, ``lib/train/actors/artrack_seq.py:413``): ``v = token / (bins - 1) - m``.

Truncation makes the round trips one-sided: box -> token -> box lands at most one bin ``1 / (bins - 1)``
below the box (per quantised value), and token -> box -> token gives the token or, where ``t / (bins - 1) *
(bins - 1)`` rounds below ``t``, the token minus one (SeqTrack in float32 and float64, ARTrack in float32;
ARTrack's 800 tokens survive exactly in float64).
"""

from __future__ import annotations

import torch
from torch import Tensor

from slt.token_policy import SEQ_FORMATS

_WHXY = [2, 3, 0, 1]


def _check_boxes(boxes: Tensor) -> None:
    if boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be (..., 4), got shape {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise ValueError(f"boxes must be floating point, got {boxes.dtype}")


def _check_format(seq_format: str) -> None:
    if seq_format not in SEQ_FORMATS:
        raise ValueError(f"unknown SeqTrack sequence format {seq_format!r}; expected one of {SEQ_FORMATS}")


def seqtrack_box_tokens(boxes_xywh: Tensor, bins: int = 4000, seq_format: str = "xywh") -> Tensor:
    """SeqTrack's training tokens: ``(..., 4)`` normalised crop xywh -> ``(..., 4)`` long in ``[0, bins - 1]``.

    Token order: cx cy w h (``'xywh'``), w h cx cy (``'whxy'``) or x1 y1 x2 y2 (``'corner'``). Computed in the
    boxes' dtype (the host's data are float32).
    """
    _check_boxes(boxes_xywh)
    _check_format(seq_format)
    x1, y1, w, h = boxes_xywh.unbind(-1)
    corners = torch.stack((x1, y1, x1 + w, y1 + h), dim=-1).clamp(0.0, 1.0)
    if seq_format == "corner":
        values = corners
    else:
        a, b, c, d = corners.unbind(-1)
        values = torch.stack(((a + c) / 2, (b + d) / 2, c - a, d - b), dim=-1)
    tokens = (values * (bins - 1)).int().long()
    return tokens[..., _WHXY] if seq_format == "whxy" else tokens


def seqtrack_token_boxes(tokens: Tensor, bins: int = 4000, seq_format: str = "xywh") -> Tensor:
    """SeqTrack's decoded box: ``(..., 4)`` tokens in ``seq_format`` order -> ``(..., 4)`` normalised crop cx cy w h.

    ``v = token / (bins - 1)`` in float32 (the host divides the long tokens by an int, giving float32).
    """
    if tokens.shape[-1] != 4:
        raise ValueError(f"tokens must be (..., 4), got shape {tuple(tokens.shape)}")
    _check_format(seq_format)
    values = tokens.float()
    if seq_format == "corner":
        a, b, c, d = values.unbind(-1)
        values = torch.stack(((a + c) / 2, (b + d) / 2, c - a, d - b), dim=-1)
    elif seq_format == "whxy":
        values = values[..., _WHXY]
    return values / (bins - 1)


def _artrack_margin(coord_range: int) -> float:
    if coord_range < 1:
        raise ValueError(f"ARTrack's coordinate range must be >= 1, got {coord_range}")
    return (coord_range - 1) * 0.5


def artrack_history_tokens(boxes_xyxy: Tensor, bins: int = 400, coord_range: int = 2) -> Tensor:
    """ARTrack's history tokens: ``(..., 4)`` normalised crop x1 y1 x2 y2 -> ``(..., 4)`` long.

    ``trunc((clamp(v, -m, 1 + m) + m) * (bins - 1))``, in ``[0, coord_range * (bins - 1)]``; the value the host
    feeds as a float and its head casts to an integer.
    """
    _check_boxes(boxes_xyxy)
    margin = _artrack_margin(coord_range)
    return ((boxes_xyxy.clamp(-margin, 1.0 + margin) + margin) * (bins - 1)).long()


def artrack_target_tokens(boxes_xyxy: Tensor, bins: int = 400, coord_range: int = 2) -> Tensor:
    """ARTrack's rollout-supervision targets: ``(..., 4)`` normalised crop x1 y1 x2 y2 -> ``(..., 4)`` long.

    ``trunc(clamp((v + m) * (bins - 1), 0, bins * range - 1e-4))``, in ``[0, bins * range - 1]`` (no clamp of
    the box itself, unlike :func:`artrack_history_tokens`).
    """
    _check_boxes(boxes_xyxy)
    margin = _artrack_margin(coord_range)
    return ((boxes_xyxy + margin) * (bins - 1)).clamp(0.0, bins * coord_range - 0.0001).long()


def artrack_token_boxes(tokens: Tensor, bins: int = 400, coord_range: int = 2) -> Tensor:
    """ARTrack's decoded box: ``(..., 4)`` x1 y1 x2 y2 tokens -> ``(..., 4)`` normalised crop x1 y1 x2 y2 (float32).

    ``v = token / (bins - 1) - m``; START/END tokens (``bins * range``, ``+1``), which the host may emit
    greedily, decode like coordinates (just beyond ``1 + m``), as the host does.
    """
    if tokens.shape[-1] != 4:
        raise ValueError(f"tokens must be (..., 4), got shape {tuple(tokens.shape)}")
    return tokens.float() / (bins - 1) - _artrack_margin(coord_range)


def artrack_target_box(boxes_xyxy: Tensor, bins: int = 400, coord_range: int = 2) -> Tensor:
    """The box ARTrack's sequence stage regresses to: ``(..., 4)`` normalised crop x1 y1 x2 y2 -> the same, clamped.

    ``clamp((v + m) * (bins - 1), 0, bins * range - 1e-4) / (bins - 1) - m`` (``lib/train/actors/artrack_seq.py:595-604``):
    :func:`artrack_target_tokens` before truncation, back in box units.
    """
    _check_boxes(boxes_xyxy)
    margin = _artrack_margin(coord_range)
    scaled = ((boxes_xyxy + margin) * (bins - 1)).clamp(0.0, bins * coord_range - 0.0001)
    return scaled / (bins - 1) - margin


def artrack_expected_box(logits: Tensor, bins: int = 400, coord_range: int = 2) -> Tensor:
    """ARTrack's differentiable box: ``(..., 4, V)`` logits of the 4 positions -> ``(..., 4)`` normalised x1 y1 x2 y2.

    The expectation of the coordinate value under ``softmax`` over the ``n = bins * range`` coordinate tokens alone,
    token ``k`` valued ``-m + (2 k + 1) / n`` (``lib/train/actors/artrack_seq.py:603-609``, its ``torch.range``
    grid), in the logits' dtype.
    """
    count = bins * coord_range
    if logits.shape[-1] < count or logits.shape[-2] != 4:
        raise ValueError(f"expected (..., 4, V >= {count}) logits, got shape {tuple(logits.shape)}")
    margin = _artrack_margin(coord_range)
    values = -margin + (2 * torch.arange(count, device=logits.device, dtype=logits.dtype) + 1) / count
    return (logits[..., :count].softmax(-1) * values).sum(-1)
