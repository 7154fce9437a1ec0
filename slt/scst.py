"""Rewards, baselines and the self-critical (SCST) policy-gradient loss (docs/method.md#scst).

This module never runs a tracker: it takes per-frame IoUs and recorded logits/actions as tensors.

Notation: M trajectories, L tracked frames per trajectory (the init frame is not tracked), N sequences.
Names: a trajectory's *return* is a scalar computed from its per-frame IoUs (:data:`RETURNS`); a sampled
trajectory's *advantage* is its return minus a *baseline* (:data:`BASELINES`) -- what the SLT paper and the
official logs call the reward. SLT = ``mean_iou`` return with the ``greedy`` baseline:
``A_i = mean_t IoU(sampled_i,t) - mean_t IoU(greedy_i,t)`` over the sequence's valid frames. The logged
``reward`` statistic (:func:`slt.update.rollout_stats`) is the batch mean of the advantages.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def valid_mask(lengths: Tensor, num_frames: int) -> Tensor:
    """``(...)`` numbers of valid tracked frames -> ``(..., num_frames)`` bool, True on frames ``t < lengths``."""
    return torch.arange(num_frames, device=lengths.device) < lengths[..., None]


def _masked_mean(values: Tensor, lengths: Tensor) -> Tensor:
    mask = valid_mask(lengths, values.shape[-1]).to(values.dtype)
    return (values * mask).sum(-1) / lengths.to(values.dtype).clamp(min=1)


def mean_iou_return(ious: Tensor, lengths: Tensor) -> Tensor:
    """SLT's return: ``(..., L)`` IoUs, lengths broadcastable to ``(...)`` -> ``(...)`` mean IoU over the valid frames (0 for a trajectory with none)."""
    return _masked_mean(ious, lengths)


def floored_iou_return(ious: Tensor, lengths: Tensor) -> Tensor:
    """TRAS-style return (Dunnhofer et al.): per-frame ``r = 2 * floor_0.05(IoU) - 1`` if ``IoU >= 0.5`` else ``-1``.

    IoU is floored to a multiple of 0.05 and mapped to ``[-1, 1]`` (IoU 1 -> 1, IoU 0.5 -> 0), every frame
    below IoU 0.5 scores -1; the return is the mean over valid frames. ``(M, L) -> (M,)``.
    """
    floored = torch.floor(ious / 0.05 + 1e-6) * 0.05
    per_frame = torch.where(ious >= 0.5, 2.0 * floored - 1.0, torch.full_like(ious, -1.0))
    return _masked_mean(per_frame, lengths)


def success_auc_return(ious: Tensor, lengths: Tensor) -> Tensor:
    """Per-trajectory area under the OPE success curve, in ``[0, 1]``: ``(M, L) -> (M,)``.

    Mean over the 21 thresholds ``0, 0.05, ..., 1`` of the fraction of valid frames with IoU strictly above
    the threshold (the LaSOT/OTB convention, as :func:`slt.metrics.auc` but not in percent).
    """
    thr = torch.linspace(0.0, 1.0, 21, dtype=ious.dtype, device=ious.device)
    above = (ious[..., None] > thr).to(ious.dtype)
    return _masked_mean(above.mean(-1), lengths)


RETURNS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean_iou": mean_iou_return,
    "floored_iou": floored_iou_return,
    "success_auc": success_auc_return,
}


def greedy_baseline(sampled: Tensor, greedy: Tensor | None) -> Tensor:
    """SCST: the greedy trajectory's return is the baseline of every sampled trajectory of its sequence."""
    if greedy is None:
        raise ValueError("the 'greedy' baseline needs the greedy trajectories' returns")
    return greedy.expand_as(sampled)


def mean_of_samples_baseline(sampled: Tensor, greedy: Tensor | None) -> Tensor:
    """DRLT-style baseline: for ``(S, N)`` sampled returns, the mean of the *other* S-1 samples of each sequence.

    Leave-one-out keeps the estimator unbiased. Needs ``S >= 2`` sampled trajectories per sequence.
    """
    if sampled.dim() != 2 or sampled.shape[0] < 2:
        raise ValueError(
            f"the 'mean_of_samples' baseline needs (S, N) returns with S >= 2 samples, got {tuple(sampled.shape)}"
        )
    count = sampled.shape[0]
    return (sampled.sum(0, keepdim=True) - sampled) / (count - 1)


def no_baseline(sampled: Tensor, greedy: Tensor | None) -> Tensor:
    """Plain REINFORCE: baseline 0."""
    return torch.zeros_like(sampled)


BASELINES: dict[str, Callable[[Tensor, Tensor | None], Tensor]] = {
    "greedy": greedy_baseline,
    "mean_of_samples": mean_of_samples_baseline,
    "none": no_baseline,
}


def advantages(
    sampled_iou: Tensor,
    greedy_iou: Tensor | None,
    lengths: Tensor,
    *,
    return_fn: str = "mean_iou",
    baseline: str = "greedy",
) -> Tensor:
    """Advantages of sampled trajectories: ``return_fn`` (a :data:`RETURNS` name) minus ``baseline``.

    ``sampled_iou``: ``(N, L)`` or ``(S, N, L)`` (S sampled trajectories per sequence); ``greedy_iou``:
    ``(N, L)`` or None (only the ``greedy`` baseline needs it); ``lengths``: ``(N,)`` valid tracked frames.
    Returns ``(N,)`` or ``(S, N)``: ``return(sampled) - baseline``.
    """
    if return_fn not in RETURNS:
        raise ValueError(f"unknown return {return_fn!r}; expected one of {sorted(RETURNS)}")
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; expected one of {sorted(BASELINES)}")
    to_return = RETURNS[return_fn]
    sampled = to_return(sampled_iou, lengths)
    greedy = None if greedy_iou is None else to_return(greedy_iou, lengths)
    return sampled - BASELINES[baseline](sampled, greedy)


