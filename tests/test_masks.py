"""Ground-truth masks on their way to a mask loss: cropped like the search crops, recorded by the rollout for the
sampled rows only, and the OHEM BCE of SLT-SiamAttn's mask term (slt.crop, slt.rollout, slt.mask_loss)."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from slt.crop import crop_masks, siamfc_region
from slt.data.synthetic import SyntheticConfig, generate_video
from slt.mask_loss import hardest_mean, ohem_bce
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.rollout import explore
from slt.sampling import list_collate


def box_mask(height, width, box):
    """(H, W) uint8 0/1 rectangle of an xywh box, rounded to whole pixels."""
    x, y, w, h = (int(round(v)) for v in box)
    mask = np.zeros((height, width), np.uint8)
    mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = 1
    return mask


def test_mask_crop_of_an_unscaled_region_is_the_slice_with_background_outside():
    rng = np.random.default_rng(0)
    mask = (rng.random((30, 40)) > 0.5).astype(np.uint8)
    regions = torch.tensor([[5.0, 3.0, 12.0, 12.0], [-4.0, 25.0, 12.0, 12.0]])  # the second leaves the image
    crops = crop_masks([mask], regions, 12)
    assert crops.dtype == torch.uint8 and crops.shape == (2, 12, 12)
    assert np.array_equal(crops[0].numpy(), mask[3:15, 5:17])
    expected = np.zeros((12, 12), np.uint8)
    expected[:5, 4:] = mask[25:30, 0:8]
    assert np.array_equal(crops[1].numpy(), expected)


def test_mask_crop_of_a_scaled_region_is_the_bilinear_resize_thresholded():
    mask = np.zeros((60, 80), np.uint8)
    cv2.circle(mask, (40, 30), 17, 1, -1)
    regions = siamfc_region(torch.tensor([[40.0, 30.0]]), torch.tensor([48.0]))
    x0, y0, side = (int(v) for v in regions[0, :3])
    reference = cv2.resize(mask[y0:y0 + side, x0:x0 + side].astype(np.float32), (96, 96),
                           interpolation=cv2.INTER_LINEAR) >= 0.5
    got = crop_masks([mask], regions, 96)[0].numpy().astype(bool)
    assert (got != reference).mean() < 0.01  # differences only on the circle's rim (fixed-point OpenCV weights)
    assert got.sum() == pytest.approx(np.pi * (17 * 2) ** 2, rel=0.05)  # radius 17 px doubled


def test_mask_crop_rows_are_copy_major_over_frames():
    masks = [np.ones((20, 20), np.uint8), np.zeros((10, 30), np.uint8)]
    regions = torch.tensor([[0.0, 0.0, 8.0, 8.0]]).repeat(4, 1)
    sums = crop_masks(masks, regions, 8).sum(dim=(1, 2)).tolist()
    assert sums == [64, 0, 64, 0]


def test_hardest_mean_keeps_the_largest_seventy_percent():
    losses = torch.arange(10, dtype=torch.float32)  # 0..9: int(0.7 * 10) = 7 largest are 3..9
    assert hardest_mean(losses).item() == pytest.approx(6.0)
    assert hardest_mean(losses.view(2, 5), keep=1.0).item() == pytest.approx(4.5)
    assert hardest_mean(torch.tensor([2.0, 5.0]), keep=0.1).item() == 5.0  # at least one value
    with pytest.raises(ValueError, match="keep"):
        hardest_mean(losses, keep=0.0)


def test_ohem_bce_averages_the_hardest_pixels_of_all_rois_together():
    logits = torch.tensor([[[2.0, -1.0], [0.0, 3.0]], [[-2.0, 1.0], [4.0, -3.0]]], requires_grad=True)
    targets = torch.tensor([[[1.0, 1.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]])
    per_pixel = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten()
    hardest = np.sort(per_pixel.detach().numpy())[::-1][:5]  # int(0.7 * 8) = 5 over both RoIs
    loss = ohem_bce(logits, targets)
    assert loss.item() == pytest.approx(float(hardest.mean()), rel=1e-6)
    loss.backward()
    easy = np.argsort(per_pixel.detach().numpy())[:3]  # the 3 easiest pixels get no gradient
    assert (logits.grad.flatten()[easy] == 0).all() and (logits.grad.flatten().abs() > 0).sum() == 5
    with pytest.raises(ValueError, match="differ in shape"):
        ohem_bce(logits, targets[0])


def test_collate_gives_none_for_clips_without_masks():
    batch = list_collate([{"a": 1, "search_masks": np.ones((2, 3, 3))}, {"a": 2}])
    assert batch["a"] == [1, 2] and batch["search_masks"][1] is None and batch["search_masks"][0].shape == (2, 3, 3)


def masked_batch(num_frames=5):
    """Three synthetic clips; clips 0 and 2 carry box-shaped masks, clip 1 has none."""
    config = SyntheticConfig(height=96, width=128, num_frames=8)
    videos = [generate_video(k, config) for k in range(3)]
    masks = [np.stack([box_mask(96, 128, b) for b in v.boxes[:num_frames]]) for v in videos]
    return list_collate([{
        "template_images": v.frames[0], "template_annos": v.boxes[0], "search_images": v.frames[:num_frames],
        "search_annos": v.boxes[:num_frames], "search_visible": np.ones(num_frames, dtype=bool),
        "key": (0, 0, k), **({} if k == 1 else {"search_masks": masks[k]}),
    } for k, v in enumerate(videos)])


def test_rollout_records_the_sampled_rows_masks_in_their_search_crops():
    torch.manual_seed(0)
    rollout = explore(ReferenceTracker(ReferenceSiamRPN().eval()), masked_batch())
    steps, rows = rollout.actions.shape
    size = rollout.crops.shape[-1]
    assert rollout.masks.shape == (steps, rows, size, size) and rollout.masks.dtype == torch.uint8
    assert rollout.has_mask.tolist() == [[True, False, True]] * steps
    assert int(rollout.masks[:, 1].sum()) == 0
    for t in range(steps):
        for j in (0, 2):
            x, y, w, h = rollout.gt_in_crop[t, j].tolist()  # the mask's box in the crop is the ground truth's
            ys, xs = np.nonzero(rollout.masks[t, j].numpy())
            scale = 2.0  # crop pixels: mask rounding to whole image pixels plus sampling (measured 1.13)
            assert abs(xs.min() - x) <= scale and abs(xs.max() + 1 - (x + w)) <= scale
            assert abs(ys.min() - y) <= scale and abs(ys.max() + 1 - (y + h)) <= scale
    samples = rollout.samples(torch.zeros(1, 3))
    assert samples.masks.shape == (steps * rows, size, size)
    assert samples.has_mask.tolist() == [True, False, True] * steps
    chunk = next(samples.chunks(4))
    assert torch.equal(chunk.masks, samples.masks[:4]) and chunk.has_mask.tolist() == [True, False, True, True]
    assert torch.equal(samples.to("cpu").masks, samples.masks)


def test_rollout_without_masks_records_none():
    batch = masked_batch()
    del batch["search_masks"]
    rollout = explore(ReferenceTracker(ReferenceSiamRPN().eval()), batch)
    assert rollout.masks is None and rollout.has_mask is None
    samples = rollout.samples(torch.zeros(1, 3))
    assert samples.masks is None and next(samples.chunks(2)).has_mask is None


def test_rollout_refuses_masks_of_another_size_naming_the_clip():
    batch = masked_batch()
    batch["search_masks"][2] = batch["search_masks"][2][:, :50]
    batch["sequence"] = ["a", "b", "c"]
    with pytest.raises(ValueError, match="clip c: search_masks"):
        explore(ReferenceTracker(ReferenceSiamRPN().eval()), batch)
