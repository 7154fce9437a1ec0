"""slt.sampling: sequential (SS) and random-interval (SA) clips, and the SequenceSampler."""

import logging

import numpy as np
import pytest
import torch

from slt import sampling


class MemoryDataset:
    """A dataset in the PyTracking protocol whose frames are tiny arrays holding their frame id."""

    def __init__(self, visibles, name="memory", video=True, bad_frames=()):
        self.visibles = [np.asarray(v, dtype=bool) for v in visibles]
        self.name, self.video, self.bad_frames = name, video, set(bad_frames)

    def get_name(self):
        return self.name

    def is_video_sequence(self):
        return self.video

    def get_num_sequences(self):
        return len(self.visibles)

    def __len__(self):
        return len(self.visibles)

    def get_sequence_name(self, seq_id):
        return f"seq{seq_id}"

    def get_sequence_info(self, seq_id):
        n = len(self.visibles[seq_id])
        bbox = torch.tensor([[float(i), 0.0, 10.0, 10.0] for i in range(n)])
        visible = torch.from_numpy(self.visibles[seq_id])
        return {"bbox": bbox, "valid": torch.ones(n, dtype=torch.bool), "visible": visible}

    def get_frames(self, seq_id, frame_ids, anno=None):
        anno = anno or self.get_sequence_info(seq_id)
        for f in frame_ids:
            if (seq_id, f) in self.bad_frames:
                raise OSError(f"cannot read frame {f}")
        frames = [np.broadcast_to(np.array([f, f + 1, f + 2], dtype=np.uint8), (4, 4, 3)) for f in frame_ids]
        annos = {k: [v[f] for f in frame_ids] for k, v in anno.items()}
        return frames, annos, {"object_class_name": "thing"}


def visible_pattern(n, seed):
    return np.random.default_rng(seed).random(n) > 0.3


@pytest.mark.parametrize("seed", range(20))
def test_sequential_clips_are_increasing_visible_frames(seed):
    visible = visible_pattern(120, seed)
    rng = np.random.default_rng(seed)
    template, ids = sampling.sequential_clip(visible, 16, max_gap=30, rng=rng)
    assert len(ids) == 16 and visible[template]
    assert all(visible[i] for i in ids)
    vis_ids = np.flatnonzero(visible)
    start = int(np.searchsorted(vis_ids, ids[0]))
    real = vis_ids[start : start + 16].tolist()  # consecutive visible frames ...
    assert ids == real + [real[-1]] * (16 - len(real))  # ... then the last repeated at the video end
    assert all(b > a for a, b in zip(real, real[1:]))
    assert template <= ids[0] <= template + 30


def test_sequential_clip_duplicates_the_last_frame_at_the_video_end():
    visible = np.zeros(30, dtype=bool)
    visible[[0, 3, 5]] = True
    template, ids = sampling.sequential_clip(visible, 6, max_gap=-1, rng=np.random.default_rng(0))
    assert ids[0] == template
    assert ids[-1] == 5 and ids.count(5) == 6 - ids.index(5)


@pytest.mark.parametrize("seed", range(20))
def test_random_interval_gaps_are_at_most_max_interval_visible_frames(seed):
    visible = visible_pattern(300, seed)
    template, ids = sampling.random_interval_clip(visible, 24, max_interval=5, max_gap=50,
                                                  rng=np.random.default_rng(seed))
    assert len(ids) == 24 and visible[template]
    vis_ids = np.flatnonzero(visible).tolist()
    positions = [vis_ids.index(i) for i in ids]
    steps = np.diff(positions)
    last_real = len(steps) if steps.all() else int(np.argmin(steps))  # end padding repeats the last id
    assert (steps[:last_real] >= 1).all() and (steps[:last_real] <= 5).all()
    assert (steps[last_real:] == 0).all()


