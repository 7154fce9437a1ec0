"""Batched exploration tracker and test-time tracker of the reference SiamRPN (SiamRPN++ tracking rules).

``batch_init`` / ``batch_track`` run ``copies * N`` trajectories over N sequences at once (copy-major rows:
row ``c * N + i`` follows sequence ``i``); with ``action_mode="half"`` and two copies, rows ``[0, N)`` are the
greedy trajectories and rows ``[N, 2N)`` the sampled ones. ``init`` / ``track`` are the test-time tracker, a
one-row ``batch_track`` in ``"argmax"`` mode, so the greedy rows *are* the deployed tracker.

Boxes are ``xywh`` in image pixels, continuous coordinates (a box's centre is ``x + w / 2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from slt import policy
from slt.crop import FrameBatch, crop_batch, crop_windows, frame_means, to_uint8
from slt.reference.anchors import decode, generate_anchors
from slt.reference.model import ReferenceSiamRPN
from slt.rollout import TrackStep


@dataclass(frozen=True)
class TrackerParams:
    """SiamRPN++ tracking hyper-parameters (PySOT's TRACK block) plus SLT's policy settings."""

    context_amount: float = 0.5
    penalty_k: float = 0.05
    window_influence: float = 0.42
    size_lr: float = 0.38
    min_size: float = 4.0
    temperature: float = 8.0
    sig_eps: float = 0.01


def context_size(wh: Tensor, context_amount: float) -> Tensor:
    """SiamFC template-region side ``sqrt((w + p)(h + p))``, ``p = context_amount * (w + h)``: ``(..., 2) -> (...)``."""
    pad = context_amount * wh.sum(-1)
    return torch.sqrt((wh[..., 0] + pad) * (wh[..., 1] + pad))


class ReferenceTracker:
    """Exploration (batched) and test-time tracker around a :class:`ReferenceSiamRPN`."""

    def __init__(self, model: ReferenceSiamRPN, params: TrackerParams = TrackerParams()) -> None:
        self.model = model
        self.params = params
        net = model.config
        self.exemplar_size, self.search_size = net.exemplar_size, net.search_size
        device = next(model.parameters()).device
        self.anchors = generate_anchors(net.anchors, net.score_size).to(device)
        self.window = policy.hann_window(net.score_size, net.anchors.num).to(device)
        self.copies = 1
        self.device = device

    # ----------------------------------------------------------------------------------------- batched API
    def batch_init(
        self,
        template_images: Sequence[np.ndarray],
        template_boxes: Tensor,
        init_boxes: Tensor,
        copies: int = 2,
    ) -> Tensor:
        """Start ``copies * N`` trajectories; returns the ``(N, 3, e, e)`` uint8 template crops.

        The template comes from ``template_boxes`` (N, 4) xywh in ``template_images``; the tracker state
        (centre, size) starts at ``init_boxes`` (N, 4) xywh, the ground truth of the clip's first frame.
        """
        template_boxes = template_boxes.to(self.device, torch.float32)
        init_boxes = init_boxes.to(self.device, torch.float32)
        frames = FrameBatch.from_numpy(template_images, self.device)
        side = context_size(template_boxes[:, 2:], self.params.context_amount)
        centre = template_boxes[:, :2] + template_boxes[:, 2:] / 2
        padding = frame_means(template_images, self.device)
        crops = crop_batch(frames, _square(centre, side), self.exemplar_size, padding)
        self.padding = padding.repeat(copies, 1)
        self.template_features = self.model.template(crops).repeat(copies, 1, 1, 1)
        self.copies = copies
        self.centre = (init_boxes[:, :2] + init_boxes[:, 2:] / 2).repeat(copies, 1)
        self.size = init_boxes[:, 2:].repeat(copies, 1)
        return to_uint8(crops)

    def batch_track(
        self,
        frames: Sequence[np.ndarray],
        action_mode: str = "half",
        random: policy.Randomness = None,
    ) -> TrackStep:
        """Track one frame per sequence (``frames``: N HxWx3 uint8 images) for every trajectory."""
        p = self.params
        side_z = context_size(self.size, p.context_amount)
        scale_z = self.exemplar_size / side_z
        regions = _square(self.centre, side_z * (self.search_size / self.exemplar_size))
        windows = crop_windows(regions, [f.shape[:2] for f in frames])
        batch = FrameBatch.from_numpy(frames, self.device, windows)
        image_hw = batch.sizes.repeat(self.copies, 1)
        crops = crop_batch(batch, regions, self.search_size, self.padding)
        cls, loc = self.model.track(crops, self.template_features)
        fg_prob = torch.sigmoid(cls)
        pred = decode(loc, self.anchors)  # (B, K, 4) cx cy w h, crop pixels, relative to the crop centre
        penalty = policy.scale_ratio_penalty(pred[..., 2:], self.size * scale_z[:, None], p.penalty_k)
        logits = policy.shaped_logits(
            fg_prob, penalty=penalty, window=self.window, window_influence=p.window_influence,
            temperature=p.temperature, sig_eps=p.sig_eps,
        )
        actions = policy.select_actions(logits, action_mode, random)
        rows = torch.arange(actions.shape[0], device=actions.device)
        chosen = pred[rows, actions] / scale_z[:, None]
        lr = (penalty[rows, actions] * fg_prob[rows, actions] * p.size_lr)[:, None]
        centre = self.centre + chosen[:, :2]
        size = self.size * (1 - lr) + chosen[:, 2:] * lr
        wh = image_hw.flip(-1)
        self.centre = torch.minimum(centre.clamp(min=0), wh)
        self.size = torch.minimum(size.clamp(min=p.min_size), wh)
        boxes = torch.cat((self.centre - self.size / 2, self.size), dim=1)
        return TrackStep(boxes=boxes, actions=actions, crops=crops, regions=regions, extras={"penalty": penalty})

    # ------------------------------------------------------------------------------------- test-time API
    @torch.inference_mode()
    def init(self, image: np.ndarray, box: Sequence[float]) -> None:
        """Initialise on ``image`` (HxWx3 uint8) with ``box`` xywh."""
        tensor = torch.as_tensor(np.asarray(box, dtype=np.float32)[None])
        self.batch_init([image], tensor, tensor, copies=1)

    @torch.inference_mode()
    def track(self, image: np.ndarray) -> np.ndarray:
        """Greedy decision on the next frame -> ``(4,)`` xywh."""
        return self.batch_track([image], action_mode="argmax").boxes[0].cpu().numpy()


def _square(centre: Tensor, side: Tensor) -> Tensor:
    """``(B, 2)`` centres and ``(B,)`` sides -> ``(B, 4)`` square regions ``x0, y0, side, side``."""
    return torch.cat((centre - side[:, None] / 2, side[:, None], side[:, None]), dim=1)
