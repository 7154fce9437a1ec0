"""slt_pysot.deform_ops against slow float64 references of SiamAttn's deformable-op kernels (no host tree needed).

The RoI-pooling reference is a per-output loop over the kernel's documented steps (forward and its hand-written
backward for data and offsets); the convolution is checked against torchvision's ``deform_conv2d`` and, with
zero offsets, ``conv2d``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slt_pysot.deform_ops import deform_conv, deform_roi_pooling, modulated_deform_conv


def _round(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def reference_pool(data, rois, offset, scale, out, no_trans, part, spp, trans_std, grad_out=None):
    """float64 loops of the kernel: returns (output, grad_data, grad_offset) as numpy arrays."""
    n_rois, channels = rois.shape[0], data.shape[1]
    height, width = data.shape[2:]
    output = np.zeros((n_rois, channels, out, out))
    g_data = np.zeros_like(data)
    g_off = np.zeros_like(offset) if not no_trans else None
    for n in range(n_rois):
        b = int(rois[n, 0])
        sw = _round(rois[n, 1]) * scale - 0.5
        sh = _round(rois[n, 2]) * scale - 0.5
        rw = max((_round(rois[n, 3]) + 1.0) * scale - 0.5 - sw, 0.1)
        rh = max((_round(rois[n, 4]) + 1.0) * scale - 0.5 - sh, 0.1)
        bw, bh = rw / out, rh / out
        for c in range(channels):
            for ph in range(out):
                for pw in range(out):
                    part_h, part_w = int(math.floor(ph / out * part)), int(math.floor(pw / out * part))
                    tx = 0.0 if no_trans else offset[n, 0, part_h, part_w] * trans_std
                    ty = 0.0 if no_trans else offset[n, 1, part_h, part_w] * trans_std
                    ws, hs = pw * bw + sw + tx * rw, ph * bh + sh + ty * rh
                    points = []
                    for ih in range(spp):
                        for iw in range(spp):
                            w, h = ws + iw * bw / spp, hs + ih * bh / spp
                            if w < -0.5 or w > width - 0.5 or h < -0.5 or h > height - 0.5:
                                continue
                            points.append((min(max(w, 0.0), width - 1.0), min(max(h, 0.0), height - 1.0)))
                    if not points:
                        continue
                    img = data[b, c]
                    total = 0.0
                    for w, h in points:
                        x0, x1, y0, y1 = math.floor(w), math.ceil(w), math.floor(h), math.ceil(h)
                        dx, dy = w - x0, h - y0
                        total += ((1 - dx) * (1 - dy) * img[y0, x0] + (1 - dx) * dy * img[y1, x0]
                                  + dx * (1 - dy) * img[y0, x1] + dx * dy * img[y1, x1])
                        if grad_out is None:
                            continue
                        diff = grad_out[n, c, ph, pw] / len(points)
                        g_data[b, c, y0, x0] += (1 - dx) * (1 - dy) * diff
                        g_data[b, c, y1, x0] += (1 - dx) * dy * diff
                        g_data[b, c, y0, x1] += dx * (1 - dy) * diff
                        g_data[b, c, y1, x1] += dx * dy * diff
                        if no_trans:
                            continue
                        u00, u01, u10, u11 = img[y0, x0], img[y1, x0], img[y0, x1], img[y1, x1]
                        g_off[n, 0, part_h, part_w] += (u11 * dy + u10 * (1 - dy) - u01 * dy - u00 * (1 - dy)) \
                            * trans_std * diff * rw
                        g_off[n, 1, part_h, part_w] += (u11 * dx + u01 * (1 - dx) - u10 * dx - u00 * (1 - dx)) \
                            * trans_std * diff * rh
                    output[n, c, ph, pw] = total / len(points)
    return output, g_data, g_off


@pytest.fixture
def pool_case():
    gen = torch.Generator().manual_seed(3)
    data = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64)
    # inside, half-integer corners (rounding), past every border, tiny, and one on the second image
    rois = torch.tensor([[0, 10.0, 12.0, 60.0, 50.0],
                         [1, 20.5, -3.5, 70.5, 40.5],
                         [0, -30.0, -25.0, 30.0, 20.0],
                         [1, 70.0, 55.0, 120.0, 99.0],
                         [0, 33.0, 33.0, 33.0, 33.0],
                         [1, -2.5, 61.5, 40.0, 80.0]], dtype=torch.float64)
    offset = (torch.randn(rois.shape[0], 2, 3, 3, generator=gen, dtype=torch.float64) * 2.0)
    return data, rois, offset


@pytest.mark.parametrize("no_trans", [False, True])
def test_roi_pooling_matches_float64_kernel_reference(pool_case, no_trans):
    data, rois, offset = pool_case
    scale, out, part, spp, trans_std = 1 / 8, 3, 3, 4, 0.1
    data = data.clone().requires_grad_(True)
    offset = offset.clone().requires_grad_(True)
    result = deform_roi_pooling(data, rois, offset, scale, out, 3, no_trans, 1, part, spp, trans_std)
    grad_out = torch.randn(result.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    result.backward(grad_out)
    ref, ref_gdata, ref_goff = reference_pool(data.detach().numpy(), rois.numpy(), offset.detach().numpy(), scale,
                                              out, no_trans, part, spp, trans_std, grad_out.numpy())
    assert np.abs(result.detach().numpy() - ref).max() < 1e-12
    assert np.abs(data.grad.numpy() - ref_gdata).max() < 1e-12
    if not no_trans:
        assert np.abs(offset.grad.numpy() - ref_goff).max() < 1e-12
    # the boundary RoIs drop out-of-image samples instead of averaging zeros in
    assert (ref[2] != 0).any() and (ref[3] != 0).any()


def test_roi_pooling_bins_without_samples_are_zero():
    data = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    rois = torch.tensor([[0, 400.0, 400.0, 420.0, 420.0]], dtype=torch.float64)
    result = deform_roi_pooling(data, rois, data.new_empty(0), 1 / 8, 2, 2, True)
    assert result.shape == (1, 2, 2, 2) and (result == 0).all()


def test_roi_pooling_rejects_a_roi_of_a_missing_image():
    data = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="names image 3"):
        deform_roi_pooling(data, torch.tensor([[3, 0.0, 0.0, 8.0, 8.0]]), data.new_empty(0), 1 / 8, 2, 2, True)


def test_roi_pooling_float32_matches_float64(pool_case):
    data, rois, offset = pool_case
    full = deform_roi_pooling(data, rois, offset, 1 / 8, 3, 3, False, 1, 3, 4, 0.1)
    single = deform_roi_pooling(data.float(), rois.float(), offset.float(), 1 / 8, 3, 3, False, 1, 3, 4, 0.1)
    assert (single.double() - full).abs().max() < 1e-5


def _torchvision():
    return pytest.importorskip("torchvision", reason="deform_conv wraps torchvision.ops.deform_conv2d: install "
                                                     "torchvision (the siamattn extra) to test it")


def test_deform_conv_with_zero_offsets_is_conv2d():
    _torchvision()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 9, 9, generator=gen, dtype=torch.float64)
    weight = torch.randn(6, 4, 3, 3, generator=gen, dtype=torch.float64)
    offset = torch.zeros(2, 18, 9, 9, dtype=torch.float64)
    assert torch.allclose(deform_conv(x, offset, weight, 1, 1, 1, 1, 1), F.conv2d(x, weight, padding=1),
                          atol=1e-12, rtol=0)
    mask = torch.ones(2, 9, 9, 9, dtype=torch.float64)
    bias = torch.randn(6, generator=gen, dtype=torch.float64)
    assert torch.allclose(modulated_deform_conv(x, offset, mask, weight, bias, 1, 1, 1, 1, 1),
                          F.conv2d(x, weight, bias, padding=1), atol=1e-12, rtol=0)


def test_deform_conv_equals_torchvision_with_offsets():
    torchvision = _torchvision()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 7, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 4, 3, 3, generator=gen, dtype=torch.float64)
    offset = torch.randn(1, 18, 7, 7, generator=gen, dtype=torch.float64) * 3
    ours = deform_conv(x, offset, weight, 1, 1, 1, 1, 1)
    theirs = torchvision.ops.deform_conv2d(x, offset, weight, padding=(1, 1))
    assert torch.equal(ours, theirs)
