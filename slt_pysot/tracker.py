"""``SLTSiamRPNTracker``: PySOT's ``SiamRPNTracker`` plus the batched exploration API of :mod:`slt.rollout`.

Importing this module registers SLT's cfg keys (:func:`slt_pysot.config.register_slt_cfg`) and the class in
``pysot.tracker.tracker_builder.TRACKS['SLTSiamRPNTracker']``, so ``TRACK.TYPE: 'SLTSiamRPNTracker'`` resolves
in PySOT's own tools. Its test-time ``init()`` / ``track()`` are upstream's, unchanged.

Conventions on the PySOT side: images are HxWx3 uint8 **BGR** (``cv2.imread``); a box ``x, y, w, h`` (pixels,
0-based) has its centre at ``x + (w - 1) / 2`` (pixel-index coordinates, PySOT's ``init``), and a tracked box is
reported as ``[cx - w / 2, cy - h / 2, w, h]`` (PySOT's ``track``). The batched path keeps both rules, so its
greedy rows reproduce ``SiamRPNTracker.track`` (the ``'host'`` crop backend bit for bit up to float rounding).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from pysot.core.config import cfg
from pysot.tracker.siamrpn_tracker import SiamRPNTracker
from pysot.tracker.tracker_builder import TRACKS
from slt import policy
from slt.crop import CROP_BACKENDS, FrameBatch, crop_batch, crop_windows, frame_means, to_uint8
from slt.rollout import TrackStep
from slt.siamrpn import PYSOT, SiamRPNRules, SiamRPNState, decode_deltas, rpn_deltas, rpn_foreground_prob, \
    siamrpn_shaping
from slt_pysot.config import register_slt_cfg


def _repeat_features(features: Any, copies: int) -> Any:
    """Template features (a tensor, or a list of tensors for multi-level models) repeated copy-major."""
    if isinstance(features, (list, tuple)):
        return [f.repeat(copies, *([1] * (f.dim() - 1))) for f in features]
    return features.repeat(copies, *([1] * (features.dim() - 1)))


class SLTSiamRPNTracker(SiamRPNTracker):
    """SiamRPN++ tracker with ``batch_init`` / ``batch_track`` over ``copies * N`` trajectories (copy-major rows:
    row ``c * N + i`` follows sequence ``i``; with ``copies=2`` and ``action_mode='half'`` rows ``[0, N)`` are
    greedy and ``[N, 2N)`` sampled).

    The SiamRPN step is :meth:`slt.siamrpn.SiamRPNRules.step` in the :data:`slt.siamrpn.PYSOT` conventions
    (``rules``, from ``cfg.TRACK``). ``shaping`` is this tracker's policy shaping (float64 cosine window,
    ``TRACK.WINDOW_INFLUENCE``, ``TRAIN.TEMP``, ``TRAIN.SIG_EPS``) and ``no_neg_logit`` its score rule
    (``TRAIN.NO_NEG_LOGIT``), both read from the cfg once, here; :class:`slt_pysot.actor.SLTSiamRPNActor` takes
    them from the tracker. ``state`` (:class:`slt.siamrpn.SiamRPNState`, float64) holds the trajectories.

    ``crop``: ``'torch'`` (default ``cfg.SLT.CROP``) crops every row in one ``grid_sample`` call on the model's
    device (:func:`slt.crop.crop_batch`, uploading only the pixels the crops need); ``'host'`` calls the
    inherited ``get_subwindow`` row by row, exactly as ``SiamRPNTracker`` does. Both pad with the template
    image's mean colour, floored as PySOT's uint8 padding does. The compute device is the device of the model's
    parameters (the entry points put the model on the cfg's device). As in PySOT, template features are kept on
    the model (``model.zf``): one tracker per model at a time.
    """

    def __init__(self, model: torch.nn.Module, crop: str | None = None) -> None:
        super().__init__(model)
        self.crop = cfg.SLT.CROP if crop is None else crop
        if self.crop not in CROP_BACKENDS:
            raise ValueError(f"SLT.CROP must be one of {CROP_BACKENDS}, got {self.crop!r}")
        self.device = next(model.parameters()).device
        self.rules = SiamRPNRules(exemplar_size=cfg.TRACK.EXEMPLAR_SIZE, instance_size=cfg.TRACK.INSTANCE_SIZE,
                                  context_amount=cfg.TRACK.CONTEXT_AMOUNT, penalty_k=cfg.TRACK.PENALTY_K,
                                  size_lr=cfg.TRACK.LR, conventions=PYSOT)
        self.shaping = siamrpn_shaping(self.score_size, self.anchor_num, cfg.TRACK.WINDOW_INFLUENCE, cfg.TRAIN.TEMP,
                                       cfg.TRAIN.SIG_EPS, dtype=PYSOT.dtype, device=self.device)
        self.no_neg_logit = bool(cfg.TRAIN.NO_NEG_LOGIT)
        self.anchors_t = torch.from_numpy(np.ascontiguousarray(self.anchors, dtype=np.float32)).to(self.device)
        self.copies = 1
        self.channel_average: list[np.ndarray] = []
        self.padding = torch.zeros(0, 3, device=self.device)
        empty = torch.zeros(0, 2, dtype=PYSOT.dtype, device=self.device)
        self.state = SiamRPNState(centre=empty, size=empty)

    def batch_init(
        self,
        template_images: Sequence[np.ndarray],
        template_boxes: Tensor,
        init_boxes: Tensor,
        copies: int = 2,
    ) -> Tensor:
        """Start ``copies * N`` trajectories; returns the ``(N, 3, 127, 127)`` uint8 BGR template crops.

        ``template_images``: N HxWx3 uint8 BGR frames; ``template_boxes`` ``(N, 4)`` xywh pixels in them (the
        template crop); ``init_boxes`` ``(N, 4)`` xywh, the tracker state to start from (the clip's first frame).
        Template features are computed once here and reused for every frame of the clip.
        """
        regions = self.rules.template_region(template_boxes.to(self.device))
        exemplar = self.rules.exemplar_size
        padding = frame_means(template_images, self.device).floor()
        self.padding = padding.repeat(copies, 1)
        if self.crop == "host":
            self.channel_average = [np.mean(image, axis=(0, 1)) for image in template_images]
            centre_np = PYSOT.centre(template_boxes.detach().to(self.device, PYSOT.dtype)).cpu().numpy()
            side_np = regions[:, 2].cpu().numpy()
            crops = torch.cat([
                self.get_subwindow(image, centre_np[i], exemplar, float(side_np[i]), self.channel_average[i])
                for i, image in enumerate(template_images)
            ]).to(self.device)
        else:
            frames = FrameBatch.from_numpy(template_images, self.device)
            crops = crop_batch(frames, regions, exemplar, padding)
        self.model.template(crops)
        self.model.zf = _repeat_features(self.model.zf, copies)
        self.state = self.rules.start(init_boxes.to(self.device), copies)
        self.copies = copies
        return to_uint8(crops)

    def batch_track(
        self,
        frames: Sequence[np.ndarray],
        action_mode: str = "half",
        random: policy.Randomness = None,
    ) -> TrackStep:
        """Track one frame per sequence (``frames``: N HxWx3 uint8 BGR images) for every trajectory.

        ``random`` is passed to :func:`slt.policy.select_actions` (a :class:`slt.policy.ClipRandom` keyed by clip,
        a ``torch.Generator`` or None). Returns a :class:`slt.rollout.TrackStep`: ``boxes`` ``(B, 4)`` xywh image
        pixels (PySOT's reported box), ``actions`` ``(B,)`` anchor indices, ``crops`` ``(B, 3, S, S)`` float32 BGR
        search crops, 0-255 (S = ``TRACK.INSTANCE_SIZE``; the rollout stores them as uint8), ``regions``
        ``(B, 4)`` their squares ``x0, y0, side, side`` and ``extras['penalty']`` ``(B, K)`` the scale/ratio
        penalty the decision used.

        The score shaping runs in float64, as the stock tracker's NumPy code does, so that greedy rows pick the
        stock tracker's anchor even among near-ties (networks with random weights produce many); the actor
        rebuilds the logits with the same shaping in float32 (official B16 otherwise).
        """
        scale_z, regions = self.rules.search(self.state)
        crops = self._search_crops(frames, regions)
        outputs = self.model.track(crops)
        fg_prob = rpn_foreground_prob(outputs["cls"], self.no_neg_logit)
        pred = decode_deltas(rpn_deltas(outputs["loc"]), self.anchors_t, PYSOT.max_log_delta)
        decision = self.rules.step(self.state, fg_prob, pred, scale_z,
                                   self.rules.image_wh(frames, self.copies, self.device), self.shaping,
                                   action_mode, random)
        self.state = decision.state
        return TrackStep(boxes=self.state.boxes().float(), actions=decision.actions, crops=crops,
                         regions=regions.float(), extras={"penalty": decision.penalty.float()})

    def _search_crops(self, frames: Sequence[np.ndarray], regions: Tensor) -> Tensor:
        """``(B, 3, S, S)`` float32 search crops of ``regions`` (row ``r`` crops ``frames[r % N]``)."""
        instance = self.rules.instance_size
        if self.crop == "torch":
            windows = crop_windows(regions, [f.shape[:2] for f in frames])
            return crop_batch(FrameBatch.from_numpy(frames, self.device, windows), regions, instance, self.padding)
        num = len(frames)
        centre_np = self.state.centre.cpu().numpy()
        side_np = regions[:, 2].cpu().numpy()
        return torch.cat([
            self.get_subwindow(frames[r % num], centre_np[r], instance, float(side_np[r]),
                               self.channel_average[r % num])
            for r in range(regions.shape[0])
        ]).to(self.device)


register_slt_cfg(cfg)
TRACKS["SLTSiamRPNTracker"] = SLTSiamRPNTracker
