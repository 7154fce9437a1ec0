"""slt.crop: the batched grid_sample crop equals the OpenCV SiamFC crop up to uint8 rounding."""

import cv2
import numpy as np
import torch

from slt.crop import FrameBatch, crop_batch, crop_opencv, crop_windows, frame_means, siamfc_region, to_uint8


def textured(h, w, seed):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 1.5)


FRAMES = [textured(240, 320, 0), textured(180, 200, 1)]  # mixed resolutions in one batch
CENTERS = torch.tensor([[100.0, 120.0], [20.0, 10.0], [150.3, 60.7], [190.0, 170.0]])
SIZES = torch.tensor([90.0, 130.0, 40.4, 300.0])


def check_against_opencv(crops):
    for row in range(4):
        expected = crop_opencv(FRAMES[row % 2], CENTERS[row].tolist(), float(SIZES[row]), 127).astype(np.float64)
        got = crops[row].permute(1, 2, 0).numpy()
        interior = np.abs(got - expected)[4:-4, 4:-4]
        assert interior.mean() < 0.6, row  # OpenCV rounds to uint8 with fixed-point weights
        assert interior.max() < 2.0, row


def test_batched_crop_matches_opencv_crop_in_grey_levels():
    regions = siamfc_region(CENTERS, SIZES)
    padding = frame_means(FRAMES).repeat(2, 1)
    crops = crop_batch(FrameBatch.from_numpy(FRAMES), regions, 127, padding)
    assert crops.shape == (4, 3, 127, 127)
    check_against_opencv(crops)


def test_windowed_upload_gives_the_same_crops():
    regions = siamfc_region(CENTERS, SIZES)
    padding = frame_means(FRAMES).repeat(2, 1)
    whole = crop_batch(FrameBatch.from_numpy(FRAMES), regions, 127, padding)
    windows = crop_windows(regions, [f.shape[:2] for f in FRAMES])
    assert (windows[:, 2:] - windows[:, :2] <= [[320, 240], [200, 180]]).all()
    windowed = crop_batch(FrameBatch.from_numpy(FRAMES, windows=windows), regions, 127, padding)
    assert torch.allclose(whole, windowed, atol=1e-3)
    small = siamfc_region(torch.tensor([[100.0, 100.0], [50.0, 60.0]]), torch.tensor([30.0, 20.0]))
    windows = crop_windows(small, [f.shape[:2] for f in FRAMES])
    assert (windows[:, 2:] - windows[:, :2] <= 33).all()  # only what the crops need is uploaded


def test_padding_is_the_given_colour():
    frame = np.zeros((50, 60, 3), dtype=np.uint8)
    frame[:, :, 0] = 200
    frame[:25, :, 1] = 100
    frame[0, 0, 2] = 249  # mean 0.083: floored to 0, as the hosts write the mean into a uint8 image
    padding = frame_means([frame])
    assert torch.equal(padding, torch.tensor([[200.0, 50.0, 0.0]]))
    crop = crop_batch(FrameBatch.from_numpy([frame]), torch.tensor([[-500.0, -500.0, 100.0, 100.0]]), 16, padding)
    assert torch.allclose(crop[0, :, 8, 8], torch.tensor([200.0, 50.0, 0.0]))


def test_rows_are_copy_major_over_frames():
    frames = [textured(64, 64, s) for s in range(3)]
    region = torch.tensor([[8.0, 8.0, 32.0, 32.0]])
    crops = crop_batch(FrameBatch.from_numpy(frames), region.repeat(6, 1), 32, torch.zeros(6, 3))
    for row in range(6):
        expected = torch.from_numpy(frames[row % 3][8:40, 8:40]).permute(2, 0, 1).float()
        assert torch.allclose(crops[row], expected, atol=1e-3)
    assert to_uint8(crops).dtype == torch.uint8


def test_frame_means_are_the_floored_numpy_means_bit_for_bit():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((1, 1), (37, 53), (480, 640))]
    frames.append(np.full((20, 30, 3), (7, 128, 255), dtype=np.uint8))  # exact integer means stay integers
    frames.append(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)[::2, 1::3])  # a strided view
    expected = np.floor(np.stack([f.reshape(-1, 3).mean(0) for f in frames]))
    means = frame_means(frames)
    assert means.dtype == torch.float32
    np.testing.assert_array_equal(means.numpy(), expected.astype(np.float32))
    assert means[3].tolist() == [7.0, 128.0, 255.0]
