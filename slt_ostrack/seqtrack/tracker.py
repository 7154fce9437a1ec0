"""SLT-SeqTrack exploration: the stock SeqTrack tracker (``lib/test/tracker/seqtrack.py``), batched over rows.

:class:`SLTSeqTrack` implements the :class:`slt.rollout.BatchTracker` protocol over ``copies * N`` rows
(copy-major: row ``c * N + i`` follows clip ``i``; copy 0 greedy). Per frame it runs the host encoder ONCE on
``[z_1 .. z_K, x]`` of all rows (K = ``TEST.NUM_TEMPLATES`` template crops per row, the search crop), then
decodes the four box tokens of every row with :func:`slt.token_policy.decode_boxes`, whose step function is
the host's ``forward_decoder`` on the growing prefix (``[START]``, then the tokens chosen so far), under the
host's inference rules (:func:`slt.token_policy.seqtrack_rules`: softmax over the whole vocabulary cut to the
coordinate bins, the float64 ``np.hanning(bins)`` on cx and cy when ``TEST.WINDOW``, ``topk(1)`` for greedy
rows; sampled rows draw from the renormalised scores at the policy's temperature).

Stock decision, per row: ``sample_target`` search crop around the previous box (factor ``TEST.SEARCH_FACTOR``,
``TEST.SEARCH_SIZE`` px), tokens -> crop box ``token / (bins - 1)`` (cx cy w h, normalised to the crop),
``* search_size / resize_factor``, ``map_box_back``, ``clip_box(margin=10)`` -- the host's float32 / Python
float arithmetic, row by row, so a greedy row equals the stock tracker's box bit for bit once its tokens do.
Templates follow the host: K copies of the first template crop; every ``update_interval`` frames a row whose
summed token confidence ``* 10`` exceeds ``update_threshold`` appends a template crop around its new box and
drops its second-oldest (``template_list.append``, ``pop(1)``), so ``z_1`` stays the first template.

Conventions: boxes ``xywh`` image pixels (centre ``x + w / 2``); frames HxWx3 uint8 RGB; crops
``(B, 3, S, S)`` uint8; regions ``(B, 4)`` ``x0 y0 side side`` image pixels; tokens ``(B, 4)`` long in the
host's ``DATA.SEQ_FORMAT`` order (cx cy w h for ``'xywh'``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from slt import token_policy
from slt.box_tokens import seqtrack_token_boxes
from slt.crop import FrameBatch, crop_batch, crop_windows, to_uint8
from slt.policy import Randomness
from slt.rollout import TrackStep
from slt_ostrack import policy
from slt_ostrack.seqtrack import host_root

host_root()

from lib.test.tracker.seqtrack_utils import sample_target  # noqa: E402  (host imports after the shims)
from lib.utils.box_ops import clip_box  # noqa: E402

CROP_BACKENDS = ("torch", "host")
TEMPERATURE = 1.0
"""The policy's temperature: SeqTrack's token distribution is a likelihood trained by cross-entropy, so SLT
samples it as it is (tau = 1, as SCST for captioning samples its decoder); unlike TransT's sigmoid scores it
needs no sharpening. Greedy rows do not depend on it."""


def normalise(crops: Tensor, cfg: Any) -> Tensor:
    """``(B, 3, S, S)`` uint8 RGB crops -> float32 network input, as the host ``Preprocessor``:
    ``(x / 255 - mean) / std`` with ``cfg.DATA.MEAN`` / ``STD`` (ImageNet's)."""
    mean = torch.tensor(cfg.DATA.MEAN, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.DATA.STD, device=crops.device).view(1, 3, 1, 1)
    return (crops.float() / 255.0 - mean) / std


def host_crops(images: Sequence[np.ndarray], boxes: Tensor, factor: float, size: int,
               rows: Sequence[int] | None = None) -> Tensor:
    """Row ``r``'s crop of ``images[r % len(images)]`` with the host's ``sample_target`` around ``boxes[k]``
    (xywh), for ``rows`` (default all of ``boxes``' rows) -> ``(len(rows), 3, size, size)`` uint8 on ``boxes``'
    device (bit-exact with the stock tracker)."""
    count = len(images)
    rows = range(boxes.shape[0]) if rows is None else rows
    patches = [sample_target(images[r % count], box, factor, output_sz=size)[0]
               for r, box in zip(rows, boxes.tolist())]
    return torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2).contiguous().to(boxes.device)


