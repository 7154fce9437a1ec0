"""The SLT update: advantages from a rollout, chunked backward through a tracker's actor, one optimizer step.

The *actor* is the tracker-specific loss module (as PyTracking's ``BaseActor``): ``actor(samples) ->
(loss, stats)`` recomputes the policy logits on recorded crops with gradients and adds the frame-level box
loss. This module owns everything else; it is shared by the reference loop and the host adapters.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor

from slt import scst
from slt.distributed import average_gradients, average_stats, sum_over_ranks
from slt.rollout import Rollout, Samples

logger = logging.getLogger(__name__)

Actor = Callable[[Samples], "tuple[Tensor, dict[str, float]]"]
CHUNK_NORMS = ("mean", "sum")


@dataclass(frozen=True)
class UpdateConfig:
    """How one SLT step turns a rollout into a parameter update.

    ``chunk_size``: samples per backward pass (<= 0: all at once); bounds the update's peak memory.
    ``chunk_norm``: ``"mean"`` scales each chunk's mean loss by its share of the samples, so the accumulated
    gradient is the batch mean whatever the chunking (PySOT's choice, the default); ``"sum"`` adds the chunk
    means unscaled, as the official LTR trainers do (docs/method.md#b9: gradients grow with the number of
    chunks; keep it only for bit-parity with official SLT-TransT/TrDiMP runs).
    ``grad_clip``: max global L2 norm (<= 0: no clipping, the norm is still measured).
    ``sample_order``: how samples are laid out before chunking (:meth:`slt.rollout.Rollout.samples`):
    ``"frame"`` (PySOT's) or ``"clip"`` (LTR's: a chunk holds whole clips and needs fewer template forwards).
    ``return_fn``/``baseline``: see :func:`slt.scst.advantages` (``"mean_of_samples"`` needs a rollout with
    at least two sampled trajectories per clip, ``explore(..., samples=S)``).
    ``advantage_scale``: :func:`slt.scst.scale_advantages` (``"none"``, SLT's; ``"batch"``: over the global
    batch, all ranks; ``"group"``: per clip, needs S >= 2). The logged ``reward`` stays the unscaled mean.
    """

    chunk_size: int = 64
    chunk_norm: str = "mean"
    grad_clip: float = 10.0
    return_fn: str = "mean_iou"
    baseline: str = "greedy"
    sample_order: str = "frame"
    advantage_scale: str = "none"

    def __post_init__(self) -> None:
        if self.chunk_norm not in CHUNK_NORMS:
            raise ValueError(f"unknown chunk_norm {self.chunk_norm!r}; expected one of {CHUNK_NORMS}")
        if self.advantage_scale not in scst.SCALES:
            raise ValueError(f"unknown advantage_scale {self.advantage_scale!r}; expected one of {scst.SCALES}")


def rollout_advantages(rollout: Rollout, config: UpdateConfig) -> Tensor:
    """``(S, N)`` advantages of the rollout's sampled trajectories under ``config``'s return and baseline
    (unscaled)."""
    return scst.advantages(rollout.sampled_iou, rollout.greedy_iou, rollout.lengths,
                           return_fn=config.return_fn, baseline=config.baseline)


def scaled_advantages(advantages: Tensor, config: UpdateConfig) -> Tensor:
    """``config.advantage_scale`` applied to ``(S, N)`` advantages; the ``"batch"`` spread is taken over every
    rank's advantages under torchrun, so a 2-rank run updates as one process on the same global batch."""
    spread = None
    if config.advantage_scale == "batch":
        moments = sum_over_ranks(torch.stack([advantages.pow(2).sum(), advantages.new_tensor(float(advantages.numel()))]))
        spread = (moments[0] / moments[1]).sqrt()
    return scst.scale_advantages(advantages, config.advantage_scale, spread)


def rollout_stats(rollout: Rollout, advantages: Tensor) -> dict[str, float]:
    """What every trainer logs about a rollout: ``reward`` (the mean advantage, as the official logs),
    ``greedy_miou``, ``sampled_miou`` and ``static_miou`` (mean IoU over valid frames of the greedy and sampled
    trajectories, and of keeping the first frame's box)."""
    miou = {name: float(scst.mean_iou_return(iou, rollout.lengths).mean())
            for name, iou in (("greedy_miou", rollout.greedy_iou), ("sampled_miou", rollout.sampled_iou),
                              ("static_miou", rollout.static_iou))}
    return {"reward": float(advantages.mean()), **miou}


UNTRAINED_MIOU = 0.25
"""Greedy mIoU below which the first batch looks like an untrained (random or wrong) start: random weights gave
0.0 (PySOT) and 0.10-0.20 (the reference tracker) on first batches, trained trackers 0.5-0.7."""


def check_start(stats: dict[str, float], weights_hint: str) -> bool:
    """Warn in one line when the first step says the tracker is untrained; returns whether it did.

    Untrained means a greedy mIoU below :data:`UNTRAINED_MIOU` or below ``static_miou``, the mIoU of keeping
    the first frame's box. SLT fine-tunes a trained tracker: from random weights the advantages carry
    no signal. ``weights_hint`` names the key or option that points at the starting weights."""
    greedy, static = stats["greedy_miou"], stats.get("static_miou", 0.0)
    if greedy >= max(UNTRAINED_MIOU, static):
        return False
    logger.warning("greedy mIoU of the first batch is %.3f (keeping the first box: %.3f): SLT fine-tunes a trained "
                   "tracker, and these weights do not track; start from trained weights (%s)", greedy, static,
                   weights_hint)
    return True


def slt_update(
    actor: Actor,
    parameters: Iterable[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: UpdateConfig = UpdateConfig(),
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Rewards -> chunked backward -> clip -> one optimizer step. Returns logged statistics.

    A non-finite loss or gradient norm skips the optimizer step (gradients are dropped) and reports
    ``skipped = 1``; the caller decides when too many skips in a row end training. Under ``torchrun``
    gradients and logged statistics are averaged over ranks (:mod:`slt.distributed`).
    """
    params = [p for p in parameters if p.requires_grad]
    advantages = rollout_advantages(rollout, config)
    stats = rollout_stats(rollout, advantages)
    if not bool(advantages.ne(0).any()):
        logger.info("every sampled trajectory scored exactly its baseline (all advantages 0, greedy mIoU %.4f): "
                    "the SCST term has no gradient this step, only the box loss trains", stats["greedy_miou"])
    samples = rollout.samples(scaled_advantages(advantages, config), config.sample_order)
    if device is not None:
        samples = samples.to(device)
    total = len(samples)
    optimizer.zero_grad(set_to_none=True)
    sums: dict[str, float] = {}
    finite = True
    for chunk in samples.chunks(config.chunk_size):
        share = len(chunk) / total
        loss, chunk_stats = actor(chunk)
        if not torch.isfinite(loss):
            finite = False
            break
        (loss * share if config.chunk_norm == "mean" else loss).backward()
        for key, value in chunk_stats.items():
            sums[key] = sums.get(key, 0.0) + value * share
    grad_norm, skipped = apply_gradients(params, optimizer, config.grad_clip, finite)
    stats = average_stats({**stats, **sums}, samples.actions.device)
    return {**stats, "grad_norm": grad_norm, "skipped": skipped}


def apply_gradients(
    params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer, grad_clip: float, finite: bool = True
) -> tuple[float, int]:
    """Average gradients over ranks (under torchrun), clip, step; returns ``(grad_norm, skipped)``.

    A non-finite loss on any rank (``finite=False``) or a non-finite gradient norm skips the step on every
    rank (gradients are dropped, a warning is logged) and returns ``skipped = 1``.
    """
    finite = average_gradients(params, finite)
    grad_norm = _clip(params, grad_clip) if finite else math.nan
    skipped = 0
    if finite and math.isfinite(grad_norm):
        optimizer.step()
    else:
        logger.warning("non-finite loss or gradient (grad norm %s): optimizer step skipped", grad_norm)
        skipped = 1
    optimizer.zero_grad(set_to_none=True)
    return grad_norm, skipped


def _clip(params: list[torch.nn.Parameter], max_norm: float) -> float:
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(grads, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in grads])))
