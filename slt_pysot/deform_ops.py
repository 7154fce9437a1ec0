"""Deformable convolution and deformable RoI pooling without SiamAttn's compiled extension.

SiamAttn (a PySOT fork) ships ``pysot/models/head/dcn``: a CUDA extension (``deform_conv_cuda``,
``deform_pool_cuda``) that no longer compiles on torch 2.x, wrapped by autograd functions that raise
``NotImplementedError`` on CPU tensors. This module gives the same operators in PyTorch:

* :func:`deform_conv` / :func:`modulated_deform_conv`: ``torchvision.ops.deform_conv2d`` (same interleaved
  ``(dy, dx)`` offset layout and out-of-image rule as the extension). torchvision is imported when first used.
* :func:`deform_roi_pooling`: the extension's deformable (PS-)RoI pooling, written from the kernel's behaviour
  with ``grid_sample`` (see the function).

:func:`install` makes a SiamAttn checkout use them: it stands in for the extension modules when they cannot be
imported and rebinds the functions the ``dcn`` modules call, so CPU tensors (and CUDA tensors when the
extension is missing) run here while a built extension keeps serving CUDA tensors. Importing this module needs
only torch; it imports nothing from the host tree until :func:`install` is called.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

log = logging.getLogger(__name__)

DCN_PACKAGE = "pysot.models.head.dcn"
_EXTENSIONS = ("deform_conv_cuda", "deform_pool_cuda")


def deform_conv(input: Tensor, offset: Tensor, weight: Tensor, stride: Any = 1, padding: Any = 0,
                dilation: Any = 1, groups: int = 1, deformable_groups: int = 1, im2col_step: int = 64) -> Tensor:
    """The extension's ``deform_conv`` (no bias): ``input`` (B, C, H, W), ``offset`` (B, 2 * dg * kh * kw, Ho, Wo)
    with ``(dy, dx)`` pairs per kernel tap, ``weight`` (O, C / groups, kh, kw) -> (B, O, Ho, Wo).

    ``groups`` and ``deformable_groups`` follow from the shapes of ``weight`` and ``offset`` (torchvision infers
    them); ``im2col_step`` is an extension memory knob without effect on the result.
    """
    from torchvision.ops import deform_conv2d

    return deform_conv2d(input, offset, weight, stride=_pair(stride), padding=_pair(padding),
                         dilation=_pair(dilation))


def modulated_deform_conv(input: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias: Tensor | None = None,
                          stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                          deformable_groups: int = 1) -> Tensor:
    """The extension's ``modulated_deform_conv`` (DCNv2): as :func:`deform_conv` with ``mask``
    (B, dg * kh * kw, Ho, Wo) modulating every tap and an optional ``bias`` (O,)."""
    from torchvision.ops import deform_conv2d

    return deform_conv2d(input, offset, weight, bias=bias, stride=_pair(stride), padding=_pair(padding),
                         dilation=_pair(dilation), mask=mask)


def _round_half_away(x: Tensor) -> Tensor:
    """C's ``round``: halves go away from zero (``torch.round`` rounds them to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def deform_roi_pooling(data: Tensor, rois: Tensor, offset: Tensor, spatial_scale: float, out_size: int,
                       out_channels: int, no_trans: bool, group_size: int = 1, part_size: int | None = None,
                       sample_per_part: int = 4, trans_std: float = 0.0) -> Tensor:
    """Deformable RoI pooling as SiamAttn's ``deform_psroi_pooling`` kernel computes it -> (R, C, P, P).

    ``data`` (B, C, H, W) features; ``rois`` (R, 5) ``(batch index, x1, y1, x2, y2)`` in input-image pixels
    (inclusive corners, scaled by ``spatial_scale`` to feature pixels); ``offset`` (R, 2, part, part) learned
    bin shifts ``(dx, dy)`` in units of the RoI size (ignored when ``no_trans``); P = ``out_size``.

    Per RoI: corners rounded half away from zero, ``start = round(x1) * scale - 0.5``,
    ``end = (round(x2) + 1) * scale - 0.5``, size ``max(end - start, 0.1)``; bin ``(ph, pw)`` starts at
    ``start + p * size / P + trans_std * offset * size`` (offset of part ``floor(p / P * part)``) and takes
    ``sample_per_part``\\ :sup:`2` samples spaced ``size / (P * sample_per_part)`` from the bin start. A
    sample outside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` is dropped from the average (a bin without samples
    is 0); the others are clamped into ``[0, W - 1] x [0, H - 1]`` and interpolated bilinearly.
    Gradients flow to ``data`` and ``offset``; none to ``rois`` (as the kernel).

    Only ``group_size == 1`` and one offset class (``offset`` with 2 channels) are supported, as every
    SiamAttn head uses; others raise ``ValueError``.
    """
    if group_size != 1:
        raise ValueError(f"deform_roi_pooling supports group_size=1 (SiamAttn's heads), got {group_size}")
    num_rois, channels, height, width = rois.shape[0], data.shape[1], data.shape[2], data.shape[3]
    if channels != out_channels:
        raise ValueError(f"deform_roi_pooling: data has {channels} channels, out_channels says {out_channels}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"deform_roi_pooling: rois must be (R, 5) (batch index, x1, y1, x2, y2), got "
                         f"{tuple(rois.shape)}")
    part = out_size if part_size is None else part_size
    if not no_trans and (offset.dim() != 4 or offset.shape[1] != 2 or offset.shape[0] != num_rois):
        raise ValueError(f"deform_roi_pooling: offset must be (R, 2, part, part) = ({num_rois}, 2, {part}, {part}),"
                         f" got {tuple(offset.shape)}")
    if num_rois == 0:
        return data.new_zeros(0, channels, out_size, out_size)
    boxes = rois.detach().to(data.dtype)
    start = _round_half_away(boxes[:, 1:3]) * spatial_scale - 0.5  # (R, 2) x, y
    end = (_round_half_away(boxes[:, 3:5]) + 1.0) * spatial_scale - 0.5
    size = (end - start).clamp(min=0.1)  # (R, 2) width, height
    bin_size = size / out_size
    steps = torch.arange(sample_per_part, dtype=data.dtype, device=data.device) / sample_per_part
    bins = torch.arange(out_size, dtype=data.dtype, device=data.device)
    # bin starts (R, P, P, 2) in (x, y); index [r, ph, pw]
    base_x = start[:, None, None, 0] + bins[None, None, :] * bin_size[:, None, None, 0]
    base_y = start[:, None, None, 1] + bins[None, :, None] * bin_size[:, None, None, 1]
    if not no_trans:
        part_idx = torch.floor(bins / out_size * part).long()
        trans = offset[:, :, part_idx][:, :, :, part_idx] * trans_std  # (R, 2, P, P)
        base_x = base_x + trans[:, 0] * size[:, None, None, 0]
        base_y = base_y + trans[:, 1] * size[:, None, None, 1]
    else:
        base_x = base_x.expand(num_rois, out_size, out_size)
        base_y = base_y.expand(num_rois, out_size, out_size)
    # samples (R, P, P, S, S): index [r, ph, pw, ih, iw]
    xs = base_x[..., None, None] + (steps * bin_size[:, 0, None])[:, None, None, None, :]
    ys = base_y[..., None, None] + (steps * bin_size[:, 1, None])[:, None, None, :, None]
    xs, ys = torch.broadcast_tensors(xs, ys)
    valid = (xs >= -0.5) & (xs <= width - 0.5) & (ys >= -0.5) & (ys <= height - 0.5)
    xs = xs.clamp(0.0, width - 1.0)
    ys = ys.clamp(0.0, height - 1.0)
    grid = torch.stack((2.0 * xs / max(width - 1, 1) - 1.0, 2.0 * ys / max(height - 1, 1) - 1.0), dim=-1)
    samples = out_size * sample_per_part
    # (R, P, P, S, S, 2) -> (R, P*S, P*S, 2) with rows (ph, ih) and columns (pw, iw)
    grid = grid.permute(0, 1, 3, 2, 4, 5).reshape(num_rois, samples, samples, 2)
    image = rois[:, 0].detach().round().long()
    values = data.new_zeros(num_rois, channels, samples, samples)
    for b in torch.unique(image).tolist():
        if not 0 <= b < data.shape[0]:
            raise ValueError(f"deform_roi_pooling: a RoI names image {b} of a batch of {data.shape[0]}")
        pick = (image == b).nonzero().flatten()
        sampled = F.grid_sample(data[b:b + 1], grid[pick].reshape(1, -1, samples, 2), mode="bilinear",
                                padding_mode="border", align_corners=True)  # (1, C, |pick| * PS, PS)
        values = values.index_copy(0, pick, sampled.view(channels, pick.numel(), samples, samples).transpose(0, 1))
    keep = valid.permute(0, 1, 3, 2, 4).reshape(num_rois, 1, samples, samples).to(data.dtype)
    pooled = (values * keep).view(num_rois, channels, out_size, sample_per_part, out_size, sample_per_part)
    count = keep.view(num_rois, 1, out_size, sample_per_part, out_size, sample_per_part).sum(dim=(3, 5))
    return pooled.sum(dim=(3, 5)) / count.clamp(min=1.0)