def update_schedule(cfg: Any, dataset_name: str) -> tuple[int, float]:
    """``(interval, threshold)`` of the template update for ``dataset_name``, as the stock tracker's
    ``__init__``: ``cfg.TEST.UPDATE_INTERVALS`` / ``UPDATE_THRESHOLD`` at the upper-cased name, else DEFAULT."""
    name = dataset_name.upper()
    intervals, thresholds = cfg.TEST.UPDATE_INTERVALS, cfg.TEST.UPDATE_THRESHOLD
    interval = intervals[name] if name in intervals else intervals.DEFAULT
    threshold = thresholds[name] if name in thresholds else thresholds.DEFAULT
    return int(interval), float(threshold)


class SLTSeqTrack:
    """Batched SeqTrack exploration tracker around the host network ``net`` (built by ``build_seqtrack``).

    Args:
        net: the host ``SEQTRACK`` module (its device is the tracker's).
        cfg: the host config (``lib/config/seqtrack/config.py`` merged with the experiment yaml):
            ``TEST.{TEMPLATE,SEARCH}_{FACTOR,SIZE}``, ``TEST.{WINDOW,NUM_TEMPLATES}``, ``MODEL.BINS``,
            ``DATA.SEQ_FORMAT``, ``DATA.MEAN`` / ``STD``.
        crop_backend: ``"torch"`` crops every row in one ``grid_sample`` on the device (:mod:`slt.crop`, zero
            padding); ``"host"`` calls ``sample_target`` per row with OpenCV, bit-exact with the stock tracker.
            Template crops always use the host's.
        temperature: the sampling policy's temperature (:data:`TEMPERATURE`).
        dataset_name: selects the template-update schedule as the stock tracker does (:func:`update_schedule`;
            ``"default"``: ``DEFAULT``, every 9999 frames, i.e. never within a training clip).

    The state (``state`` (B, 4) float64 xywh) and the per-row templates (``templates`` (B, K, 3, S, S) uint8)
    live in the tracker. Call ``batch_init`` / ``batch_track`` under ``torch.inference_mode()``.
    """

    def __init__(self, net: nn.Module, cfg: Any, crop_backend: str = "torch", temperature: float = TEMPERATURE,
                 dataset_name: str = "default") -> None:
        if crop_backend not in CROP_BACKENDS:
            raise ValueError(f"unknown crop_backend {crop_backend!r}; expected one of {CROP_BACKENDS}")
        self.network = net
        self.cfg = cfg
        self.crop_backend = crop_backend
        self.template_factor = float(cfg.TEST.TEMPLATE_FACTOR)
        self.template_size = int(cfg.TEST.TEMPLATE_SIZE)
        self.search_factor = float(cfg.TEST.SEARCH_FACTOR)
        self.search_size = int(cfg.TEST.SEARCH_SIZE)
        self.num_templates = int(cfg.TEST.NUM_TEMPLATES)
        self.bins = int(cfg.MODEL.BINS)
        self.seq_format = cfg.DATA.SEQ_FORMAT
        self.rules = token_policy.seqtrack_rules(self.bins, window=bool(cfg.TEST.WINDOW), seq_format=self.seq_format,
                                                 temperature=temperature)
        self.update_interval, self.update_threshold = update_schedule(cfg, dataset_name)
        self.copies = 1
        self.frame_id = 0

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def start_tokens(self, rows: int) -> Tensor:
        """``(rows, 1)`` START tokens (``bins + 1``), the decoder's prefix (``lib/test/tracker/seqtrack.py:59``)."""
        return torch.full((rows, 1), self.bins + 1, dtype=torch.long, device=self.device)

    def batch_init(self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor,
                   copies: int = 2) -> Tensor:
        """Start ``copies * N`` rows; returns the ``(N, 3, S, S)`` uint8 first template crops (host crop).

        ``template_boxes`` (N, 4) xywh locate the targets in ``template_images`` (N HxWx3 uint8 RGB); every row
        starts at its clip's ``init_boxes`` (N, 4) xywh (the ground truth of the first frame).
        """
        device = self.device
        clips = len(template_images)
        crops = host_crops(template_images, template_boxes.to(device, torch.float64), self.template_factor,
                           self.template_size)
        rows = torch.arange(clips, device=device).repeat(copies)
        self.templates = crops[rows][:, None].repeat(1, self.num_templates, 1, 1, 1)
        self.rules = self.rules.to(device)
        self.state = init_boxes.to(device, torch.float64).repeat(copies, 1)
        self.copies = copies
        self.frame_id = 0
        return crops

    def encode(self, templates: Tensor, crops: Tensor) -> list[Tensor]:
        """The host encoder on ``[z_1 .. z_K, x]``: ``(B, K, 3, S, S)`` and ``(B, 3, S, S)`` uint8 -> its output
        list (``[-1]``: ``(B, tokens, C)`` features; the decoder reads the search part)."""
        images = [normalise(templates[:, k], self.cfg) for k in range(templates.shape[1])]
        return self.network.forward_encoder(images + [normalise(crops, self.cfg)])

    def batch_track(self, frames: Sequence[np.ndarray], action_mode: str = "half",
                    random: Randomness = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row; one encoder forward.

        Returns boxes (B, 4) xywh float32, actions (B, 4) the box tokens, the uint8 search crops and their
        regions (B, 4); extras ``log_prob`` (B,) float64 ``log pi(tokens)`` recorded while decoding and
        ``templates`` (B, K - 1, 3, S, S) uint8, the row's templates after ``z_1`` at this frame (what the
        update re-encodes with the crop).
        """
        self.frame_id += 1
        regions = policy.search_regions(self.state, self.search_factor)
        crops = self._crop(frames, regions)
        templates = self.templates
        features = self.encode(templates, crops)
        rows = crops.shape[0]

        def step(prefix: Tensor) -> Tensor:
            return self.network.forward_decoder(features, prefix)[-1][:, -1]

        decoded = token_policy.decode_boxes(step, self.start_tokens(rows), self.rules, action_mode, random)
        crop_boxes = seqtrack_token_boxes(decoded.tokens, self.bins, self.seq_format).cpu()  # (B, 4) cx cy w h
        sides = regions[:, 2].tolist()
        state = self.state.tolist()
        new_state = []
        for r in range(rows):
            height, width = frames[r % len(frames)].shape[:2]
            resize = self.search_size / sides[r]  # sample_target's resize_factor
            box = (crop_boxes[r] * self.search_size / resize).tolist()  # the host's float32 arithmetic
            new_state.append(clip_box(self._map_box_back(box, state[r], resize), height, width, margin=10))
        self.state = torch.tensor(new_state, dtype=torch.float64, device=regions.device)
        self._update_templates(frames, decoded.scores)
        extras = {"log_prob": decoded.log_prob, "templates": templates[:, 1:]}
        return TrackStep(boxes=self.state.float(), actions=decoded.tokens, crops=crops, regions=regions.float(),
                         extras=extras)

    def _map_box_back(self, box: list[float], state: list[float], resize: float) -> list[float]:
        """The host's ``map_box_back``: crop box ``cx cy w h`` (image-scale pixels from the crop corner) ->
        image ``xywh``, the crop assumed centred on the previous box's centre."""
        cx_prev, cy_prev = state[0] + 0.5 * state[2], state[1] + 0.5 * state[3]
        cx, cy, w, h = box
        half_side = 0.5 * self.search_size / resize
        cx_real = cx + (cx_prev - half_side)
        cy_real = cy + (cy_prev - half_side)
        return [cx_real - 0.5 * w, cy_real - 0.5 * h, w, h]

    def _update_templates(self, frames: Sequence[np.ndarray], scores: Tensor) -> None:
        if self.num_templates < 2 or self.frame_id % self.update_interval != 0:
            return
        confident = ((scores.sum(-1) * 10) > self.update_threshold).nonzero().flatten().tolist()
        if not confident:
            return
        new = host_crops(frames, self.state[confident], self.template_factor, self.template_size, rows=confident)
        kept = torch.cat((self.templates[confident, :1], self.templates[confident, 2:], new[:, None]), dim=1)
        self.templates = self.templates.clone()
        self.templates[confident] = kept

    def _crop(self, frames: Sequence[np.ndarray], regions: Tensor) -> Tensor:
        if self.crop_backend == "host":
            return host_crops(frames, self.state, self.search_factor, self.search_size)
        batch = FrameBatch.from_numpy(frames, regions.device, crop_windows(regions, [f.shape[:2] for f in frames]))
        padding = torch.zeros(regions.shape[0], 3, device=regions.device)
        return to_uint8(crop_batch(batch, regions.float(), self.search_size, padding))
