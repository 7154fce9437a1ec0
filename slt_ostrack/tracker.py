"""SLT-OSTrack exploration: the stock OSTrack tracker (``lib/test/tracker/ostrack.py``), batched over rows.

:class:`SLTOSTrack` implements the :class:`slt.rollout.BatchTracker` protocol over ``copies * N`` rows
(copy-major: row ``c * N + i`` follows clip ``i``). Per frame it runs ONE forward of the host network over all
rows. OSTrack is a one-stream ViT: template and search tokens attend to each other in every block, so there
are no template features to cache; the normalised template crops are kept per row and re-fed every frame.

Stock decision, per row: ``sample_target`` search crop around the previous box, ``net.forward(template,
search, ce_template_mask)`` (candidate elimination at the blocks' own test-time keep ratios; the template mask
of ``MODEL.BACKBONE.CE_TEMPLATE_RANGE`` from the host's ``generate_mask_cond``, recorded per row as the extra
``template_mask`` so the update feeds each recorded crop the mask it was explored with),
``response = hann * score_map``, ``cal_bbox`` at the argmax, ``map_box_back``, ``clip_box(margin=10)``. The
greedy rows make exactly these decisions; sampled rows draw a cell from :mod:`slt_ostrack.policy` and decode
its box with the host's own ``cal_bbox`` on a one-hot map.

Rows of one clip in the same state (the same previous box: every row on the first tracked frame, and a
sampled row whose draws have so far matched the greedy cells) have identical network inputs; the forward runs
once per distinct (clip, state) and its outputs are shared, which changes no decision.

Conventions: boxes ``xywh`` image pixels (OSTrack's, centre ``x + w / 2``); frames HxWx3 uint8 RGB; crops
``(B, 3, S, S)`` uint8; regions ``(B, 4)`` ``x0 y0 side side`` image pixels.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from slt.crop import FrameBatch, crop_batch, crop_windows, to_uint8
from slt.policy import Randomness, select_actions
from slt.rollout import TrackStep
from slt_ostrack import host_root, policy

host_root()

from lib.test.utils.hann import hann2d  # noqa: E402  (host imports after the shims)
from lib.train.data.processing_utils import sample_target, transform_image_to_crop  # noqa: E402
from lib.utils.box_ops import clip_box  # noqa: E402
from lib.utils.ce_utils import generate_mask_cond  # noqa: E402

CROP_BACKENDS = ("torch", "host")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OUTPUTS = ("score_map", "size_map", "offset_map")
"""The host network's outputs the policy and the box decoding read."""


def normalise(crops: Tensor) -> Tensor:
    """``(B, 3, S, S)`` uint8 RGB crops -> float32 network input, as the host ``Preprocessor``:
    ``(x / 255 - mean) / std`` with ImageNet statistics."""
    mean = torch.tensor(IMAGENET_MEAN, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=crops.device).view(1, 3, 1, 1)
    return (crops.float() / 255.0 - mean) / std


def template_mask(cfg: Any, rows: int, device: torch.device, template_boxes: Tensor | None = None) -> Tensor | None:
    """The host's ``generate_mask_cond(cfg, rows, device, template_boxes)``: ``(rows, Z)`` bool over the ``Z``
    template tokens, or None (no candidate elimination, or ``CE_TEMPLATE_RANGE`` ``ALL``).

    ``template_boxes`` ``(rows, 4)`` xywh of the targets in their template crops, normalised by the crop size
    (the stock tracker's ``transform_bbox_to_crop``): needed by ``GT_BOX``, ignored by the fixed ranges
    (``CTR_POINT``, ``CTR_REC``). A range the host does not implement raises ValueError naming the key.
    """
    if not cfg.MODEL.BACKBONE.CE_LOC:
        return None
    kind = cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE
    if kind == "GT_BOX" and template_boxes is None:
        raise ValueError("MODEL.BACKBONE.CE_TEMPLATE_RANGE='GT_BOX' needs the template boxes in their crops")
    try:
        return generate_mask_cond(cfg, rows, device, template_boxes)
    except NotImplementedError as error:
        raise ValueError(f"MODEL.BACKBONE.CE_TEMPLATE_RANGE={kind!r} with DATA.TEMPLATE.SIZE "
                         f"{cfg.DATA.TEMPLATE.SIZE} and MODEL.BACKBONE.STRIDE {cfg.MODEL.BACKBONE.STRIDE} is not "
                         f"implemented by the host's generate_mask_cond") from error