class _MissingExtension(types.ModuleType):
    """Stands in for a compiled extension that cannot be imported; using it names the import error."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.reason = reason

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(f"{self.__name__} is not built ({self.reason}); slt_pysot.deform_ops serves this "
                           f"operator on every device: call slt_pysot.deform_ops.install() before building the "
                           f"model")


def _dispatch(native: Callable[..., Tensor], ours: Callable[..., Tensor], built: bool) -> Callable[..., Tensor]:
    """The extension for CUDA tensors when it is built, ours otherwise."""

    def call(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if built and input.is_cuda:
            return native(input, *args, **kwargs)
        return ours(input, *args, **kwargs)

    call.__name__ = ours.__name__
    call.__doc__ = ours.__doc__
    call.slt_deform_ops = True  # type: ignore[attr-defined]
    return call


def _package_folder(package: str) -> Path:
    """The folder of ``package`` (dotted), found without importing it (the host's ``dcn`` imports its extension)."""
    head, _, tail = package.partition(".")
    spec = importlib.util.find_spec(head)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"cannot find the package {head!r} (is the SiamAttn checkout on sys.path?)")
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*tail.split(".")) if tail else \
        Path(list(spec.submodule_search_locations)[0])
    if not folder.is_dir():
        raise ImportError(f"{package}: no folder {folder} (is this a SiamAttn checkout?)")
    return folder