SCALES = ("none", "batch", "group")
SCALE_FLOOR = 0.01
"""Smallest spread (in mIoU) an advantage scale divides by: a batch whose sampled runs barely differ from their
baselines (spread 0.001, say) is scaled by at most 1 / 0.01 instead of being blown up to unit size."""


def scale_advantages(advantages: Tensor, scale: str = "none", spread: Tensor | None = None) -> Tensor:
    """Advantages divided by their spread, keeping their signs and zeros (the baseline stays the zero point).

    ``advantages``: ``(N,)`` or ``(S, N)``. ``scale``:

    * ``"none"`` (SLT, as official): unchanged;
    * ``"batch"``: divided by the root mean square of every advantage of the step, ``sqrt(mean A^2)``
      (``spread``, a scalar, overrides it: under torchrun, the value over all ranks);
    * ``"group"``: each clip's ``S`` advantages divided by their root mean square over its own samples
      (GRPO-style groups; needs ``(S, N)`` with ``S >= 2``).

    The spread is floored at :data:`SCALE_FLOOR`. With Adam the step size ignores a constant loss scale, so what
    the scale changes is the SCST term's weight against the box loss and, for ``"group"``, between clips.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown advantage scale {scale!r}; expected one of {SCALES}")
    if scale == "none":
        return advantages
    if scale == "group":
        if advantages.dim() != 2 or advantages.shape[0] < 2:
            raise ValueError(f"the 'group' advantage scale needs (S, N) advantages with S >= 2 samples, got "
                             f"{tuple(advantages.shape)}")
        spread = advantages.pow(2).mean(0, keepdim=True).sqrt()
    elif spread is None:
        spread = advantages.pow(2).mean().sqrt()
    return advantages / spread.clamp_min(SCALE_FLOOR)


def sequence_advantages(sampled_iou: Tensor, greedy_iou: Tensor, lengths: Tensor) -> Tensor:
    """SLT's advantage: ``(N, L)`` sampled and greedy per-frame IoUs, ``(N,)`` valid tracked frames -> ``(N,)``.

    ``A_i = mean_{t < n_i} IoU(sampled_i,t) - mean_{t < n_i} IoU(greedy_i,t)``; frames ``t >= n_i`` (padding)
    are ignored; 0 when both trajectories are identical. No discount, whitening or clipping (as official).
    """
    return advantages(sampled_iou, greedy_iou, lengths, return_fn="mean_iou", baseline="greedy")


DENOMINATORS = ("all", "valid")


def scst_loss(
    logits: Tensor,
    actions: Tensor,
    advantages: Tensor,
    mask: Tensor | None = None,
    *,
    denominator: str = "all",
) -> Tensor:
    """SCST policy-gradient loss, a scalar.

    ``logits``: ``(M, K)`` policy logits recomputed with gradients on the recorded inputs (same shaping as in
    exploration); ``actions``: ``(M,)`` sampled candidate indices; ``advantages``: ``(M,)`` the advantage of
    the trajectory each sample belongs to (constant); ``mask``: ``(M,)`` bool, False on padded samples.

    ``loss = sum_n mask_n * (-advantages_n * log_softmax(logits_n)[actions_n]) / D`` where D is

    * ``"all"`` (default, official): M, the number of samples *including* padded ones;
    * ``"valid"``: the number of unmasked samples (the true mean over real samples).

    Gradient w.r.t. ``logits_n``: ``-advantages_n * (onehot(actions_n) - softmax(logits_n)) * mask_n / D``.
    """
    logp = torch.log_softmax(logits, dim=-1).gather(-1, actions[:, None].long()).squeeze(-1)
    return log_prob_scst_loss(logp, advantages, mask, denominator=denominator)


def log_prob_scst_loss(
    log_probs: Tensor,
    advantages: Tensor,
    mask: Tensor | None = None,
    *,
    denominator: str = "all",
) -> Tensor:
    """SCST loss from the log-probabilities of the sampled actions, a scalar (:func:`scst_loss`'s formula).

    ``log_probs``: ``(M,)`` ``log pi(a_n)`` with gradients -- one categorical's log-softmax at the action, or
    a factorised action's sum of token log-probabilities (:func:`slt.token_policy.teacher_forced_log_prob`);
    ``advantages``: ``(M,)`` constants; ``mask``: ``(M,)`` bool, False on padded samples.
    ``loss = sum_n mask_n * (-advantages_n * log_probs_n) / D``, D as in :func:`scst_loss`.
    """
    if denominator not in DENOMINATORS:
        raise ValueError(f"unknown denominator {denominator!r}; expected one of {DENOMINATORS}")
    per_sample = -advantages.detach().to(log_probs.dtype) * log_probs
    if mask is not None:
        per_sample = per_sample * mask.to(log_probs.dtype)
    if denominator == "all":
        count = per_sample.shape[0]
    else:
        count = per_sample.shape[0] if mask is None else int(mask.sum())
    return per_sample.sum() / max(count, 1)
