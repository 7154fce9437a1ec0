"""Synthetic videos: determinism, the hazards they claim, and consistent annotations."""

import dataclasses

import numpy as np
import pytest

from slt.data import SyntheticConfig, generate_video, write_dataset
from slt.data.synthetic import FAMILIES, is_written_dataset, vot_anchors

CALM = dict(num_distractors=(0, 0), occluder_prob=0.0, out_of_view_prob=0.0, jump_prob=0.0, blur_prob=0.0)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(small_config):
    a, b, c = generate_video(5, small_config), generate_video(5, small_config), generate_video(6, small_config)
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        assert (x == y) if isinstance(x, str) else (x.tobytes() == y.tobytes() and x.shape == y.shape), field.name
    assert a.frames.tobytes() != c.frames.tobytes()
    assert not np.array_equal(a.boxes, c.boxes)


def test_shapes_dtypes_and_ranges(small_config):
    v = generate_video(1, small_config)
    t, h, w = small_config.num_frames, small_config.height, small_config.width
    assert v.frames.shape == (t, h, w, 3) and v.frames.dtype == np.uint8
    assert v.boxes.shape == (t, 4) and v.boxes.dtype == np.float32
    assert v.visible.shape == v.out_of_view.shape == v.cut_by_image.shape == (t,) and v.visible.dtype == bool
    assert v.occlusion.shape == v.cover.shape == (t,)
    assert ((v.occlusion >= 0) & (v.occlusion <= 1)).all() and ((v.cover >= 0) & (v.cover <= 8)).all()
    assert v.object_class in FAMILIES
    x, y, bw, bh = v.boxes.T
    assert (x >= 0).all() and (y >= 0).all() and (x + bw <= w + 1e-4).all() and (y + bh <= h + 1e-4).all()


@pytest.mark.parametrize("seed", range(8))
def test_frame_zero_shows_the_whole_target(seed, small_config):
    config = dataclasses.replace(small_config, occluder_prob=1.0, num_distractors=(3, 3), max_occluders=3)
    v = generate_video(seed, config)
    assert v.visible[0] and v.cover[0] == 8 and v.occlusion[0] == 0 and not v.cut_by_image[0]
    assert v.boxes[0, 2] > 0 and v.boxes[0, 3] > 0


def test_annotations_are_mutually_consistent(small_config):
    for seed in range(6):
        v = generate_video(seed, small_config)
        valid = (v.boxes[:, 2] > 0) & (v.boxes[:, 3] > 0)
        assert not (v.visible & ~valid).any()  # a visible target has a box
        assert not (v.visible & v.out_of_view).any()
        assert (v.cover[v.visible] > 0).all()
        assert v.cut_by_image[v.out_of_view].all()
        np.testing.assert_array_equal(v.boxes[~valid], 0)  # entirely outside: all-zero box


def test_distractors_present_when_enabled_and_absent_when_disabled(small_config):
    on = generate_video(3, dataclasses.replace(small_config, num_distractors=(1, 3)))
    assert 1 <= on.distractor_boxes.shape[1] <= 3 and on.distractor_boxes.shape[0] == small_config.num_frames
    first = on.distractor_boxes[0, 0]
    assert first[0] >= 0 and first[0] + first[2] <= small_config.width  # inside the image
    off = generate_video(3, dataclasses.replace(small_config, num_distractors=(0, 0)))
    assert off.distractor_boxes.shape == (small_config.num_frames, 0, 4)


def test_out_of_view_episode_makes_frames_invisible(small_config):
    for seed in range(4):
        v = generate_video(seed, dataclasses.replace(small_config, **{**CALM, "out_of_view_prob": 1.0}))
        assert v.out_of_view.any() and not v.visible[v.out_of_view].any()
        assert v.visible[0]


def test_occluders_hide_the_target(small_config):
    config = dataclasses.replace(small_config, **{**CALM, "occluder_prob": 1.0, "max_occluders": 2})
    assert max(generate_video(seed, config).occlusion.max() for seed in range(4)) > 0.5


def test_calm_video_keeps_target_visible_with_changing_scale(small_config):
    v = generate_video(2, dataclasses.replace(small_config, **CALM, scale_rate=0.05))
    assert v.visible.all() and (v.occlusion == 0).all() and not v.out_of_view.any()
    area = v.boxes[:, 2] * v.boxes[:, 3]
    assert area.max() / area.min() > 1.2
    fixed = generate_video(2, dataclasses.replace(small_config, **CALM, scale_rate=0.0, aspect_rate=0.0))
    assert not fixed.cut_by_image.any()  # the walls keep a calm target inside the image
    assert np.ptp(fixed.boxes[:, 2:], axis=0).max() < 1e-4


def test_blur_changes_later_frames_but_not_frame_zero_or_boxes(small_config):
    sharp = generate_video(4, dataclasses.replace(small_config, blur_prob=0.0))
    blurred = generate_video(4, dataclasses.replace(small_config, blur_prob=1.0))
    np.testing.assert_array_equal(sharp.frames[0], blurred.frames[0])
    np.testing.assert_array_equal(sharp.boxes, blurred.boxes)
    assert (np.abs(sharp.frames[1:].astype(int) - blurred.frames[1:]).mean(axis=(1, 2, 3)) > 0.5).mean() > 0.5