def test_random_interval_uses_larger_steps_than_sequential():
    visible = np.ones(400, dtype=bool)
    rng = np.random.default_rng(3)
    spans = [np.diff(sampling.random_interval_clip(visible, 10, 4, -1, rng)[1]).mean() for _ in range(50)]
    assert 2.0 < np.mean(spans) < 3.0  # uniform over 1..4


def test_clips_of_videos_with_one_or_no_visible_frame():
    one = np.zeros(10, dtype=bool)
    one[4] = True
    template, ids = sampling.sequential_clip(one, 5, 3, np.random.default_rng(0))
    assert template == 4 and ids == [4] * 5
    template, ids = sampling.random_interval_clip(one, 5, 3, 3, np.random.default_rng(0))
    assert template == 4 and ids == [4] * 5
    with pytest.raises(sampling.ClipError, match="no visible frame"):
        sampling.sequential_clip(np.zeros(10, dtype=bool), 5, 3, np.random.default_rng(0))
    with pytest.raises(sampling.ClipError, match="no visible frame"):
        sampling.random_interval_clip(np.zeros(10, dtype=bool), 5, 3, 3, np.random.default_rng(0))


def test_clip_of_video_shorter_than_clip_length():
    # 3 frames, clips of 8: the template and the first search frame are frame 0 (the only start leaving room),
    # the clip plays every frame, then repeats the last one (end duplication)
    for seed in range(5):
        template, ids = sampling.sequential_clip(np.ones(3, dtype=bool), 8, 5, np.random.default_rng(seed))
        assert (template, ids) == (0, [0, 1, 2, 2, 2, 2, 2, 2])


def test_sampler_gives_clips_with_documented_keys_and_shapes():
    data = MemoryDataset([visible_pattern(100, s) for s in range(4)])
    sampler = sampling.SequenceSampler([data], samples_per_epoch=10, num_frames=8, max_gap=20,
                                       frame_sample_mode="random_interval", interval_prob=0.5, seed=7)
    sample = sampler[3]
    assert sample["search_images"].shape == (8, 4, 4, 3)
    assert sample["search_annos"].shape == (8, 4) and sample["template_annos"].shape == (4,)
    assert sample["search_visible"].all()
    # frames carry their id: images, boxes and ids agree
    assert sample["search_images"][:, 0, 0, 0].tolist() == sample["frame_ids"].tolist()
    assert sample["search_annos"][:, 0].tolist() == sample["frame_ids"].astype(float).tolist()
    assert sample["dataset"] == "memory" and sample["search_class"] == "thing" and sample["num_frames"] == 8


def test_sampler_is_deterministic_per_index_and_epoch():
    data = MemoryDataset([visible_pattern(100, s) for s in range(6)])
    a = sampling.SequenceSampler([data], num_frames=8, seed=1)
    b = sampling.SequenceSampler([data], num_frames=8, seed=1)
    assert np.array_equal(a[5]["frame_ids"], b[5]["frame_ids"])
    assert a[5]["sequence"] == b[5]["sequence"]
    ids_epoch0 = [tuple(a[i]["frame_ids"]) for i in range(10)]
    a.set_epoch(1)
    assert ids_epoch0 != [tuple(a[i]["frame_ids"]) for i in range(10)]


def test_sampler_image_datasets_give_static_clips():
    images = MemoryDataset([np.ones(1, dtype=bool)] * 3, name="coco", video=False)
    sample = sampling.SequenceSampler([images], num_frames=5, seed=0)[0]
    assert sample["frame_ids"].tolist() == [0] * 5
    assert (sample["search_images"] == sample["search_images"][0]).all()


def test_sampler_dataset_probabilities():
    a = MemoryDataset([np.ones(60, dtype=bool)], name="a")
    b = MemoryDataset([np.ones(60, dtype=bool)] * 9, name="b")
    sampler = sampling.SequenceSampler([a, b], p_datasets=[3, 1], num_frames=4, samples_per_epoch=400, seed=0)
    share_a = np.mean([sampler[i]["dataset"] == "a" for i in range(400)])
    assert 0.68 < share_a < 0.82
    proportional = sampling.SequenceSampler([a, b], num_frames=4, seed=0)
    assert np.allclose(proportional.p_datasets, [0.1, 0.9])