def masked_forward(net: nn.Module, template: Tensor, search: Tensor, mask: Tensor | None,
                   **kwargs: Any) -> dict[str, Tensor]:
    """``net(template=..., search=..., ce_template_mask=mask, **kwargs)`` -> the batch's ``score_map``,
    ``size_map`` and ``offset_map`` (B, ...), each row as if it ran alone.

    ``template`` (B, 3, 128, 128) and ``search`` (B, 3, 256, 256) normalised crops, ``mask`` (B, Z) bool or None.
    The host's ``candidate_elimination`` averages each row's attention over its masked template tokens through
    one ``view`` over the whole batch, which mixes rows whose masks hold different numbers of tokens (GT_BOX
    masks of differently shaped targets); such rows run in one forward per token count.
    """
    counts = None if mask is None else mask.sum(dim=1)
    if counts is None or bool((counts == counts[0]).all()):
        out = net(template=template, search=search, ce_template_mask=mask, **kwargs)
        return {k: out[k] for k in OUTPUTS}
    groups = [torch.nonzero(counts == count)[:, 0] for count in torch.unique(counts)]
    outs = [net(template=template[g], search=search[g], ce_template_mask=mask[g], **kwargs) for g in groups]
    inverse = torch.argsort(torch.cat(groups))
    return {k: torch.cat([out[k] for out in outs])[inverse] for k in OUTPUTS}


def boxes_in_template(boxes: Tensor, resize: Tensor, size: int) -> Tensor:
    """``(B, 4)`` xywh image boxes, each the centre of its ``sample_target`` crop resized by ``resize`` (B,) ->
    ``(B, 4)`` xywh in the ``size``-pixel crop normalised by ``size``: the host's ``transform_image_to_crop``
    (crop centre ``(size - 1) / 2``), as the stock tracker's ``transform_bbox_to_crop`` for the template."""
    crop_sz = torch.tensor([float(size), float(size)])
    out = [transform_image_to_crop(box, box, float(factor), crop_sz, normalize=True)
           for box, factor in zip(boxes.detach().cpu().float(), resize.tolist())]
    return torch.stack(out).to(boxes.device)


def host_crops(images: Sequence[np.ndarray], boxes: Tensor, factor: float, size: int) -> tuple[Tensor, Tensor]:
    """Row ``r``'s crop of ``images[r % len(images)]`` with the host's ``sample_target`` around ``boxes[r]``
    (xywh) -> ``(B, 3, size, size)`` uint8 on ``boxes``' device (bit-exact with the stock tracker) and the
    ``(B,)`` float64 resize factors (crop pixels per image pixel)."""
    count = len(images)
    results = [sample_target(images[r % count], box, factor, output_sz=size) for r, box in enumerate(boxes.tolist())]
    crops = torch.from_numpy(np.stack([r[0] for r in results])).permute(0, 3, 1, 2).contiguous().to(boxes.device)
    return crops, torch.tensor([float(r[1]) for r in results], dtype=torch.float64)