def test_target_texture_stays_consistent(small_config):
    v = generate_video(0, dataclasses.replace(small_config, **CALM, illumination_amplitude=0.0))
    def patch(t):
        x, y, w, h = np.round(v.boxes[t]).astype(int)
        return v.frames[t, y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4].reshape(-1, 3).mean(axis=0)
    assert np.abs(patch(0) - patch(small_config.num_frames - 1)).max() < 30


def test_default_video_has_the_documented_size():
    """The default config is 100 frames of 160x160 (its generation time is measured by
    benchmarks/synthetic_speed.py, not asserted here)."""
    v = generate_video(1, SyntheticConfig())
    assert v.frames.shape == (100, 160, 160, 3) and v.boxes.shape == (100, 4)


def test_video_seeds_combine_dataset_seed_and_index(tmp_path, small_config):
    root = write_dataset(tmp_path, "got10k", 2, small_config.num_frames, 11, small_config, progress=False)
    gt = np.loadtxt(root / "GOT-10k_Train_000002" / "groundtruth.txt", delimiter=",")
    np.testing.assert_allclose(gt, generate_video(11 * 100003 + 1, small_config).boxes, atol=1e-3)


def test_bad_layout_and_config_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        write_dataset(tmp_path, "otb", 1, 5, 0, progress=False)
    with pytest.raises(ValueError, match="target_size"):
        SyntheticConfig(target_size=(0.3, 0.9))


@pytest.mark.parametrize("layout", ["got10k", "lasot", "vot"])
def test_written_dataset_is_recognised_until_a_file_is_damaged(tmp_path, small_config, layout):
    frames = small_config.num_frames
    root = write_dataset(tmp_path, layout, 2, frames, 3, small_config, progress=False)
    assert is_written_dataset(tmp_path, layout, 2, frames, 3, small_config)
    assert not is_written_dataset(tmp_path, layout, 2, frames, 4, small_config)  # another seed
    assert not is_written_dataset(tmp_path, layout, 3, frames, 3, small_config)  # more videos
    assert not is_written_dataset(tmp_path, layout, 2, frames, 3, dataclasses.replace(small_config, height=40))
    truth = sorted(root.rglob("groundtruth.txt"))
    assert len(truth) == 2
    last_frame = sorted(truth[0].parent.rglob(f"{frames:08d}.jpg"))[0]
    last_frame.write_bytes(b"")
    assert not is_written_dataset(tmp_path, layout, 2, frames, 3, small_config)


def test_written_dataset_with_truncated_ground_truth_or_no_metadata_is_not_recognised(tmp_path, small_config):
    frames = small_config.num_frames
    root = write_dataset(tmp_path, "got10k", 2, frames, 3, small_config, progress=False)
    truth = root / "GOT-10k_Train_000002" / "groundtruth.txt"
    truth.write_text("".join(truth.read_text().splitlines(keepends=True)[:-1]))
    assert not is_written_dataset(tmp_path, "got10k", 2, frames, 3, small_config)
    (tmp_path / "slt_synthetic.json").unlink()
    assert not is_written_dataset(tmp_path, "got10k", 2, frames, 3, small_config)
    assert not is_written_dataset(tmp_path / "nowhere", "got10k", 2, frames, 3, small_config)


def test_vot_anchors_every_fifth_of_a_short_video_and_every_50_frames_of_a_long_one():
    short = np.ones(30, dtype=bool)
    short[12:15] = False  # the anchor due at 12 moves to the next visible frame
    assert np.flatnonzero(vot_anchors(short)).tolist() == [0, 6, 15, 18, 24]
    assert np.flatnonzero(vot_anchors(np.ones(400, dtype=bool))).tolist() == list(range(0, 400, 50))
    hidden_end = np.ones(30, dtype=bool)
    hidden_end[20:] = False  # nothing visible after 20: no anchor there
    assert np.flatnonzero(vot_anchors(hidden_end)).tolist() == [0, 6, 12, 18]


def test_trackingnet_layout_is_read_back_by_the_reader_with_every_chunk_present(tmp_path, small_config):
    from slt.data import TrackingNet, read_rgb

    frames = 6
    root = write_dataset(tmp_path, "trackingnet", 3, frames, 2, small_config, progress=False)
    assert sorted(p.name for p in root.glob("TRAIN_*")) == sorted(f"TRAIN_{i}" for i in range(12))
    assert is_written_dataset(tmp_path, "trackingnet", 3, frames, 2, small_config)
    assert not is_written_dataset(tmp_path, "trackingnet", 4, frames, 2, small_config)
    dataset = TrackingNet(root)
    assert [dataset.get_sequence_name(i) for i in range(3)] == [f"synthetic_{k:06d}" for k in (1, 2, 3)]
    assert dataset.sequence_list[1] == (1, "synthetic_000002")  # video k in chunk k % 12
    video = generate_video(2 * 100003 + 1, dataclasses.replace(small_config, num_frames=frames))
    np.testing.assert_allclose(dataset.get_sequence_info(1)["bbox"].numpy(), video.boxes, atol=1e-3)
    assert np.abs(read_rgb(dataset.frame_path(1, frames - 1)).astype(float) - video.frames[-1]).mean() < 3
    (root / "TRAIN_1" / "frames" / "synthetic_000002" / "0.jpg").unlink()
    assert not is_written_dataset(tmp_path, "trackingnet", 3, frames, 2, small_config)
