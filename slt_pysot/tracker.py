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
from slt.crop import FrameBatch, crop_batch, crop_windows, frame_means, siamfc_region, to_uint8
from slt.rollout import TrackStep
from slt_pysot.config import CROP_BACKENDS, register_slt_cfg

MIN_SIZE = 10.0
"""PySOT's ``_bbox_clip`` keeps the target at least this many pixels wide and high."""


def foreground_prob(cls: Tensor, no_neg_logit: bool = False) -> Tensor:
    """RPN classification output ``(B, 2A, s, s)`` -> ``(B, A*s*s)`` target probability per anchor.

    ``sigmoid(block1 - block0)`` (= PySOT's ``softmax(...)[:, 1]``), or ``sigmoid(block1)`` with ``no_neg_logit``.
    Candidate order is PySOT's anchor-major ``a * s * s + y * s + x``.
    """
    blocks = cls.reshape(cls.shape[0], 2, -1)
    return torch.sigmoid(blocks[:, 1] if no_neg_logit else blocks[:, 1] - blocks[:, 0])


def decode_boxes(loc: Tensor, anchors: Tensor) -> Tensor:
    """RPN deltas ``(B, 4A, s, s)`` and anchors ``(K, 4)`` -> boxes ``(B, K, 4)`` cx cy w h.

    Anchors are PySOT's ``generate_anchor`` output: cx cy w h in search-crop pixels, the centre relative to the
    crop centre, so decoded centres are displacements of the target from the crop centre (PySOT's
    ``_convert_bbox``).
    """
    delta = loc.reshape(loc.shape[0], 4, -1)
    cx = delta[:, 0] * anchors[:, 2] + anchors[:, 0]
    cy = delta[:, 1] * anchors[:, 3] + anchors[:, 1]
    w = torch.exp(delta[:, 2]) * anchors[:, 2]
    h = torch.exp(delta[:, 3]) * anchors[:, 3]
    return torch.stack((cx, cy, w, h), dim=-1)


def policy_logits(fg_prob: Tensor, penalty: Tensor, window: Tensor) -> Tensor:
    """SLT-SiamRPN++ policy logits ``(B, K)`` from target probabilities and the scale/ratio penalty ``(B, K)``.

    ``inv_sigmoid_eps((1 - WINDOW_INFLUENCE) * fg * penalty + WINDOW_INFLUENCE * window) * TEMP``
    (``TRACK.WINDOW_INFLUENCE``, ``TRAIN.SIG_EPS``, ``TRAIN.TEMP``). One function for exploration and loss.
    """
    return policy.shaped_logits(
        fg_prob, penalty=penalty, window=window, window_influence=cfg.TRACK.WINDOW_INFLUENCE,
        temperature=cfg.TRAIN.TEMP, sig_eps=cfg.TRAIN.SIG_EPS,
    )


def context_side(size: Tensor) -> Tensor:
    """SiamFC template side ``sqrt((w + c(w+h)) (h + c(w+h)))``, c = ``TRACK.CONTEXT_AMOUNT``: ``(B, 2) -> (B,)``."""
    pad = cfg.TRACK.CONTEXT_AMOUNT * (size[:, 0] + size[:, 1])
    return torch.sqrt((size[:, 0] + pad) * (size[:, 1] + pad))


def _repeat_features(features: Any, copies: int) -> Any:
    """Template features (a tensor, or a list of tensors for multi-level models) repeated copy-major."""
    if isinstance(features, (list, tuple)):
        return [f.repeat(copies, *([1] * (f.dim() - 1))) for f in features]
    return features.repeat(copies, *([1] * (features.dim() - 1)))


