"""Square search/template crops with mean-colour padding (SiamFC style), batched on the compute device.

Exploration crops every trajectory every frame. The official code crops each image with OpenCV on the CPU
and copies it to the device one by one; :func:`crop_batch` instead uploads the frames of a step once
(:class:`FrameBatch`) and resamples all crops with one ``grid_sample`` call.

Coordinates: a crop *region* is ``(B, 4)`` ``x0, y0, side, side`` in continuous image coordinates, where
pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (so a box ``x, y, w, h`` has centre ``x + w/2``). Output pixel
``k`` of a crop of ``out`` pixels samples the image at ``x0 + (k + 0.5) * side / out`` (bilinear), which is
what ``cv2.resize(INTER_LINEAR)`` does on an integer crop. Outside the image, the padding is the frame's mean
colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class FrameBatch:
    """F frames on the device, mean-subtracted and zero-padded to a common canvas.

    ``canvas``: ``(F, 3, Hc, Wc)`` float32, ``image - mean`` inside each frame and 0 outside;
    ``mean``: ``(F, 3)`` per-frame mean colour; ``sizes``: ``(F, 2)`` long, each frame's ``(H, W)``.
    """

    canvas: Tensor
    mean: Tensor
    sizes: Tensor

    @classmethod
    def from_numpy(cls, frames: Sequence[np.ndarray], device: torch.device | str = "cpu") -> "FrameBatch":
        """Upload ``F`` HxWx3 uint8 frames (any channel order, kept) in one host-to-device copy."""
        heights = [f.shape[0] for f in frames]
        widths = [f.shape[1] for f in frames]
        h_max, w_max = max(heights), max(widths)
        if len(set(heights)) == 1 and len(set(widths)) == 1:
            host = np.stack(frames)
        else:
            host = np.zeros((len(frames), h_max, w_max, 3), dtype=np.uint8)
            for k, frame in enumerate(frames):
                host[k, : frame.shape[0], : frame.shape[1]] = frame
        pixels = torch.from_numpy(host).to(device, non_blocking=True).permute(0, 3, 1, 2).float()
        sizes = torch.tensor(list(zip(heights, widths)), dtype=torch.long, device=pixels.device)
        inside = _inside_mask(sizes, h_max, w_max)
        mean = (pixels * inside).sum((2, 3)) / (sizes[:, 0] * sizes[:, 1])[:, None]
        canvas = (pixels - mean[:, :, None, None]) * inside
        return cls(canvas=canvas, mean=mean, sizes=sizes)

    def __len__(self) -> int:
        return self.canvas.shape[0]


def _inside_mask(sizes: Tensor, height: int, width: int) -> Tensor:
    rows = torch.arange(height, device=sizes.device)[None, :, None] < sizes[:, 0, None, None]
    cols = torch.arange(width, device=sizes.device)[None, None, :] < sizes[:, 1, None, None]
    return (rows & cols)[:, None].float()


def crop_batch(frames: FrameBatch, regions: Tensor, out_size: int) -> Tensor:
    """Crop ``B`` square regions -> ``(B, 3, out_size, out_size)`` float32 pixel values (0-255 range).

    ``regions``: ``(B, 4)`` x0, y0, side, side (continuous image coordinates, see module doc). Rows map to
    frames copy-major: ``B = copies * F`` and row ``r`` crops frame ``r % F`` -- the SCST layout, where the
    greedy copy of N sequences comes first and the sampling copy second -- so frames are never duplicated.
    """
    num_frames = len(frames)
    rows = regions.shape[0]
    if rows % num_frames:
        raise ValueError(f"{rows} crop regions do not split into copies of {num_frames} frames")
    copies = rows // num_frames
    height, width = frames.canvas.shape[-2:]
    steps = (torch.arange(out_size, device=regions.device, dtype=torch.float32) + 0.5) / out_size
    x0, y0, side = regions[:, 0:1].float(), regions[:, 1:2].float(), regions[:, 2:3].float()
    gx = (x0 + steps * side) * (2.0 / width) - 1.0  # (B, out): continuous x -> grid_sample's [-1, 1]
    gy = (y0 + steps * side) * (2.0 / height) - 1.0
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (B, out, out, 2)
    grid = grid.view(copies, num_frames, out_size, out_size, 2).transpose(0, 1)
    grid = grid.reshape(num_frames, copies * out_size, out_size, 2)
    out = F.grid_sample(frames.canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.view(num_frames, 3, copies, out_size, out_size).permute(2, 0, 1, 3, 4)
    out = out.reshape(rows, 3, out_size, out_size)
    return out + frames.mean.repeat(copies, 1)[:, :, None, None]


def to_uint8(crops: Tensor) -> Tensor:
    """Round and clamp float crops to uint8 (the compact form exploration records)."""
    return crops.round().clamp(0, 255).to(torch.uint8)


def siamfc_region(center: Tensor, size: Tensor) -> Tensor:
    """The integer region of SiamFC/PySOT ``get_subwindow`` as a continuous region ``(B, 4)``.

    ``center``: ``(B, 2)`` in *pixel-index* coordinates (pixel centres at integers, PySOT's
    ``x + (w - 1) / 2``); ``size``: ``(B,)`` side length, rounded like the hosts do. The crop covers pixel
    indices ``xmin .. xmin + sz - 1`` with ``xmin = floor(cx - (sz + 1) / 2 + 0.5)``.
    """
    side = torch.round(size)
    corner = torch.floor(center - (side[:, None] + 1.0) / 2.0 + 0.5)
    return torch.cat((corner, side[:, None], side[:, None]), dim=1)


def crop_opencv(image: np.ndarray, center: Sequence[float], size: float, out_size: int) -> np.ndarray:
    """Reference CPU crop of one image -> ``(out_size, out_size, 3)`` uint8, as the official loops do it.

    SiamFC-style: the integer region of :func:`siamfc_region` (``center`` in pixel-index coordinates),
    padded with the image's mean colour where it leaves the image, resized with ``cv2.INTER_LINEAR``.
    """
    side = int(round(size))
    x0 = int(np.floor(center[0] - (side + 1) / 2 + 0.5))
    y0 = int(np.floor(center[1] - (side + 1) / 2 + 0.5))
    h, w = image.shape[:2]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + side - w), max(0, y0 + side - h)
    patch = image[max(y0, 0) : min(y0 + side, h), max(x0, 0) : min(x0 + side, w)]
    if left or top or right or bottom:
        mean = image.reshape(-1, 3).mean(0)
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_CONSTANT, value=mean.tolist())
    if side != out_size:
        patch = cv2.resize(patch, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch)
