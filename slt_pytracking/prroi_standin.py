"""CPU stand-in for PreciseRoIPooling, for shape and flow checks ONLY (numbers differ from PrRoIPool).

The TrDiMP network pools regions with PreciseRoIPooling (``ltr/external/PreciseRoIPooling``), a CUDA extension
that is JIT-compiled on first use and raises ``NotImplementedError`` on CPU tensors: the IoU-Net
(``AtomIoUNet``: two pools for the modulation vector, two for the proposals) and the DiMP filter initialiser
(``FilterInitializerLinear.filter_pool``) cannot run on a CPU.

:func:`use_roi_align_standin` replaces every host ``PrRoIPool2D`` module of a network by
:class:`RoIAlignStandIn`: ``torchvision.ops.roi_align`` (``aligned=False``, a fixed sampling ratio). PrRoIPool
integrates the bilinearly interpolated features exactly over each bin; RoIAlign averages a few samples per bin,
so pooled values, IoU predictions, boxes and losses are NOT those of the real network. Use it to check that
tensors have the right shapes and that the code runs and back-propagates, never for numbers, and never to train
weights meant for evaluation. On a GPU, use the real extension (do not call this function).

``torchvision.ops.roi_align`` has no gradient with respect to the boxes, which the IoU-Net box refinement of
the tracker needs (gradient ascent on box coordinates; PrRoIPool provides it). When the regions require a
gradient, :class:`RoIAlignStandIn` therefore computes the same RoIAlign sum with ``grid_sample`` (bilinear
sampling at the RoIAlign sample points, differentiable in features and boxes); both paths agree to float
rounding (tests check it).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

logger = logging.getLogger(__name__)

SAMPLING_RATIO = 2
"""RoIAlign samples per bin and axis (PrRoIPool integrates exactly instead)."""


class RoIAlignStandIn(nn.Module):
    """``PrRoIPool2D(pooled_height, pooled_width, spatial_scale)`` replaced by RoIAlign (CPU stand-in, numbers differ).

    ``forward(features, rois)``: ``features`` (B, C, H, W); ``rois`` (K, 5) ``batch_index, x0, y0, x1, y1`` in
    input-image pixels (the PrRoIPool convention) -> (K, C, pooled_height, pooled_width).
    """

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float,
                 sampling_ratio: int = SAMPLING_RATIO) -> None:
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        rois = rois.to(features.dtype)
        if rois.requires_grad and torch.is_grad_enabled():
            return roi_align_differentiable(features, rois, (self.pooled_height, self.pooled_width),
                                            self.spatial_scale, self.sampling_ratio)
        return torchvision.ops.roi_align(features, rois, (self.pooled_height, self.pooled_width), self.spatial_scale,
                                         self.sampling_ratio, aligned=False)

    def extra_repr(self) -> str:
        return (f"pooled=({self.pooled_height}, {self.pooled_width}), spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}  [CPU stand-in for PrRoIPool2D: numbers differ]")


def roi_align_differentiable(features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float,
                             sampling_ratio: int) -> Tensor:
    """``torchvision.ops.roi_align(..., aligned=False)`` with a fixed ``sampling_ratio``, differentiable in ``rois``.

    Sample points and border rules are RoIAlign's: a point outside ``[-1, size]`` contributes 0, one inside is
    clamped to ``[0, size - 1]`` and interpolated bilinearly; a bin is the mean of its ``sampling_ratio**2``
    points. Regions are grouped by batch index into one ``grid_sample`` call.
    """
    pooled_h, pooled_w = output_size
    batch, channels, height, width = features.shape
    count = rois.shape[0]
    if count == 0:
        return features.new_zeros((0, channels, pooled_h, pooled_w))
    index = rois[:, 0].detach().long()
    x0, y0 = rois[:, 1] * spatial_scale, rois[:, 2] * spatial_scale
    roi_w = (rois[:, 3] * spatial_scale - x0).clamp(min=1.0)
    roi_h = (rois[:, 4] * spatial_scale - y0).clamp(min=1.0)
    steps_x = torch.arange(pooled_w * sampling_ratio, device=rois.device, dtype=rois.dtype)
    steps_y = torch.arange(pooled_h * sampling_ratio, device=rois.device, dtype=rois.dtype)
    # sample k of bin j along an axis sits at start + (j + (k + 0.5) / ratio) * bin, i.e. (step + 0.5) / ratio bins
    xs = x0[:, None] + (steps_x[None] + 0.5) * (roi_w / (pooled_w * sampling_ratio))[:, None]  # (K, Sw)
    ys = y0[:, None] + (steps_y[None] + 0.5) * (roi_h / (pooled_h * sampling_ratio))[:, None]  # (K, Sh)
    inside_y, inside_x = (ys >= -1.0) & (ys <= height), (xs >= -1.0) & (xs <= width)
    valid = (inside_y[:, :, None] & inside_x[:, None, :]).to(features.dtype)
    gx = _normalise(xs.clamp(0.0, width - 1.0), width)
    gy = _normalise(ys.clamp(0.0, height - 1.0), height)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (K, Sh, Sw, 2)

    # group the regions of each image: slot[k] is region k's position among the regions of its image
    order = torch.argsort(index, stable=True)
    per_image = torch.bincount(index, minlength=batch)
    start = torch.cumsum(per_image, 0) - per_image
    slot = torch.empty_like(index)
    slot[order] = torch.arange(count, device=index.device) - start[index[order]]
    slots = int(per_image.max())
    sh, sw = grid.shape[1], grid.shape[2]
    canvas = grid.new_zeros((batch, slots, sh, sw, 2)).index_put((index, slot), grid)
    sampled = F.grid_sample(features, canvas.view(batch, slots * sh, sw, 2), mode="bilinear", padding_mode="zeros",
                            align_corners=True)  # (B, C, slots * Sh, Sw)
    sampled = sampled.view(batch, channels, slots, sh, sw).permute(0, 2, 1, 3, 4)[index, slot]  # (K, C, Sh, Sw)
    sampled = sampled * valid[:, None]
    return sampled.view(count, channels, pooled_h, sampling_ratio, pooled_w, sampling_ratio).mean(dim=(3, 5))


def _normalise(coord: Tensor, size: int) -> Tensor:
    """Pixel-index coordinates in ``[0, size - 1]`` -> ``grid_sample``'s ``[-1, 1]`` (``align_corners=True``)."""
    if size == 1:
        return coord * 0.0
    return coord * (2.0 / (size - 1)) - 1.0


def use_roi_align_standin(net: nn.Module) -> int:
    """Replace every host ``PrRoIPool2D`` in ``net`` by :class:`RoIAlignStandIn` (same pooled size and scale).

    CPU stand-in for shape and flow checks only: the pooled numbers differ from PreciseRoIPooling (see the
    module doc). The swap keeps the state dict unchanged (neither layer has parameters). Returns how many
    layers were replaced and logs a warning naming the stand-in.
    """
    from ltr.external.PreciseRoIPooling.pytorch.prroi_pool import PrRoIPool2D

    replaced = 0
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, PrRoIPool2D):
                setattr(module, name, RoIAlignStandIn(child.pooled_height, child.pooled_width, child.spatial_scale))
                replaced += 1
    if replaced:
        logger.warning("PreciseRoIPooling replaced by the torchvision RoIAlign CPU stand-in in %d layers: shape "
                       "and flow checks only, numbers differ from the real TrDiMP network", replaced)
    return replaced
