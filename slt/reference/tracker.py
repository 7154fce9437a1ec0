"""Batched exploration tracker and test-time tracker of the reference SiamRPN (SiamRPN++ tracking rules).

``batch_init`` / ``batch_track`` run ``copies * N`` trajectories over N sequences at once (copy-major rows:
row ``c * N + i`` follows sequence ``i``); with ``action_mode="half"`` and two copies, rows ``[0, N)`` are the
greedy trajectories and rows ``[N, 2N)`` the sampled ones. ``init`` / ``track`` are the test-time tracker, a
one-row ``batch_track`` in ``"argmax"`` mode, so the greedy rows *are* the deployed tracker.

Boxes are ``xywh`` in image pixels, continuous coordinates (a box's centre is ``x + w / 2``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from slt import policy
from slt.crop import FrameBatch, crop_batch, crop_windows, frame_means, to_uint8
from slt.reference.anchors import generate_anchors
from slt.reference.model import ReferenceSiamRPN
from slt.rollout import TrackStep
from slt.siamrpn import REFERENCE, SiamRPNRules, SiamRPNState, decode_deltas, siamrpn_shaping


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


class ReferenceTracker:
    """Exploration (batched) and test-time tracker around a :class:`ReferenceSiamRPN`.

    The SiamRPN step is :meth:`slt.siamrpn.SiamRPNRules.step` in the :data:`slt.siamrpn.REFERENCE` conventions
    (float32, continuous centres, deltas clamped at 6, ``params.min_size``). ``shaping`` is this tracker's policy
    shaping (float32 cosine window); :class:`slt.reference.actor.ReferenceSLTActor` takes it from the tracker.
    """

    def __init__(self, model: ReferenceSiamRPN, params: TrackerParams = TrackerParams()) -> None:
        self.model = model
        self.params = params
        net = model.config
        self.exemplar_size, self.search_size = net.exemplar_size, net.search_size
        device = next(model.parameters()).device
        self.anchors = generate_anchors(net.anchors, net.score_size).to(device)
        self.rules = SiamRPNRules(exemplar_size=net.exemplar_size, instance_size=net.search_size,
                                  context_amount=params.context_amount, penalty_k=params.penalty_k,
                                  size_lr=params.size_lr, conventions=replace(REFERENCE, min_size=params.min_size))
        self.shaping = siamrpn_shaping(net.score_size, net.anchors.num, params.window_influence, params.temperature,
                                       params.sig_eps, dtype=torch.float32, device=device)
        self.copies = 1
        self.device = device
        self.state = SiamRPNState(centre=torch.zeros(0, 2, device=device), size=torch.zeros(0, 2, device=device))

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
        frames = FrameBatch.from_numpy(template_images, self.device)
        padding = frame_means(template_images, self.device)
        regions = self.rules.template_region(template_boxes.to(self.device))
        crops = crop_batch(frames, regions, self.exemplar_size, padding)
        self.padding = padding.repeat(copies, 1)
        self.template_features = self.model.template(crops).repeat(copies, 1, 1, 1)
        self.copies = copies
        self.state = self.rules.start(init_boxes.to(self.device), copies)
        return to_uint8(crops)

    def batch_track(
        self,
        frames: Sequence[np.ndarray],
        action_mode: str = "half",
        random: policy.Randomness = None,
    ) -> TrackStep:
        """Track one frame per sequence (``frames``: N HxWx3 uint8 images) for every trajectory."""
        scale_z, regions = self.rules.search(self.state)
        windows = crop_windows(regions, [f.shape[:2] for f in frames])
        batch = FrameBatch.from_numpy(frames, self.device, windows)
        crops = crop_batch(batch, regions, self.search_size, self.padding)
        cls, loc = self.model.track(crops, self.template_features)
        # (B, K, 4) cx cy w h, crop pixels, relative to the crop centre
        pred = decode_deltas(loc.transpose(1, 2), self.anchors, self.rules.conventions.max_log_delta)
        decision = self.rules.step(self.state, torch.sigmoid(cls), pred, scale_z,
                                   self.rules.image_wh(frames, self.copies, self.device), self.shaping,
                                   action_mode, random)
        self.state = decision.state
        return TrackStep(boxes=self.state.boxes(), actions=decision.actions, crops=crops, regions=regions,
                         extras={"penalty": decision.penalty})

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
