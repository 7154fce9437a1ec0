"""Exploration: track every clip greedily and S times sampled, and record what the SCST update needs.

A rollout runs a *batched tracker* -- any object with

* ``batch_init(template_images, template_boxes, init_boxes, copies) -> template record`` (a tensor whose first
  dimension is N, e.g. the template crops), and
* ``batch_track(frames, action_mode, random) -> TrackStep`` (``random`` passed on to
  :func:`slt.policy.select_actions`)

-- over N clips with ``copies = 1 + S`` rows per clip (copy-major: row ``c * N + i`` follows clip ``i``; copy 0
greedy, copies 1..S sampled) under ``torch.inference_mode()``. It never computes a loss
(:mod:`slt.scst` and the trainers do). Boxes are ``xywh`` image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from slt.boxes import box_iou_xywh
from slt.crop import to_uint8
from slt.policy import ClipRandom, Randomness
from slt.scst import mean_iou_return


SAMPLE_ORDERS = ("frame", "clip")


@dataclass
class TrackStep:
    """One frame of ``B`` trajectories, as a batched tracker reports it.

    ``boxes`` (B, 4) xywh image pixels; ``actions`` (B,) chosen candidate indices; ``crops`` (B, 3, S, S) the
    search crops the decision was made on (0-255 values; the rollout stores the ones it keeps as uint8);
    ``regions`` (B, 4) those crops' squares ``x0, y0, side, side`` in image pixels; ``extras`` per-row tensors the update needs to rebuild the
    exploration logits (e.g. PySOT's ``penalty`` (B, K)).
    """

    boxes: Tensor
    actions: Tensor
    crops: Tensor
    regions: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


class BatchTracker(Protocol):
    def batch_init(
        self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor, copies: int = 2
    ) -> Tensor: ...

    def batch_track(
        self, frames: Sequence[np.ndarray], action_mode: str = "half", random: Randomness = None
    ) -> TrackStep: ...


@dataclass
class Rollout:
    """One greedy and S sampled trajectories of each of N clips of T frames (L = T - 1 tracked frames).

    ``boxes`` (1 + S, N, L, 4) xywh, ``iou`` (1 + S, N, L) with the ground truth (index 0 greedy, 1..S
    sampled); ``lengths`` (N,) valid tracked frames; and, for the R = S * N *sampled* trajectories only
    (trajectory ``j = s * N + i`` follows clip ``i``), frame-major records: ``actions`` (L, R, ...) (a factorised
    action, e.g. a box's tokens, has trailing dimensions), ``crops``
    (L, R, 3, C, C) uint8, ``gt_in_crop`` (L, R, 4) xywh in crop pixels (NaN where the frame has no valid ground
    truth), ``extras`` name -> (L, R, ...); ``templates`` (N, ...) the template record of ``batch_init``;
    ``static_iou`` (N, L): the IoU of a tracker that keeps the first frame's box, the floor any trained tracker
    beats.
    """

    boxes: Tensor
    iou: Tensor
    lengths: Tensor
    actions: Tensor
    crops: Tensor
    gt_in_crop: Tensor
    extras: dict[str, Tensor]
    templates: Tensor
    static_iou: Tensor

    @property
    def num_samples(self) -> int:
        """S, sampled trajectories per clip."""
        return int(self.iou.shape[0]) - 1

    @property
    def greedy_iou(self) -> Tensor:
        """(N, L) per-frame IoU of the greedy trajectories."""
        return self.iou[0]

    @property
    def sampled_iou(self) -> Tensor:
        """(S, N, L) per-frame IoU of the sampled trajectories."""
        return self.iou[1:]

    def samples(self, advantages: Tensor, order: str = "frame") -> "Samples":
        """Flatten the sampled records into ``L * R`` training samples, each with its trajectory's advantage.

        ``advantages``: (S, N), one per sampled trajectory (:func:`slt.scst.advantages`).
        ``order="frame"``: frame-major (every trajectory's frame 1, then frame 2, ...), as PySOT's official
        loop, so every chunk mixes all clips; ``order="clip"``: clip-major (all frames of clip 1's sampled
        trajectories, then clip 2's, ...), as the official LTR trainers chunk by clips -- a chunk then needs the
        template branch of fewer clips.
        """
        if order not in SAMPLE_ORDERS:
            raise ValueError(f"unknown sample order {order!r}; expected one of {SAMPLE_ORDERS}")
        steps, trajectories = self.actions.shape[:2]
        clips = int(self.lengths.shape[0])
        device = self.lengths.device
        if advantages.shape != (self.num_samples, clips):
            raise ValueError(f"advantages must be (S, N) = ({self.num_samples}, {clips}), got {tuple(advantages.shape)}")
        # Trajectory j = s * N + i; the clip-major order visits clip 0's S trajectories first.
        perm = torch.arange(trajectories, device=device)
        if order == "clip":
            perm = perm.view(self.num_samples, clips).t().reshape(-1)

        def flat(values: Tensor) -> Tensor:  # (L, R, ...) -> (L * R, ...) in the chosen order
            values = values[:, perm]
            return (values if order == "frame" else values.transpose(0, 1)).reshape(-1, *values.shape[2:])

        frame = torch.arange(steps, device=device)[:, None].expand(steps, trajectories)
        clip = (torch.arange(trajectories, device=device) % clips)[None, :].expand(steps, trajectories)
        per_trajectory = advantages.to(device).reshape(-1)[None, :].expand(steps, trajectories)
        return Samples(
            sequence=flat(clip),
            actions=flat(self.actions),
            crops=flat(self.crops),
            gt_in_crop=flat(self.gt_in_crop),
            extras={k: flat(v) for k, v in self.extras.items()},
            advantages=flat(per_trajectory),
            mask=flat(frame < self.lengths[clip]),
            templates=self.templates,
        )


@dataclass
class Samples:
    """M recorded samples of the sampled trajectories, ready for chunked updates.

    ``sequence`` (M,) index of the clip each sample came from (into ``templates``), ``actions`` (M,),
    ``crops`` (M, 3, C, C) uint8, ``gt_in_crop`` (M, 4) xywh crop pixels (NaN: no ground truth), ``extras``,
    ``advantages`` (M,) the advantage of the sample's trajectory, ``mask`` (M,) False on padded frames,
    ``templates`` (N, ...).
    """

    sequence: Tensor
    actions: Tensor
    crops: Tensor
    gt_in_crop: Tensor
    extras: dict[str, Tensor]
    advantages: Tensor
    mask: Tensor
    templates: Tensor

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def _map(self, fn: Callable[[Tensor], Tensor], templates: Tensor) -> "Samples":
        return Samples(
            sequence=fn(self.sequence), actions=fn(self.actions), crops=fn(self.crops),
            gt_in_crop=fn(self.gt_in_crop), extras={k: fn(v) for k, v in self.extras.items()},
            advantages=fn(self.advantages), mask=fn(self.mask), templates=templates,
        )

    def chunks(self, size: int) -> Iterator["Samples"]:
        """Consecutive chunks of at most ``size`` samples (``size <= 0``: one chunk)."""
        size = len(self) if size <= 0 else size
        for start in range(0, len(self), size):
            part = slice(start, start + size)
            yield self._map(lambda v: v[part], self.templates)

    def to(self, device: torch.device | str) -> "Samples":
        return self._map(lambda v: v.to(device), self.templates.to(device))


def gt_in_crop(gt: Tensor, regions: Tensor, crop_size: int) -> Tensor:
    """Ground truth ``(B, 4)`` xywh image pixels -> xywh in the pixels of crops of ``regions`` ``(B, 4)``."""
    scale = crop_size / regions[:, 2:3]
    return torch.cat(((gt[:, :2] - regions[:, :2]) * scale, gt[:, 2:] * scale), dim=1)


def clip_ground_truth(batch: dict[str, list[Any]]) -> tuple[Tensor, Tensor, Tensor]:
    """``(template_boxes (N, 4), gts (N, T, 4), lengths (N,))`` of a collated batch: xywh image pixels, NaN on
    frames marked invisible, valid tracked frames per clip. A clip whose frame 0 has no visible, valid box
    raises ``ValueError`` naming it (the tracker cannot start there)."""
    clips = len(batch["search_images"])
    num_frames = len(batch["search_images"][0])
    template_boxes = torch.as_tensor(np.stack(batch["template_annos"]), dtype=torch.float32)
    gts = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)  # (N, T, 4)
    if "search_visible" in batch:
        invisible = ~torch.as_tensor(np.stack(batch["search_visible"]), dtype=torch.bool)
        gts = gts.masked_fill(invisible[..., None], float("nan"))
    first = gts[:, 0]
    bad = ~(torch.isfinite(first).all(-1) & (first[:, 2] > 0) & (first[:, 3] > 0))
    if bad.any():
        names = [batch.get("sequence", list(range(clips)))[k] for k in bad.nonzero().flatten().tolist()]
        raise ValueError(f"clips {names} have no visible, valid ground truth on their first frame: the tracker "
                         f"cannot start there (boxes {first[bad].tolist()})")
    real = torch.as_tensor(batch.get("num_frames", [num_frames] * clips), dtype=torch.long)
    return template_boxes, gts, (real.clamp(max=num_frames) - 1).clamp(min=0)


def greedy_miou(tracker: BatchTracker, batch: dict[str, list[Any]]) -> Tensor:
    """``(N,)`` mean IoU over the valid frames of each clip's greedy (test-time) trajectory: one copy, argmax."""
    template_boxes, gts, lengths = clip_ground_truth(batch)
    with torch.inference_mode():
        tracker.batch_init(batch["template_images"], template_boxes, gts[:, 0], copies=1)
        boxes = torch.stack([tracker.batch_track([clip[t] for clip in batch["search_images"]], "argmax").boxes
                             for t in range(1, gts.shape[1])], dim=1)
    iou = box_iou_xywh(boxes, gts[:, 1:].to(boxes.device))
    return mean_iou_return(iou, lengths.to(boxes.device))


def explore(
    tracker: BatchTracker,
    batch: dict[str, list[Any]],
    random: Randomness = None,
    samples: int = 1,
) -> Rollout:
    """Run one greedy and ``samples`` sampled trajectories per clip over a collated batch of N clips.

    Uses ``template_images``, ``template_annos``, ``search_images`` (T frames each) and ``search_annos`` of
    ``batch`` (see :class:`slt.sampling.SequenceSampler`); optional ``num_frames`` (real clip lengths, shorter
    clips padded by repetition) and ``search_visible``. The tracker starts on frame 0's ground truth (a clip
    whose frame 0 is invisible or has no valid box raises ``ValueError`` naming it) and tracks frames
    ``1..T-1`` with ``1 + samples`` copies of each clip; frame ``t`` counts as valid when ``t < num_frames``.

    ``random``: the sampling randomness; default :meth:`slt.policy.ClipRandom.for_batch` (draws keyed by each
    clip's ``key``, so a clip explores alike in any process, rank or batch position). ``samples > 1`` needs a
    :class:`slt.policy.ClipRandom`.
    """
    if samples < 1:
        raise ValueError(f"explore needs at least one sampled trajectory per clip, got samples={samples}")
    if random is None:
        random = ClipRandom.for_batch(batch)
    if samples > 1 and not isinstance(random, ClipRandom):
        raise ValueError("several sampled trajectories per clip need a ClipRandom (its clip count fixes the layout)")
    clips = len(batch["search_images"])
    num_frames = len(batch["search_images"][0])
    copies = 1 + samples
    template_boxes, gts, lengths = clip_ground_truth(batch)
    first = gts[:, 0]
    with torch.inference_mode():
        templates = tracker.batch_init(batch["template_images"], template_boxes, first, copies=copies)
        steps = []
        for t in range(1, num_frames):
            steps.append(tracker.batch_track([clip[t] for clip in batch["search_images"]], "half", random))
    device = steps[0].boxes.device
    boxes = torch.stack([s.boxes for s in steps], dim=1).view(copies, clips, num_frames - 1, 4)
    gt_track = gts[:, 1:].to(device)
    iou = box_iou_xywh(boxes, gt_track[None])
    sampled = slice(clips, copies * clips)
    crop_size = steps[0].crops.shape[-1]
    in_crop = torch.stack([gt_in_crop(gt_track[:, t].repeat(samples, 1), s.regions[sampled], crop_size)
                           for t, s in enumerate(steps)])
    extras = {k: torch.stack([s.extras[k][sampled] for s in steps]).clone() for k in steps[0].extras}
    return Rollout(
        boxes=boxes.clone(),
        iou=iou.clone(),
        lengths=lengths.to(device),
        actions=torch.stack([s.actions[sampled] for s in steps]).clone(),
        crops=torch.stack([to_uint8(s.crops[sampled]) for s in steps]),
        gt_in_crop=in_crop.clone(),
        extras=extras,
        templates=templates.clone(),
        static_iou=box_iou_xywh(first[:, None].to(device), gt_track),
    )