class SLTOSTrack:
    """Batched OSTrack exploration tracker around the host network ``net`` (built by ``build_ostrack``).

    Args:
        net: the host ``OSTrack`` module (its device is the tracker's).
        cfg: the host config (``lib/config/ostrack/config.py``'s EasyDict, merged with the experiment yaml):
            ``TEST.{TEMPLATE,SEARCH}_{FACTOR,SIZE}``, ``MODEL.BACKBONE.{STRIDE,CE_LOC,CE_TEMPLATE_RANGE}``.
        crop_backend: ``"torch"`` crops every row in one ``grid_sample`` on the device (:mod:`slt.crop`, zero
            padding); ``"host"`` calls ``sample_target`` per row with OpenCV, bit-exact with the stock
            tracker. They differ by OpenCV's fixed-point resize and by ``sample_target`` zeroing the last image
            row/column when a crop leaves the image at the bottom/right.
        temperature, sig_eps: the policy's shaping (:func:`slt_ostrack.policy.shaping`).

    The state (``state`` (B, 4) float64 xywh) and the per-row template inputs live in the tracker. Call
    ``batch_init`` / ``batch_track`` under ``torch.inference_mode()`` (:func:`slt.rollout.explore` does).
    """

    def __init__(self, net: nn.Module, cfg: Any, crop_backend: str = "torch",
                 temperature: float = policy.TEMPERATURE, sig_eps: float = policy.SIG_EPS) -> None:
        if crop_backend not in CROP_BACKENDS:
            raise ValueError(f"unknown crop_backend {crop_backend!r}; expected one of {CROP_BACKENDS}")
        self.network = net
        self.cfg = cfg
        self.crop_backend = crop_backend
        self.template_factor = float(cfg.TEST.TEMPLATE_FACTOR)
        self.template_size = int(cfg.TEST.TEMPLATE_SIZE)
        self.search_factor = float(cfg.TEST.SEARCH_FACTOR)
        self.search_size = int(cfg.TEST.SEARCH_SIZE)
        self.feat_size = self.search_size // int(cfg.MODEL.BACKBONE.STRIDE)
        self.window = hann2d(torch.tensor([self.feat_size, self.feat_size]).long(), centered=True)
        self.shaping = policy.shaping(temperature, sig_eps)
        self.copies = 1

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def batch_init(self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor,
                   copies: int = 2) -> Tensor:
        """Start ``copies * N`` rows; returns the ``(N, 3, 128, 128)`` uint8 template crops (host crop).

        ``template_boxes`` (N, 4) xywh locate the targets in ``template_images`` (N HxWx3 uint8 RGB); every row
        starts at its clip's ``init_boxes`` (N, 4) xywh (the ground truth of the first frame).
        """
        device = self.device
        clips = len(template_images)
        boxes = template_boxes.to(device, torch.float64)
        crops, resize = host_crops(template_images, boxes, self.template_factor, self.template_size)
        rows = torch.arange(clips, device=device).repeat(copies)
        self.rows = rows
        self.template_input = normalise(crops)[rows]
        in_crop = boxes_in_template(boxes, resize, self.template_size)
        self.template_mask = template_mask(self.cfg, rows.shape[0], device, in_crop[rows])
        self.window = self.window.to(device)
        self.state = init_boxes.to(device, torch.float64).repeat(copies, 1)
        self.copies = copies
        return crops

    def forward(self, crops: Tensor, rows: Tensor | None = None) -> dict[str, Tensor]:
        """The host network on ``(B, 3, S, S)`` uint8 search crops against the templates of ``rows`` (indices
        into this tracker's rows; default all of them, in order)."""
        template, mask = self.template_input, self.template_mask
        if rows is not None:
            template, mask = template[rows], None if mask is None else mask[rows]
        return masked_forward(self.network, template, normalise(crops), mask)

    def distinct_rows(self) -> tuple[Tensor, Tensor]:
        """Rows with identical inputs (same clip, same state) -> ``(first, inverse)``: ``first`` (U,) the first
        row of each distinct (clip, state), ``inverse`` (B,) the position in ``first`` of each row's."""
        key = torch.cat((self.rows[:, None].to(torch.float64), self.state), dim=1)
        _, inverse = torch.unique(key, dim=0, return_inverse=True)
        count = int(inverse.max()) + 1
        order = torch.arange(key.shape[0], device=key.device)
        first = torch.full((count,), key.shape[0], dtype=torch.long, device=key.device)
        first = first.scatter_reduce(0, inverse, order, reduce="amin")
        return first, inverse

    def batch_track(self, frames: Sequence[np.ndarray], action_mode: str = "half",
                    random: Randomness = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row; one network forward over the
        distinct (clip, state) rows.

        Returns boxes (B, 4) xywh float32, actions (B,) cells ``y * 16 + x``, the uint8 search crops and their
        regions (B, 4), and the extra ``template_mask`` (B, Z) bool when candidate elimination masks the template.
        """
        regions = policy.search_regions(self.state, self.search_factor)
        side = regions[:, 2]
        crops = self._crop(frames, regions)
        first, inverse = self.distinct_rows()
        if first.shape[0] == crops.shape[0]:
            out = self.forward(crops)
        else:
            shared = self.forward(crops[first], first)
            out = {k: shared[k][inverse] for k in OUTPUTS}
        logits = policy.policy_logits(out["score_map"], self.window, self.shaping)
        actions = select_actions(logits, action_mode, random)
        chosen = self.network.box_head.cal_bbox(policy.onehot_maps(actions, self.feat_size),
                                                out["size_map"], out["offset_map"])
        resize = (self.search_size / side).float()[:, None]
        crop_box = (chosen * self.search_size / resize).double()
        boxes = policy.map_back(crop_box, self.state, side)
        sizes = [frames[r % len(frames)].shape[:2] for r in range(boxes.shape[0])]
        clipped = [clip_box(box, h, w, margin=10) for box, (h, w) in zip(boxes.tolist(), sizes)]
        self.state = torch.tensor(clipped, dtype=torch.float64, device=boxes.device)
        extras = {} if self.template_mask is None else {"template_mask": self.template_mask}
        return TrackStep(boxes=self.state.float(), actions=actions, crops=crops, regions=regions.float(),
                         extras=extras)

    def _crop(self, frames: Sequence[np.ndarray], regions: Tensor) -> Tensor:
        if self.crop_backend == "host":
            return host_crops(frames, self.state, self.search_factor, self.search_size)[0]
        batch = FrameBatch.from_numpy(frames, regions.device, crop_windows(regions, [f.shape[:2] for f in frames]))
        padding = torch.zeros(regions.shape[0], 3, device=regions.device)
        return to_uint8(crop_batch(batch, regions.float(), self.search_size, padding))
