"""SLT-OSTrack's policy over the 16 x 16 centre-map cells (host-free: works on plain tensors).

OSTrack's tracker multiplies a centred Hann window into the sigmoid centre map, ``response = score * hann``,
and takes ``argmax(response)`` (``CenterPredictor.cal_bbox``). SLT's policy is ``Categorical(softmax(logits))``
with ``logits = Shaping.logits(response)``: the window-multiplied scores are passed as the scores and the
shaping blends no window (``window_influence = 0``), so the only steps are the eps-squeeze and the inverse
sigmoid, both strictly monotone: ``argmax(logits) == argmax(response)``, the stock decision. The maths runs in
float64 so that the squeeze cannot merge two distinct float32 responses into a tie.

Shaping values (SLT-TransT's, :data:`TEMPERATURE`, :data:`SIG_EPS`): OSTrack's centre score is, like
TransT's foreground score, a per-cell target probability in ``[0, 1]`` with a motion window applied, so the
same inverse sigmoid (eps 0.01, logits in ``+-4.595``) and temperature 4 give the same sharpness: a cell
with response 0.9 is ``exp(4 * (2.19 - 0)) ~ 6e3`` times likelier than one at 0.5.

Cells are numbered row-major, ``k = y * 16 + x`` (``score_map.flatten(1)``'s order).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from slt.policy import Shaping

TEMPERATURE = 4.0
SIG_EPS = 0.01


def centred_hann(size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """OSTrack's ``hann2d(size, centered=True)`` as a ``(1, 1, size, size)`` tensor.

    The centred 1-D window is ``0.5 * (1 - cos(2 pi k / (size + 1)))`` for ``k = 1 .. size``: numpy's
    ``hanning(size + 2)`` without its two zero ends.
    """
    h = torch.from_numpy(np.hanning(size + 2)[1:-1]).to(dtype)
    return (h[:, None] * h[None, :])[None, None]


def shaping(temperature: float = TEMPERATURE, sig_eps: float = SIG_EPS) -> Shaping:
    """The core shaping object of SLT-OSTrack: inverse sigmoid of the window-multiplied response, no blend."""
    return Shaping(kind="inverse_sigmoid", window=None, window_influence=0.0, temperature=temperature,
                   sig_eps=sig_eps)


def response(score_map: Tensor, window: Tensor) -> Tensor:
    """``(B, 1, S, S)`` centre scores times the ``(1, 1, S, S)`` window -> ``(B, S * S)`` float64 response."""
    return (score_map.double() * window.to(score_map.device, torch.float64)).flatten(1)


def policy_logits(score_map: Tensor, window: Tensor, shape: Shaping) -> Tensor:
    """``(B, 1, S, S)`` centre scores -> ``(B, S * S)`` float64 policy logits (differentiable in ``score_map``)."""
    return shape.logits(response(score_map, window))


def onehot_maps(actions: Tensor, size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(B,)`` cell indices -> ``(B, 1, size, size)`` maps with a single 1 at each chosen cell.

    Fed to the host's ``CenterPredictor.cal_bbox`` as the score map, they make its argmax pick the chosen cell,
    so the box of any sampled cell comes from the host's own decoding.
    """
    maps = torch.zeros(actions.shape[0], size * size, dtype=dtype, device=actions.device)
    maps.scatter_(1, actions.long()[:, None], 1.0)
    return maps.view(-1, 1, size, size)


def map_back(box: Tensor, state: Tensor, side: Tensor) -> Tensor:
    """Crop-frame prediction -> image box, as the stock ``OSTrack.map_box_back``.

    ``box`` (B, 4) ``cx cy w h`` in image-scale pixels relative to the crop's corner (the normalised head
    output times the crop ``side``); ``state`` (B, 4) previous box ``xywh`` image pixels, on whose centre the
    crop was centred; ``side`` (B,) crop side in image pixels. Returns (B, 4) ``xywh`` image pixels.
    """
    centre_prev = state[:, :2] + 0.5 * state[:, 2:]
    centre = box[:, :2] + (centre_prev - 0.5 * side[:, None])
    return torch.cat((centre - 0.5 * box[:, 2:], box[:, 2:]), dim=1)


def search_regions(state: Tensor, factor: float) -> Tensor:
    """The square of ``sample_target`` around each ``(B, 4)`` xywh box -> ``(B, 4)`` ``x0 y0 side side``.

    ``side = ceil(sqrt(w h) * factor)``, ``x0 = round(x + w / 2 - side / 2)`` (round half to even, as Python's
    ``round``); integer pixels in the continuous convention of :mod:`slt.crop`.
    """
    side = torch.ceil(torch.sqrt(state[:, 2] * state[:, 3]) * factor)
    corner = torch.round(state[:, :2] + 0.5 * state[:, 2:] - 0.5 * side[:, None])
    return torch.cat((corner, side[:, None], side[:, None]), dim=1)
