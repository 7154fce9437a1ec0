"""slt.crop: the batched grid_sample crop equals the OpenCV SiamFC crop up to uint8 rounding."""

import cv2
import numpy as np
import torch

from slt.crop import FrameBatch, crop_batch, crop_opencv, siamfc_region, to_uint8


def textured(h, w, seed):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 1.5)


def test_batched_crop_matches_opencv_crop_in_grey_levels():
    frames = [textured(240, 320, 0), textured(180, 200, 1)]  # mixed resolutions in one batch
    batch = FrameBatch.from_numpy(frames)
    centers = torch.tensor([[100.0, 120.0], [20.0, 10.0], [150.3, 60.7], [190.0, 170.0]])
    sizes = torch.tensor([90.0, 130.0, 40.4, 300.0])
    crops = crop_batch(batch, siamfc_region(centers, sizes), 127)
    assert crops.shape == (4, 3, 127, 127)
    for row in range(4):
        expected = crop_opencv(frames[row % 2], centers[row].tolist(), float(sizes[row]), 127).astype(np.float64)
        got = crops[row].permute(1, 2, 0).numpy()
        interior = np.abs(got - expected)[4:-4, 4:-4]
        assert interior.mean() < 0.6, row  # OpenCV rounds to uint8 with fixed-point weights
        assert interior.max() < 2.0, row


def test_padding_is_the_frame_mean_colour():
    frame = np.zeros((50, 60, 3), dtype=np.uint8)
    frame[:, :, 0] = 200
    frame[:25, :, 1] = 100
    batch = FrameBatch.from_numpy([frame])
    crop = crop_batch(batch, torch.tensor([[-500.0, -500.0, 100.0, 100.0]]), 16)
    assert torch.allclose(crop[0, :, 8, 8], torch.tensor([200.0, 50.0, 0.0]))


def test_rows_are_copy_major_over_frames():
    frames = [textured(64, 64, s) for s in range(3)]
    batch = FrameBatch.from_numpy(frames)
    region = torch.tensor([[8.0, 8.0, 32.0, 32.0]])
    crops = crop_batch(batch, region.repeat(6, 1), 32)
    for row in range(6):
        expected = torch.from_numpy(frames[row % 3][8:40, 8:40]).permute(2, 0, 1).float()
        assert torch.allclose(crops[row], expected, atol=1e-3)
    assert to_uint8(crops).dtype == torch.uint8
