"""The stochastic categorical candidate-selection policy of SLT (docs/method.md#policy).

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
from typing import Mapping, Sequence

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
    through numpy Hann windows (docs/method.md#b16); here the window is cast to ``fg_prob``'s dtype.
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


class ClipRandom:
    """Random streams keyed by clip, not by process, rank, device or batch position.

    Clip ``i`` of a batch draws from its own CPU generator seeded with ``SeedSequence([*keys[i], stream])``: a
    clip gets the same draws in one process, on any rank of a torchrun job (so two ranks equal one process on
    the same global batch), on CPU and CUDA, and after a resume; different clips draw independently.
    :class:`slt.sampling.SequenceSampler` gives every sample its ``key`` ``(seed, epoch, index)``.

    Draws are clip-major: ``uniform(*shape)`` returns ``(N, *shape)``, row ``i`` from clip ``i``'s stream.
    """

    def __init__(self, keys: Sequence[Sequence[int] | int], stream: int = 0) -> None:
        if not len(keys):
            raise ValueError("ClipRandom needs one key per clip, got none")
        self.keys = [tuple(int(v) for v in np.atleast_1d(key)) for key in keys]
        self.generators = [torch.Generator().manual_seed(_seed_of(key, stream)) for key in self.keys]

    @classmethod
    def for_batch(cls, batch: Mapping[str, Sequence], stream: int = 0) -> "ClipRandom":
        """Streams of a collated batch's clips, from its ``key`` entry (a :class:`SequenceSampler` batch)."""
        if "key" not in batch:
            raise KeyError("the batch has no 'key' entry (one (seed, epoch, index) per clip, as "
                           "slt.sampling.SequenceSampler writes): pass a ClipRandom built from your own clip keys")
        return cls(batch["key"], stream)

    def __len__(self) -> int:
        return len(self.generators)

    def uniform(self, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``(N, *shape)`` float32 uniforms in ``[0, 1)``, row ``i`` from clip ``i``."""
        return torch.stack([torch.rand(shape, generator=g) for g in self.generators]).to(device)

    def normal(self, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``(N, *shape)`` float32 standard normals, row ``i`` from clip ``i``."""
        return torch.stack([torch.randn(shape, generator=g) for g in self.generators]).to(device)

    def integers(self, high: int, *shape: int, device: torch.device | str | None = None) -> Tensor:
        """``(N, *shape)`` int64 uniform in ``[0, high)``, row ``i`` from clip ``i``."""
        return torch.stack([torch.randint(high, shape, generator=g) for g in self.generators]).to(device)


def _seed_of(key: tuple[int, ...], stream: int) -> int:
    return int(np.random.SeedSequence([*key, stream]).generate_state(1, np.uint64)[0] >> np.uint64(1))


Randomness = ClipRandom | torch.Generator | None


def select_actions(logits: Tensor, mode: str, random: Randomness = None) -> Tensor:
    """Choose one candidate per row of ``(B, K)`` logits -> ``(B,)`` long indices (detached).

    * ``"argmax"``: the greedy (test-time) decision for every row.
    * ``"sample"``: one draw from ``Categorical(softmax(logits))`` per row.
    * ``"half"``: the SCST layout, rows copy-major (row ``c * N + i`` follows clip ``i``): the first copy
      (rows ``[0, N)``) argmax, the other copies sampled. With a :class:`ClipRandom` of N clips, B must be a
      multiple of N (one greedy copy, ``B / N - 1`` sampled copies); otherwise N = B / 2 (B must be even).

    ``random``: a :class:`ClipRandom` (draws keyed by clip: row ``c * N + i`` uses clip ``i``'s stream), a
    ``torch.Generator`` (one stream for all rows) or None (the global generator). Sampling is by inverse CDF
    on one uniform per sampled row.
    """
    if mode not in ACTION_MODES:
        raise ValueError(f"unknown action mode {mode!r}; expected one of {ACTION_MODES}")
    logits = logits.detach()
    if mode == "argmax":
        return logits.argmax(dim=-1)
    rows = logits.shape[0]
    if isinstance(random, ClipRandom):
        clips = len(random)
        if rows % clips:
            raise ValueError(f"{rows} rows do not split into copies of the {clips} clips of the random streams")
    elif mode == "half" and rows % 2:
        raise ValueError(f"'half' action mode needs an even number of rows, got {rows}")
    else:
        clips = rows // 2 if mode == "half" else rows
    greedy = clips if mode == "half" else 0
    sampled = _sample(logits[greedy:], _uniforms(rows - greedy, random, logits.device))
    return torch.cat((logits[:greedy].argmax(dim=-1), sampled))


def _uniforms(count: int, random: Randomness, device: torch.device) -> Tensor:
    """``(count,)`` uniforms for ``count`` copy-major rows."""
    if isinstance(random, ClipRandom):
        return random.uniform(count // len(random)).t().reshape(-1).to(device)
    if random is None:
        return torch.rand(count, device=device)
    return torch.rand(count, generator=random, device=random.device).to(device)


def _sample(logits: Tensor, uniforms: Tensor) -> Tensor:
    """Inverse-CDF draws: row ``r`` takes the first candidate whose cumulative probability exceeds ``uniforms[r]``."""
    cdf = torch.softmax(logits.float(), dim=-1).cumsum(-1)
    target = (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=logits.shape[-1] - 1)


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