class SLTSiamRPNTracker(SiamRPNTracker):
    """SiamRPN++ tracker with ``batch_init`` / ``batch_track`` over ``copies * N`` trajectories (copy-major rows:
    row ``c * N + i`` follows sequence ``i``; with ``copies=2`` and ``action_mode='half'`` rows ``[0, N)`` are
    greedy and ``[N, 2N)`` sampled).

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
        self.window_t = policy.hann_window(self.score_size, self.anchor_num, dtype=torch.float64).to(self.device)
        self.anchors_t = torch.from_numpy(np.ascontiguousarray(self.anchors, dtype=np.float32)).to(self.device)
        self.copies = 1
        self.channel_average: list[np.ndarray] = []
        self.padding = torch.zeros(0, 3, device=self.device)
        self.batch_centre = torch.zeros(0, 2, dtype=torch.float64, device=self.device)
        self.batch_size_wh = torch.zeros(0, 2, dtype=torch.float64, device=self.device)

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
        boxes = template_boxes.detach().to(self.device, torch.float64)
        centre = boxes[:, :2] + (boxes[:, 2:] - 1) / 2
        side = torch.round(context_side(boxes[:, 2:]))
        exemplar = cfg.TRACK.EXEMPLAR_SIZE
        padding = frame_means(template_images, self.device).floor()
        self.padding = padding.repeat(copies, 1)
        if self.crop == "host":
            self.channel_average = [np.mean(image, axis=(0, 1)) for image in template_images]
            centre_np, side_np = centre.cpu().numpy(), side.cpu().numpy()
            crops = torch.cat([
                self.get_subwindow(image, centre_np[i], exemplar, float(side_np[i]), self.channel_average[i])
                for i, image in enumerate(template_images)
            ]).to(self.device)
        else:
            frames = FrameBatch.from_numpy(template_images, self.device)
            crops = crop_batch(frames, siamfc_region(centre, side), exemplar, padding)
        self.model.template(crops)
        self.model.zf = _repeat_features(self.model.zf, copies)
        init = init_boxes.detach().to(self.device, torch.float64)
        self.batch_centre = (init[:, :2] + (init[:, 2:] - 1) / 2).repeat(copies, 1)
        self.batch_size_wh = init[:, 2:].repeat(copies, 1)
        self.copies = copies
        return to_uint8(crops)

    def batch_track(
        self,
        frames: Sequence[np.ndarray],
        action_mode: str = "half",
        generator: torch.Generator | None = None,
    ) -> TrackStep:
        """Track one frame per sequence (``frames``: N HxWx3 uint8 BGR images) for every trajectory.

        Returns a :class:`slt.rollout.TrackStep`: ``boxes`` ``(B, 4)`` xywh image pixels (PySOT's reported box),
        ``actions`` ``(B,)`` anchor indices, ``crops`` ``(B, 3, S, S)`` float32 BGR search crops, 0-255
        (S = ``TRACK.INSTANCE_SIZE``; the rollout stores them as uint8), ``regions`` ``(B, 4)`` their squares
        ``x0, y0, side, side`` and ``extras['penalty']`` ``(B, K)`` the scale/ratio penalty the decision used.

        The score shaping runs in float64, as the stock tracker's NumPy code does, so that greedy rows pick the
        stock tracker's anchor even among near-ties (networks with random weights produce many); the actor
        rebuilds the logits in float32 (official B16 otherwise).
        """
        size = self.batch_size_wh
        s_z = context_side(size)
        scale_z = cfg.TRACK.EXEMPLAR_SIZE / s_z
        s_x = s_z * (cfg.TRACK.INSTANCE_SIZE / cfg.TRACK.EXEMPLAR_SIZE)
        regions = siamfc_region(self.batch_centre, s_x)
        crops = self._search_crops(frames, regions)
        outputs = self.model.track(crops)
        fg_prob = foreground_prob(outputs["cls"], cfg.TRAIN.NO_NEG_LOGIT)
        pred = decode_boxes(outputs["loc"], self.anchors_t)
        penalty = policy.scale_ratio_penalty(pred[..., 2:], size * scale_z[:, None], cfg.TRACK.PENALTY_K)
        logits = policy_logits(fg_prob.double(), penalty, self.window_t)
        if not bool(torch.isfinite(logits).all()):
            raise FloatingPointError("non-finite policy logits in exploration: the network's box or score outputs "
                                     "overflow (untrained or diverged weights?)")
        actions = policy.select_actions(logits, action_mode, generator)
        rows = torch.arange(actions.shape[0], device=actions.device)
        chosen = pred[rows, actions].double() / scale_z[:, None]
        lr = (penalty[rows, actions] * fg_prob[rows, actions].double() * cfg.TRACK.LR)[:, None]
        centre = self.batch_centre + chosen[:, :2]
        new_size = size * (1 - lr) + chosen[:, 2:] * lr
        image_wh = torch.tensor([[f.shape[1], f.shape[0]] for f in frames], dtype=torch.float64,
                                device=self.device).repeat(self.copies, 1)
        self.batch_centre = torch.minimum(centre, image_wh).clamp(min=0.0)
        self.batch_size_wh = torch.minimum(new_size, image_wh).clamp(min=MIN_SIZE)
        boxes = torch.cat((self.batch_centre - self.batch_size_wh / 2, self.batch_size_wh), dim=1)
        return TrackStep(boxes=boxes.float(), actions=actions, crops=crops, regions=regions.float(),
                         extras={"penalty": penalty.float()})

    def _search_crops(self, frames: Sequence[np.ndarray], regions: Tensor) -> Tensor:
        """``(B, 3, S, S)`` float32 search crops of ``regions`` (row ``r`` crops ``frames[r % N]``)."""
        instance = cfg.TRACK.INSTANCE_SIZE
        if self.crop == "torch":
            windows = crop_windows(regions, [f.shape[:2] for f in frames])
            return crop_batch(FrameBatch.from_numpy(frames, self.device, windows), regions, instance, self.padding)
        num = len(frames)
        centre_np = self.batch_centre.cpu().numpy()
        side_np = regions[:, 2].cpu().numpy()
        return torch.cat([
            self.get_subwindow(frames[r % num], centre_np[r], instance, float(side_np[r]),
                               self.channel_average[r % num])
            for r in range(regions.shape[0])
        ]).to(self.device)


register_slt_cfg(cfg)
TRACKS["SLTSiamRPNTracker"] = SLTSiamRPNTracker