def install(package: str = DCN_PACKAGE, force: bool = False) -> dict[str, bool]:
    """Make SiamAttn's ``dcn`` package use these operators; returns ``{extension: built}``.

    Call before importing the model (``pysot.models.*``). An extension module that fails to import is replaced
    by a stand-in; ``deform_conv``, ``modulated_deform_conv`` and ``deform_roi_pooling`` are rebound in
    ``dcn.deform_conv``, ``dcn.deform_pool`` and ``dcn`` so the ``DeformConvPack`` / ``DeformRoIPoolingPack``
    modules call them. With ``force`` the compiled extension is not used even for CUDA tensors. Idempotent.
    """
    built: dict[str, bool] = {}
    folder = _package_folder(package)
    for ext in _EXTENSIONS:
        name = f"{package}.{ext}"
        if isinstance(sys.modules.get(name), _MissingExtension):
            built[ext] = False
            continue
        files = [folder / f"{ext}{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        if any(f.is_file() for f in files):
            built[ext] = not force
            continue
        sys.modules[name] = _MissingExtension(name, f"no {ext}{importlib.machinery.EXTENSION_SUFFIXES[0]} in "
                                                    f"{folder}")
        built[ext] = False
        log.info("%s is not built in %s: deformable ops run in PyTorch", name, folder)
    conv = importlib.import_module(f"{package}.deform_conv")
    pool = importlib.import_module(f"{package}.deform_pool")
    top = importlib.import_module(package)
    bindings = ((conv, "deform_conv", deform_conv, built["deform_conv_cuda"]),
                (conv, "modulated_deform_conv", modulated_deform_conv, built["deform_conv_cuda"]),
                (pool, "deform_roi_pooling", deform_roi_pooling, built["deform_pool_cuda"]))
    for module, name, ours, ext_built in bindings:
        current = getattr(module, name)
        if getattr(current, "slt_deform_ops", False):
            continue
        fn = _dispatch(current, ours, ext_built)
        setattr(module, name, fn)
        if hasattr(top, name):
            setattr(top, name, fn)
    return built
