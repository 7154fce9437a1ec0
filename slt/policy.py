"""The stochastic categorical candidate-selection policy of SLT (SLT_REFERENCE section 2).

Every tracker scores K candidates (anchors or grid cells) per frame. The tracker's own test-time score
shaping (scale/ratio penalty, cosine window) is kept, turned into logits with a numerically stable inverse
sigmoid and scaled by a temperature; the policy is ``softmax(logits)`` over the K candidates. Because every
step is monotone, ``argmax(logits)`` is exactly the test-time tracker's decision, so the greedy trajectory is
the deployed tracker.

Shapes: ``(B, K)`` with B trajectories (rows) and K candidates. Candidate order is the tracker's own
flattening (PySOT: anchor-major ``a * S * S + y * S + x``; TransT: ``y * S + x``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import torch
from torch import Tensor

ACTION_MODES = ("argmax", "sample", "half")


def stable_inverse_sigmoid(p: Tensor, eps: float = 0.01) -> Tensor:
    """Inverse sigmoid of probabilities squeezed into ``[eps, 1 - eps]``.

    ``p' = p * (1 - 2 eps) + eps``, ``logit = log(p' / (1 - p'))``; finite on ``[0, 1]``, equal to
    ``-/+ log((1 - eps) / eps)`` at the ends (``+-4.595`` for ``eps = 0.01``).
    """
    q = p * (1.0 - 2.0 * eps) + eps
    return torch.log(q / (1.0 - q))


def shaped_logits(
    fg_prob: Tensor,
    *,
    penalty: Tensor | None = None,
    window: Tensor | None = None,
    window_influence: float = 0.0,
    temperature: float = 1.0,
    sig_eps: float = 0.01,
) -> Tensor:
    """``(B, K)`` foreground probabilities -> ``(B, K)`` policy logits.

    ``s = fg_prob * penalty``; ``s = (1 - window_influence) * s + window_influence * window``;
    ``logits = stable_inverse_sigmoid(s, sig_eps) * temperature``.

    * TransT (official SLT-TransT): ``fg_prob = softmax(pred_logits)[..., 0]``, no penalty, Hann 32x32 window,
      ``window_influence=0.49``, ``temperature=4``.
    * SiamRPN++: ``fg_prob = softmax(cls)[..., 1]`` per anchor, ``penalty`` from :func:`scale_ratio_penalty`,
      Hann 25x25 window tiled over 5 anchors, ``window_influence=0.42``, ``temperature=8``.

    ``penalty`` is ``(B, K)`` or broadcastable; ``window`` is ``(K,)`` or ``(B, K)``. Both are constants
    (no gradient flows into them during the SCST update). The official code promotes this maths to float64
    through numpy Hann windows (SLT_REFERENCE B16); here the window is cast to ``fg_prob``'s dtype.
    """
    score = fg_prob if penalty is None else fg_prob * penalty.to(fg_prob.dtype)
    if window is not None and window_influence != 0.0:
        score = (1.0 - window_influence) * score + window_influence * window.to(score.dtype)
    return stable_inverse_sigmoid(score, sig_eps) * temperature


def meanmax_logits(scores: Tensor, low: float = -7.0, high: float = 7.0) -> Tensor:
    """TrDiMP shaping: ``(B, K)`` raw scores -> ``(B, K)`` logits, row mean mapped to ``low``, row max to ``high``.

    ``z = (s - mean(s)) / (max(s) - mean(s)) * (high - low) + low``. A constant row (``max == mean``) maps to
    ``low`` everywhere, i.e. a uniform policy (the official code divides by zero there).
    Differentiable in ``scores`` (the official SCST loss differentiates through the normalisation).
    """
    mean = scores.mean(dim=-1, keepdim=True)
    peak = scores.amax(dim=-1, keepdim=True)
    span = (peak - mean).clamp(min=torch.finfo(scores.dtype).tiny)
    return (scores - mean) / span * (high - low) + low


SHAPING_KINDS = ("inverse_sigmoid", "meanmax")


@dataclass(frozen=True)
class Shaping:
    """One tracker's score shaping: ``(B, K)`` candidate scores -> ``(B, K)`` policy logits.

    The tracker builds it once and owns it; exploration and the actor's update both call :meth:`logits`, so the
    update's logits are the exploration's logits by construction (the actor receives the tracker's object).

    * ``kind="inverse_sigmoid"`` (SiamRPN++, TransT, SiamAttn, OSTrack): :func:`shaped_logits` of foreground
      probabilities with ``window`` ``(K,)`` blended in at ``window_influence``, ``sig_eps`` and ``temperature``.
    * ``kind="meanmax"`` (TrDiMP): :func:`meanmax_logits` of raw scores onto ``meanmax`` ``(low, high)``, times
      ``temperature``.

    ``penalty``: the name of the per-row extra (a :class:`slt.rollout.TrackStep` extra, recorded by the rollout)
    that multiplies the scores before the window (SiamRPN's scale/ratio penalty, ``(B, K)``), or None. Window
    and penalty are constants: no gradient flows into them.
    """

    kind: str = "inverse_sigmoid"
    window: Tensor | None = None
    window_influence: float = 0.0
    temperature: float = 1.0
    sig_eps: float = 0.01
    meanmax: tuple[float, float] = (-7.0, 7.0)
    penalty: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SHAPING_KINDS:
            raise ValueError(f"unknown shaping kind {self.kind!r}; expected one of {SHAPING_KINDS}")

    def logits(self, scores: Tensor, extras: Mapping[str, Tensor] | None = None) -> Tensor:
        """``(B, K)`` scores (+ the extras naming the penalty) -> ``(B, K)`` logits, in ``scores``' dtype."""
        if self.kind == "meanmax":
            return meanmax_logits(scores, *self.meanmax) * self.temperature
        penalty = None
        if self.penalty is not None:
            if extras is None or self.penalty not in extras:
                raise KeyError(f"this shaping multiplies the scores by the extra {self.penalty!r}, which was not given")
            penalty = extras[self.penalty]
        return shaped_logits(scores, penalty=penalty, window=self.window, window_influence=self.window_influence,
                             temperature=self.temperature, sig_eps=self.sig_eps)

    def to(self, device: torch.device | str) -> "Shaping":
        """The same shaping with its window on ``device``."""
        return self if self.window is None else replace(self, window=self.window.to(device))


def select_actions(logits: Tensor, mode: str, generator: torch.Generator | None = None) -> Tensor:
    """Choose one candidate per row of ``(B, K)`` logits -> ``(B,)`` long indices (detached).

    * ``"argmax"``: the greedy (test-time) decision for every row.
    * ``"sample"``: one draw from ``Categorical(softmax(logits))`` per row.
    * ``"half"``: rows ``[0, B/2)`` argmax, rows ``[B/2, B)`` sampled (the SCST layout: greedy copy first,
      sampling copy second). An odd B raises ValueError.

    ``generator`` must live on ``logits.device``; it makes sampling reproducible.
    """
    if mode not in ACTION_MODES:
        raise ValueError(f"unknown action mode {mode!r}; expected one of {ACTION_MODES}")
    logits = logits.detach()
    if mode == "argmax":
        return logits.argmax(dim=-1)
    if mode == "sample":
        return _sample(logits, generator)
    rows = logits.shape[0]
    if rows % 2:
        raise ValueError(f"'half' action mode needs an even number of rows, got {rows}")
    half = rows // 2
    return torch.cat((logits[:half].argmax(dim=-1), _sample(logits[half:], generator)))


def _sample(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def hann_window(size: int, num_anchors: int = 1, dtype: torch.dtype = torch.float32) -> Tensor:
    """Cosine window ``outer(hanning(size), hanning(size))`` flattened row-major and tiled over anchors.

    Returns ``(num_anchors * size * size,)``; entry ``a * size**2 + y * size + x`` (PySOT's anchor-major order,
    and TransT's ``y * size + x`` for ``num_anchors=1``). Built in float64 like numpy's, then cast.
    """
    h = np.hanning(size)
    return torch.from_numpy(np.tile(np.outer(h, h).ravel(), num_anchors)).to(dtype)


def scale_ratio_penalty(pred_wh: Tensor, prev_wh: Tensor, penalty_k: float) -> Tensor:
    """SiamRPN scale/aspect-change penalty -> ``(B, K)``.

    ``pred_wh``: ``(B, K, 2)`` candidate sizes; ``prev_wh``: ``(B, 2)`` previous target size, both in the
    same units (PySOT: search-crop pixels, i.e. the previous size times the crop scale).
    ``sz(w, h) = sqrt((w + p)(h + p))`` with ``p = (w + h) / 2``; ``change(r) = max(r, 1/r)``;
    ``s_c = change(sz(pred) / sz(prev))``; ``r_c = change((prev_w / prev_h) / (pred_w / pred_h))``;
    ``penalty = exp(-(r_c * s_c - 1) * penalty_k)``.
    """

    def sz(w: Tensor, h: Tensor) -> Tensor:
        pad = (w + h) * 0.5
        return torch.sqrt((w + pad) * (h + pad))

    def change(r: Tensor) -> Tensor:
        return torch.maximum(r, 1.0 / r)

    pw, ph = pred_wh[..., 0], pred_wh[..., 1]
    qw, qh = prev_wh[:, None, 0], prev_wh[:, None, 1]
    s_c = change(sz(pw, ph) / sz(qw, qh))
    r_c = change((qw / qh) / (pw / ph))
    return torch.exp(-(r_c * s_c - 1.0) * penalty_k)