def test_sampler_never_loops_forever_on_unusable_videos():
    short = MemoryDataset([np.ones(5, dtype=bool)] * 3)
    with pytest.raises(sampling.ClipError, match="no sequence"):
        sampling.SequenceSampler([short], num_frames=8, max_tries=20)[0]
    with pytest.raises(sampling.ClipError, match="no sequences"):
        sampling.SequenceSampler([MemoryDataset([])], num_frames=8)
    with pytest.raises(sampling.ClipError, match="no sequences"):
        sampling.SequenceSampler([MemoryDataset([])], p_datasets=[1.0], num_frames=8)[0]


def test_sampler_redraws_after_a_data_fault_and_raises_past_the_bound(caplog):
    good = np.ones(60, dtype=bool)
    flaky = MemoryDataset([good, good], bad_frames={(0, f) for f in range(60)})
    sampler = sampling.SequenceSampler([flaky], num_frames=4, seed=0, max_tries=50)
    with caplog.at_level(logging.WARNING, logger="slt.sampling"):
        samples = [sampler[i] for i in range(5)]
    assert all(s["sequence"] == "seq1" for s in samples)
    assert sampler.faults > 0 and "seq0" in caplog.text and "cannot read frame" in caplog.text
    broken = MemoryDataset([good], bad_frames={(0, f) for f in range(60)})
    with pytest.raises(OSError, match="cannot read frame"):
        sampling.SequenceSampler([broken], num_frames=4, max_tries=3)[0]


def test_list_collate_transposes_without_stacking():
    batch = sampling.list_collate([{"a": 1, "b": np.zeros(2)}, {"a": 2, "b": np.zeros(3)}])
    assert batch["a"] == [1, 2] and [b.shape for b in batch["b"]] == [(2,), (3,)]


def test_first_frame_template_mode_keeps_the_video_start_and_clips_start_anywhere():
    visible = np.ones(200, dtype=bool)
    visible[:3] = False
    data = MemoryDataset([visible] * 2)
    sampler = sampling.SequenceSampler([data], num_frames=6, max_gap=-1, frame_sample_mode="sequential",
                                       template_mode="first_frame", seed=0)
    samples = [sampler[i] for i in range(20)]
    assert all(s["template_images"][0, 0, 0] == 3 for s in samples)  # frames carry their id
    assert len({s["frame_ids"][0] for s in samples}) > 10


def test_bgr_channel_order_flips_images_only():
    data = MemoryDataset([np.ones(60, dtype=bool)])
    kwargs = dict(num_frames=4, seed=2)
    rgb = sampling.SequenceSampler([data], **kwargs)[0]
    bgr = sampling.SequenceSampler([data], channel_order="bgr", **kwargs)[0]
    assert np.array_equal(bgr["search_images"][:, 0, 0], rgb["search_images"][:, 0, 0] + [2, 0, -2])
    assert np.array_equal(bgr["search_images"], rgb["search_images"][..., ::-1])
    assert bgr["search_images"].flags["C_CONTIGUOUS"] and np.array_equal(bgr["search_annos"], rgb["search_annos"])
    with pytest.raises(ValueError, match="channel_order"):
        sampling.SequenceSampler([data], channel_order="rbg")


