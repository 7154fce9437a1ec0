"""Square search/template crops with mean-colour padding (SiamFC style), batched on the compute device.

Exploration crops every trajectory every frame. The official code crops each image with OpenCV on the CPU
and copies it to the device one by one; :func:`crop_batch` instead uploads the frames of a step once
(:class:`FrameBatch`, optionally only the window each frame's crops need) and resamples all crops with one
``grid_sample`` call.

Coordinates: a crop *region* is ``(B, 4)`` ``x0, y0, side, side`` in continuous image coordinates, where
pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (so a box ``x, y, w, h`` has centre ``x + w/2``). Output pixel
``k`` of a crop of ``out`` pixels samples the image at ``x0 + (k + 0.5) * side / out`` (bilinear), which is
what ``cv2.resize(INTER_LINEAR)`` does on an integer crop. Outside the image, the padding is a given colour
(the hosts use the mean colour of the sequence's first frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

CROP_BACKENDS = ("torch", "host")
"""Where the adapters' exploration crops come from: ``"torch"`` (:func:`crop_batch`, batched on the compute device)
or ``"host"`` (the host tracker's own per-image crop function, bit-exact with it, slower)."""


@dataclass
class FrameBatch:
    """F frames on the device, zero-padded to a common canvas of the largest frame's size.

    ``canvas``: ``(F, 3, Hc, Wc)`` float32 pixel values in image coordinates (pixels outside the uploaded
    windows are 0); ``sizes``: ``(F, 2)`` each frame's ``(H, W)``. The canvas geometry depends only on the frame
    sizes, never on the windows, so a crop does not change with what else is in the batch (ranks of a
    data-parallel job see the same crops as one process).
    """

    canvas: Tensor
    sizes: Tensor

    @classmethod
    def from_numpy(
        cls,
        frames: Sequence[np.ndarray],
        device: torch.device | str = "cpu",
        windows: np.ndarray | None = None,
    ) -> "FrameBatch":
        """Upload ``F`` HxWx3 uint8 frames (any channel order, kept) in one host-to-device copy of uint8.

        ``windows``: optional ``(F, 4)`` ``x0, y0, x1, y1`` integer pixel windows (see :func:`crop_windows`);
        only those pixels are copied and converted to float, which is most of the cost on a CPU.
        """
        heights, widths = [f.shape[0] for f in frames], [f.shape[1] for f in frames]
        sizes = torch.tensor(list(zip(heights, widths)), dtype=torch.float32, device=device)
        if windows is None:
            windows = np.array([[0, 0, w, h] for h, w in zip(heights, widths)], dtype=np.int64)
        parts = [f[y0:y1, x0:x1] for f, (x0, y0, x1, y1) in zip(frames, windows)]
        host = np.zeros((len(parts), max(p.shape[0] for p in parts), max(p.shape[1] for p in parts), 3), np.uint8)
        for k, part in enumerate(parts):
            host[k, : part.shape[0], : part.shape[1]] = part
        pixels = torch.from_numpy(host).to(device, non_blocking=True).permute(0, 3, 1, 2).float()
        if pixels.shape[-2:] == (max(heights), max(widths)) and not windows[:, :2].any():
            return cls(canvas=pixels, sizes=sizes)
        canvas = pixels.new_zeros((len(frames), 3, max(heights), max(widths)))
        for k, (x0, y0, x1, y1) in enumerate(windows.tolist()):
            canvas[k, :, y0:y1, x0:x1] = pixels[k, :, : y1 - y0, : x1 - x0]
        return cls(canvas=canvas, sizes=sizes)

    def __len__(self) -> int:
        return self.canvas.shape[0]


def frame_means(frames: Sequence[np.ndarray], device: torch.device | str = "cpu") -> Tensor:
    """``(F, 3)`` mean colour of each HxWx3 frame, floored to integers: the padding colour of PySOT's and TransT's
    ``get_subwindow``, which compute it on the template frame and write it into a uint8 image."""
    # OpenCV's channel sums are exact for uint8 frames, so sum / count equals numpy's mean bit for bit, at a
    # fiftieth of the cost of numpy's strided reduction (a sixth of an FLT step went there).
    means = np.stack([np.asarray(cv2.sumElems(f)[:3]) / (f.shape[0] * f.shape[1]) for f in frames])
    return torch.tensor(np.floor(means), dtype=torch.float32, device=device)


def crop_windows(regions: Tensor, sizes: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per frame, the integer pixel window ``x0, y0, x1, y1`` (clipped to the image) that holds every pixel
    bilinear sampling of its crop regions can touch. ``regions``: ``(copies * F, 4)`` (copy-major, as
    :func:`crop_batch`); ``sizes``: F ``(H, W)``. An empty intersection gives a 1-pixel window."""
    num_frames = len(sizes)
    boxes = regions.detach().to("cpu", torch.float64).numpy().reshape(-1, num_frames, 4)
    lo = np.floor(boxes[..., :2].min(0) - 1.0)
    hi = np.ceil((boxes[..., :2] + boxes[..., 2:]).max(0) + 1.0)
    limit = np.array([[w, h] for h, w in sizes], dtype=np.float64)
    lo = np.clip(lo, 0, limit - 1)
    hi = np.clip(hi, lo + 1, limit)
    return np.concatenate([lo, hi], axis=1).astype(np.int64)


def crop_batch(frames: FrameBatch, regions: Tensor, out_size: int, padding: Tensor) -> Tensor:
    """Crop ``B`` square regions -> ``(B, C, out_size, out_size)`` float32 pixel values (C = the canvas's channels,
    3 for frames).

    ``regions``: ``(B, 4)`` x0, y0, side, side (continuous image coordinates, see module doc); ``padding``:
    ``(B, C)`` value outside the image. Rows map to frames copy-major: ``B = copies * F`` and row ``r`` crops
    frame ``r % F`` -- the SCST layout, where the greedy copy of N sequences comes first and the sampling copy
    second -- so frames are never duplicated.

    The padding is blended in without touching whole frames: bilinear sampling of the zero-padded canvas plus
    ``padding`` times the weight that fell outside the image, ``1 - wx * wy``, with ``wx``/``wy`` the separable
    in-image shares of the bilinear weights (what sampling ``frame - padding`` inside the image gives).
    """
    num_frames = len(frames)
    channels = frames.canvas.shape[1]
    rows = regions.shape[0]
    if rows % num_frames:
        raise ValueError(f"{rows} crop regions do not split into copies of {num_frames} frames")
    copies = rows // num_frames
    height, width = frames.canvas.shape[-2:]
    steps = (torch.arange(out_size, device=regions.device, dtype=torch.float32) + 0.5) / out_size
    x0, y0, side = regions[:, 0:1].float(), regions[:, 1:2].float(), regions[:, 2:3].float()
    xs, ys = x0 + steps * side, y0 + steps * side  # (B, out) continuous sample positions
    sizes = frames.sizes.repeat(copies, 1)
    wx = _inside_share(xs - 0.5, sizes[:, 1:2])
    wy = _inside_share(ys - 0.5, sizes[:, 0:1])
    gx, gy = xs * (2.0 / width) - 1.0, ys * (2.0 / height) - 1.0  # -> grid_sample's [-1, 1], align_corners=False
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (B, out, out, 2)
    grid = grid.view(copies, num_frames, out_size, out_size, 2).transpose(0, 1)
    grid = grid.reshape(num_frames, copies * out_size, out_size, 2)
    out = F.grid_sample(frames.canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.view(num_frames, channels, copies, out_size, out_size).permute(2, 0, 1, 3, 4)
    out = out.reshape(rows, channels, out_size, out_size)
    outside = 1.0 - wy[:, None, :, None] * wx[:, None, None, :]
    return out + padding.to(out.dtype)[:, :, None, None] * outside


def crop_masks(masks: Sequence[np.ndarray], regions: Tensor, out_size: int) -> Tensor:
    """Crop F binary masks to ``B = copies * F`` square regions -> ``(B, out_size, out_size)`` uint8 0/1.

    ``masks``: F ``(H, W)`` arrays (0/1, any dtype; nonzero is foreground), row ``r`` of ``regions`` ``(B, 4)``
    (x0, y0, side, side, as :func:`crop_batch`) cropping ``masks[r % F]``. The same geometry as the image crops
    of those regions: bilinear sampling, background (0) outside the image, then thresholded at 0.5; so a crop's
    mask lines up with its pixels and with ground truth moved into the crop by the same region.
    """
    device = regions.device
    sizes = torch.tensor([m.shape[:2] for m in masks], dtype=torch.float32, device=device)
    canvas = torch.zeros((len(masks), 1, int(sizes[:, 0].max()), int(sizes[:, 1].max())), device=device)
    for k, mask in enumerate(masks):
        canvas[k, 0, : mask.shape[0], : mask.shape[1]] = torch.from_numpy(np.asarray(mask) != 0).to(device)
    padding = canvas.new_zeros((regions.shape[0], 1))
    sampled = crop_batch(FrameBatch(canvas=canvas, sizes=sizes), regions, out_size, padding)
    return (sampled[:, 0] >= 0.5).to(torch.uint8)


def _inside_share(index: Tensor, size: Tensor) -> Tensor:
    """Share of bilinear weight on pixel indices ``0 .. size-1`` at pixel-index coordinates ``index``."""
    return torch.minimum(index + 1.0, size - index).clamp(0.0, 1.0)


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
    padded with the image's mean colour (floored, as :func:`frame_means`) where it leaves the image, resized
    with ``cv2.INTER_LINEAR``.
    """
    side = int(round(size))
    x0 = int(np.floor(center[0] - (side + 1) / 2 + 0.5))
    y0 = int(np.floor(center[1] - (side + 1) / 2 + 0.5))
    h, w = image.shape[:2]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + side - w), max(0, y0 + side - h)
    patch = image[max(y0, 0) : min(y0 + side, h), max(x0, 0) : min(x0 + side, w)]
    if left or top or right or bottom:
        mean = np.floor(image.reshape(-1, 3).mean(0))
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_CONSTANT, value=mean.tolist())
    if side != out_size:
        patch = cv2.resize(patch, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch)
