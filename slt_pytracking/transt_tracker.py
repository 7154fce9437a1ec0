"""SLT-TransT exploration: the stock TransT tracker, batched over trajectories (docs/method.md#policy).

:class:`SLTTransT` extends the host's ``pytracking.tracker.transt.TransT`` with the batched protocol of
:mod:`slt.rollout` (``batch_init`` / ``batch_track``); its inherited ``initialize`` / ``track`` are the stock
test-time tracker, and the greedy rows of ``batch_track`` take the same decisions. The network is the host
TransT module, used through its parts (``backbone``, ``input_proj``, ``featurefusion_network``,
``class_embed``, ``bbox_embed``), with the template features cached in the tracker, never on the network.

The tracker builds its policy shaping once (:attr:`SLTTransT.shaping`, a :class:`slt.policy.Shaping`: Hann
window, inverse sigmoid, temperature) and owns it; the actor's update receives the same object.

Conventions: boxes ``xywh`` in image pixels with centre ``x + w / 2`` (TransT's, no ``-1``); images HxWx3
uint8 RGB; network outputs: see :mod:`slt_pytracking.transt_net`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from slt import policy
from slt.crop import CROP_BACKENDS, FrameBatch, crop_batch, crop_windows, frame_means, siamfc_region, to_uint8
from slt.policy import Randomness, Shaping
from slt.rollout import TrackStep
from slt_pytracking import require_patched_host
from slt_pytracking.transt_net import fuse, target_probability, template_features

require_patched_host()

from pytracking.tracker.transt import TransT  # noqa: E402  (host imports after the patch check)
from pytracking.utils import TrackerParams  # noqa: E402


@dataclass(frozen=True)
class TransTExplorationConfig:
    """TransT tracking geometry (the stock tracker's constants) and SLT's policy settings.

    ``crop_backend``: ``"torch"`` crops every row in one batched ``grid_sample`` on the network's device;
    ``"host"`` calls the stock tracker's own ``get_subwindow`` per row with OpenCV -- bit-exact with the stock
    tracker, slower. Both pad with the template frame's mean colour truncated to integers, as the stock
    tracker does; they differ by OpenCV's fixed-point resize arithmetic (about 0.1 grey level on average).
    ``no_neg_logit``: score ``sigmoid(l_target)`` instead of ``softmax(l)[target] = sigmoid(l_target - l_bg)``.
    ``window_influence``, ``temperature``, ``sig_eps``: the policy shaping (:meth:`shaping`).
    """

    template_size: int = 128
    search_size: int = 256
    template_factor: float = 2.0
    search_factor: float = 4.0
    score_size: int = 32
    window_influence: float = 0.49
    temperature: float = 4.0
    sig_eps: float = 0.01
    no_neg_logit: bool = False
    min_size: float = 10.0
    crop_backend: str = "torch"

    def __post_init__(self) -> None:
        if self.crop_backend not in CROP_BACKENDS:
            raise ValueError(f"unknown crop_backend {self.crop_backend!r}; expected one of {CROP_BACKENDS}")

    def shaping(self) -> Shaping:
        """The SLT-TransT policy (docs/method.md#policy): ``p = (1 - w) * score + w * hann`` over the
        ``score_size`` x ``score_size`` cells, ``w = window_influence``; logits ``= inv_sigmoid_eps(p) *
        temperature``. Its argmax is the stock tracker's ``argmax(pscore)``."""
        return Shaping(kind="inverse_sigmoid", window=policy.hann_window(self.score_size),
                       window_influence=self.window_influence, temperature=self.temperature, sig_eps=self.sig_eps)


def transt_crop_side(size: Tensor, factor: float) -> Tensor:
    """Square crop side of TransT: ``ceil(sqrt((w + c) (h + c)))``, ``c = (factor - 1) (w + h) / 2``.

    ``size`` (B, 2) ``w h`` -> (B,). Factor 2 gives the template side s_z, factor 4 the search side s_x.
    """
    context = (factor - 1.0) * size.sum(-1) * 0.5
    return torch.ceil(torch.sqrt((size[:, 0] + context) * (size[:, 1] + context)))


class SLTTransT(TransT):
    """Batched TransT exploration tracker (``copies * N`` rows, copy-major: row ``c * N + i`` follows clip i).

    The tracker state (``state_centre``, ``state_size``: (B, 2) float64, like the stock tracker's numpy state)
    and the template features of the current clips (``template``) live in the tracker, never as attributes of
    the network (docs/method.md#b17); names differ from the stock tracker's own state, so the inherited
    ``initialize`` / ``track`` can be used on the same object.
    The device is the network's. Call ``batch_init`` / ``batch_track`` under ``torch.inference_mode()``
    (:func:`slt.rollout.explore` does).
    """

    def __init__(self, net: nn.Module, config: TransTExplorationConfig = TransTExplorationConfig()) -> None:
        params = TrackerParams()
        params.net = net
        params.use_gpu = torch.cuda.is_available()
        super().__init__(params)
        self.features_initialized = True
        self.network = net
        self.config = config
        self.shaping = config.shaping()
        self.copies = 1

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    # ----------------------------------------------------------------------------------------- batched API
    def batch_init(self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor,
                   copies: int = 2) -> Tensor:
        """Start ``copies * N`` trajectories; returns the ``(N, 3, 128, 128)`` uint8 template crops.

        ``template_boxes`` (N, 4) xywh locate the targets in ``template_images`` (N HxWx3 uint8 RGB); the state
        starts at ``init_boxes`` (N, 4) xywh, the ground truth of each clip's first frame.
        """
        cfg = self.config
        device = self.device
        self.shaping = self.shaping.to(device)
        boxes = template_boxes.to(device, torch.float64)
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        side = transt_crop_side(boxes[:, 2:], cfg.template_factor)
        self.template_means = [np.mean(image, axis=(0, 1)) for image in template_images]
        self.padding = frame_means(template_images, device)
        crops, _ = self._crop(template_images, centre, side, cfg.template_size)
        self.padding = self.padding.repeat(copies, 1)
        rows = torch.arange(len(template_images), device=device).repeat(copies)
        with torch.no_grad():
            self.template = template_features(self.network, crops).index(rows)
        init = init_boxes.to(device, torch.float64)
        self.state_centre = (init[:, :2] + init[:, 2:] / 2).repeat(copies, 1)
        self.state_size = init[:, 2:].repeat(copies, 1)
        self.copies = copies
        return crops

    def batch_track(self, frames: Sequence[np.ndarray], action_mode: str = "half",
                    random: Randomness = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row; ``random`` draws the sampled
        rows' actions (:func:`slt.policy.select_actions`).

        Returns boxes (B, 4) xywh float32, actions (B,), the uint8 search crops (B, 3, 256, 256) the decisions
        were made on and their regions (B, 4) ``x0 y0 side side`` in image pixels.
        """
        cfg = self.config
        side = transt_crop_side(self.state_size, cfg.search_factor)
        crops, regions = self._crop(frames, self.state_centre, side, cfg.search_size)
        with torch.no_grad():
            pred_logits, pred_boxes = fuse(self.network, self.template, crops)
        logits = self.shaping.logits(target_probability(pred_logits, cfg.no_neg_logit))
        actions = policy.select_actions(logits, action_mode, random)
        rows = torch.arange(actions.shape[0], device=actions.device)
        chosen = (pred_boxes[rows, actions] * side.float()[:, None]).double()
        centre = chosen[:, :2] + self.state_centre - side[:, None] / 2
        height_width = torch.tensor([frame.shape[:2] for frame in frames], dtype=torch.float64,
                                    device=centre.device).repeat(self.copies, 1)
        width_height = height_width.flip(-1)
        self.state_centre = torch.minimum(centre, width_height).clamp(min=0)
        self.state_size = torch.maximum(torch.minimum(chosen[:, 2:], width_height),
                                  torch.full_like(width_height, cfg.min_size))
        boxes = torch.cat((self.state_centre - self.state_size / 2, self.state_size), dim=1).float()
        return TrackStep(boxes=boxes, actions=actions, crops=crops, regions=regions, extras={})

    # ------------------------------------------------------------------------------------------- crops
    def _crop(self, images: Sequence[np.ndarray], centre: Tensor, side: Tensor,
              out_size: int) -> tuple[Tensor, Tensor]:
        """Square SiamFC crops of ``(B, 2)`` centres and ``(B,)`` sides; row ``r`` crops ``images[r % len(images)]``.

        Returns ``(B, 3, S, S)`` uint8 crops on the device and their regions ``(B, 4)`` ``x0 y0 side side``
        (the integer pixel square of the stock ``get_subwindow``, continuous coordinates, float32).
        """
        regions = siamfc_region(centre, side).float()
        if self.config.crop_backend == "torch":
            frames = FrameBatch.from_numpy(images, centre.device, crop_windows(regions, [i.shape[:2] for i in images]))
            return to_uint8(crop_batch(frames, regions, out_size, self.padding)), regions
        self.params.use_gpu = centre.device.type == "cuda"  # where get_subwindow puts its crop
        count = len(images)
        centres = centre.cpu().numpy()
        sides = side.cpu().numpy()
        patches = [self.get_subwindow(images[r % count], centres[r], out_size, int(round(sides[r])),
                                      self.template_means[r % count]) for r in range(centre.shape[0])]
        return to_uint8(torch.cat(patches).to(centre.device)), regions