def _scene(height=60, width=80):
    """A textured frame with a bright target at xywh (30, 20, 16, 12) and its mask."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 100, (height, width, 3)).astype(np.uint8)
    image[20:32, 30:46] = 250
    mask = np.zeros((height, width), np.uint8)
    mask[20:32, 30:46] = 1
    return image, np.array([30.0, 20.0, 16.0, 12.0]), mask


@pytest.mark.parametrize("seed", range(10))
def test_spatial_augment_moves_image_box_and_mask_alike(seed):
    image, box, mask = _scene()
    augment = sampling.SpatialSequenceAugment(shift=0.1, scale=0.2, blur=0.0, color=0.0)
    out, new_box, new_mask = augment(image, box, np.random.default_rng(seed), mask)
    assert out.shape == image.shape and out.dtype == np.uint8 and new_mask.shape == mask.shape
    x, y, w, h = new_box
    # the target stays inside the frame and the mask's bounding box is the new box (to nearest sampling)
    assert x >= -1e-3 and y >= -1e-3 and x + w <= 80 + 1e-3 and y + h <= 60 + 1e-3
    ys, xs = np.nonzero(new_mask)
    assert abs(xs.min() - x) <= 1.0 and abs(xs.max() + 1 - (x + w)) <= 1.0
    assert abs(ys.min() - y) <= 1.0 and abs(ys.max() + 1 - (y + h)) <= 1.0
    # the bright target moved with the box: the pixel at the new box centre is the target's
    assert (out[int(y + h / 2), int(x + w / 2)] > 200).all()
    assert not np.array_equal(new_box, box)


def test_spatial_augment_never_crops_smaller_than_the_target():
    image, _, _ = _scene()
    big = np.array([2.0, 3.0, 76.0, 55.0])
    for seed in range(10):
        _, new_box, _ = sampling.SpatialSequenceAugment(scale=0.5)(image, big, np.random.default_rng(seed))
        assert new_box[2] <= 80 + 1e-3 and new_box[3] <= 60 + 1e-3 and new_box[0] >= -1e-3


def test_spatial_augment_colour_and_blur_leave_geometry_alone():
    image, box, mask = _scene()
    still = sampling.SpatialSequenceAugment(shift=0.0, scale=0.0, blur=1.0, color=1.0)
    out, new_box, new_mask = still(image, box, np.random.default_rng(1), mask)
    assert np.allclose(new_box, box) and np.array_equal(new_mask, mask)
    assert not np.array_equal(out, image)


def test_spatial_augment_rejects_bad_settings():
    with pytest.raises(ValueError, match="shift"):
        sampling.SpatialSequenceAugment(shift=-0.1)


class MaskedImages(MemoryDataset):
    """One still image with a box and a mask, as an image dataset (COCO-like) gives it."""

    def get_frames(self, seq_id, frame_ids, anno=None):
        image, box, mask = _scene()
        return ([image for _ in frame_ids],
                {"bbox": [torch.tensor(box, dtype=torch.float32) for _ in frame_ids],
                 "visible": [True for _ in frame_ids], "mask": [torch.from_numpy(mask) for _ in frame_ids]},
                {"object_class_name": "thing"})


def test_sampler_continues_short_clips_with_augmented_copies_only_when_asked():
    images = MaskedImages([np.ones(1, dtype=bool)], name="coco", video=False)
    plain = sampling.SequenceSampler([images], num_frames=4, seed=0)[0]
    assert (plain["search_annos"] == plain["search_annos"][0]).all()
    assert (plain["search_masks"] == plain["search_masks"][0]).all()
    augment = sampling.SpatialSequenceAugment(blur=0.0, color=0.0)
    sample = sampling.SequenceSampler([images], num_frames=4, seed=0, spatial_augment=augment)[0]
    assert np.array_equal(sample["search_annos"][0], plain["search_annos"][0])  # the real frame is kept
    assert len({tuple(b) for b in sample["search_annos"].tolist()}) == 4
    assert sample["search_masks"].shape == (4, 60, 80) and sample["search_visible"].all()
    for t in range(1, 4):
        ys, xs = np.nonzero(sample["search_masks"][t])
        assert abs(xs.min() - sample["search_annos"][t][0]) <= 1.0


def test_real_length_counts_frames_before_the_end_padding():
    assert sampling._real_length([3, 5, 7, 7, 7]) == 3
    assert sampling._real_length([0, 0, 0]) == 1
    assert sampling._real_length([1, 2, 3]) == 3
