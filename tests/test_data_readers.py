"""Dataset readers over raw layouts, image decoding, and strict error reporting."""

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from slt.data import (
    DataError,
    Got10k,
    Lasot,
    TrackingNet,
    VOTSequences,
    generate_video,
    read_rgb,
    write_dataset,
    write_jpeg,
)
from slt.data import image as image_module

NUM_VIDEOS, SEED = 3, 7


def _videos(config):
    return [generate_video(SEED * 100003 + k, config) for k in range(NUM_VIDEOS)]


def _lasot_names(videos):
    names, counts = [], {}
    for video in videos:
        counts[video.object_class] = counts.get(video.object_class, 0) + 1
        names.append(f"{video.object_class}-{counts[video.object_class]}")
    return names


def _by_name(layout, videos):
    if layout == "got10k":
        names = [f"GOT-10k_Train_{k + 1:06d}" for k in range(len(videos))]
    elif layout == "lasot":
        names = _lasot_names(videos)
    else:
        names = [f"synthetic-{k + 1:04d}" for k in range(len(videos))]
    return dict(zip(names, videos))


READERS = {"got10k": Got10k, "lasot": Lasot, "vot": VOTSequences}


@pytest.mark.parametrize("layout", ["got10k", "lasot", "vot"])
def test_writer_output_reads_back_with_generator_boxes_flags_and_frames(tmp_path, small_config, layout):
    root = write_dataset(tmp_path, layout, NUM_VIDEOS, small_config.num_frames, SEED, small_config, progress=False)
    expected = _by_name(layout, _videos(small_config))
    dataset = READERS[layout](root)

    assert dataset.get_name() == layout
    assert len(dataset) == dataset.get_num_sequences() == NUM_VIDEOS
    assert dataset.is_video_sequence()
    any_invisible = False
    for seq_id in range(len(dataset)):
        video = expected[dataset.get_sequence_name(seq_id)]
        info = dataset.get_sequence_info(seq_id)
        assert info["bbox"].dtype == torch.float32 and info["bbox"].shape == (small_config.num_frames, 4)
        np.testing.assert_allclose(info["bbox"].numpy(), video.boxes, atol=1e-3)
        box_present = (video.boxes[:, 2] > 0) & (video.boxes[:, 3] > 0)
        np.testing.assert_array_equal(info["valid"].numpy(), box_present)
        # VOT has no visibility flags: visible = a non-empty box; the others carry the generator's flags
        expected_visible = box_present if layout == "vot" else video.visible
        np.testing.assert_array_equal(info["visible"].numpy(), expected_visible)
        any_invisible |= not expected_visible.all()

        ids = [0, small_config.num_frames // 2, small_config.num_frames - 1]
        frames, anno_frames, meta = dataset.get_frames(seq_id, ids)
        for frame, f in zip(frames, ids):
            assert frame.shape == (small_config.height, small_config.width, 3) and frame.dtype == np.uint8
            assert np.abs(frame.astype(np.float64) - video.frames[f]).mean() < 3.0
        assert torch.equal(torch.stack(anno_frames["bbox"]), info["bbox"][ids])
        assert [bool(v) for v in anno_frames["visible"]] == [bool(expected_visible[f]) for f in ids]
        assert set(meta) == {"object_class_name", "motion_class", "major_class", "root_class", "motion_adverb"}
        assert meta["object_class_name"] == (None if layout == "vot" else video.object_class)
    assert any_invisible, "the config should produce invisible frames, else this test proves little"


def test_got10k_writer_label_and_meta_files(tmp_path, small_config):
    root = write_dataset(tmp_path, "got10k", 1, small_config.num_frames, SEED, small_config, progress=False)
    video = _videos(small_config)[0]
    folder = root / "GOT-10k_Train_000001"
    assert (root / "list.txt").read_text() == "GOT-10k_Train_000001\n"
    assert sorted(p.name for p in folder.glob("*.jpg"))[0] == "00000001.jpg"
    read_ints = lambda name: [int(v) for v in (folder / name).read_text().split()]  # noqa: E731
    assert read_ints("absence.label") == [int(not v) for v in video.visible]
    assert read_ints("cover.label") == video.cover.tolist()
    assert read_ints("cut_by_image.label") == video.cut_by_image.astype(int).tolist()
    lines = (folder / "meta_info.ini").read_text().splitlines()
    # PyTracking's Got10k reads lines 6-10 by position
    assert lines[0] == "[METAINFO]"
    assert [line.split(": ")[0] for line in lines[5:10]] == [
        "object_class", "motion_class", "major_class", "root_class", "motion_adverb"]
    assert lines[5] == f"object_class: {video.object_class}"


def test_vot_writer_sequence_tags_and_anchors(tmp_path, small_config):
    root = write_dataset(tmp_path, "vot", 1, small_config.num_frames, SEED, small_config, progress=False)
    video = _videos(small_config)[0]
    folder = root / "synthetic-0001"
    assert (folder / "sequence").read_text().splitlines() == [
        "channels.color=color/%08d.jpg", "fps=30", "format=default", "name=synthetic-0001"]
    flags = lambda name: np.array([int(v) for v in (folder / name).read_text().split()])  # noqa: E731
    np.testing.assert_array_equal(flags("out-of-view.tag"), video.out_of_view)
    np.testing.assert_array_equal(flags("occlusion.tag"), video.occlusion > 0.1)
    anchors = flags("anchor.value").astype(bool)
    assert anchors[0] and anchors.sum() >= 2 and video.visible[anchors].all()
    gt_lines = (folder / "groundtruth.txt").read_text().splitlines()
    outside = video.boxes[:, 2] == 0
    assert all(gt_lines[t] == "0,0,0,0" for t in np.flatnonzero(outside))


def test_writer_records_generation_parameters(tmp_path, small_config):
    import json

    write_dataset(tmp_path, "lasot", 2, 12, 3, small_config, progress=False)
    params = json.loads((tmp_path / "slt_synthetic.json").read_text())
    assert params["format_version"] == 1
    assert (params["layout"], params["num_videos"], params["num_frames"], params["seed"]) == ("lasot", 2, 12, 3)
    assert params["config"]["num_frames"] == 12 and params["config"]["width"] == small_config.width


# -- hand-made layouts -------------------------------------------------------------------------------------------
def _frames(folder: Path, n: int, start: int = 1, padded: bool = True, size=(24, 32)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        name = f"{i:08d}.jpg" if padded else f"{i}.jpg"
        write_jpeg(folder / name, np.full((*size, 3), 10 * i % 255, dtype=np.uint8))


def _got10k_sequence(root: Path, name: str, gt_lines: list[str], labels: bool = True) -> Path:
    folder = root / name
    _frames(folder, len(gt_lines))
    (folder / "groundtruth.txt").write_text("\n".join(gt_lines) + "\n")
    if labels:
        (folder / "absence.label").write_text("0\n" * len(gt_lines))
        (folder / "cover.label").write_text("8\n" * len(gt_lines))
    return folder


GOOD_GT = ["1,2,10,12", "2,3,10,12", "3,4,10,12", "4,5,10,12"]


def test_got10k_visibility_from_absence_and_cover(tmp_path):
    folder = _got10k_sequence(tmp_path, "seq", GOOD_GT)
    (folder / "absence.label").write_text("0\n1\n0\n0\n")
    (folder / "cover.label").write_text("8\n8\n0\n3\n")
    info = Got10k(tmp_path).get_sequence_info(0)
    assert info["valid"].tolist() == [True] * 4
    assert info["visible"].tolist() == [True, False, False, True]


def test_got10k_without_label_files_visible_is_valid(tmp_path):
    _got10k_sequence(tmp_path, "seq", ["1,2,10,12", "1,2,0,12", "nan,nan,nan,nan", "1,2,3,4"], labels=False)
    info = Got10k(tmp_path).get_sequence_info(0)
    assert info["visible"].tolist() == info["valid"].tolist() == [True, False, False, True]


def test_got10k_list_file_order_split_file_and_seq_ids(tmp_path):
    for name in ("b", "a", "c"):
        _got10k_sequence(tmp_path, name, GOOD_GT)
    assert [Got10k(tmp_path).get_sequence_name(i) for i in range(3)] == ["a", "b", "c"]  # no list.txt: sorted
    (tmp_path / "list.txt").write_text("c\nb\na\n")
    assert Got10k(tmp_path).sequence_list == ["c", "b", "a"]
    assert Got10k(tmp_path, seq_ids=[2, 0]).sequence_list == ["a", "c"]
    split = tmp_path / "split.txt"
    split.write_text("1\n")
    assert Got10k(tmp_path, split=split).sequence_list == ["b"]
    with pytest.raises(ValueError, match="not both"):
        Got10k(tmp_path, split=split, seq_ids=[0])
    with pytest.raises(DataError, match="out of range"):
        Got10k(tmp_path, seq_ids=[3])


def test_got10k_meta_parsed_by_key_and_missing_meta_is_none(tmp_path):
    folder = _got10k_sequence(tmp_path, "a", GOOD_GT)
    _got10k_sequence(tmp_path, "b", GOOD_GT)
    (folder / "meta_info.ini").write_text("[METAINFO]\nurl: https://x.y/z\nobject_class: car\nroot_class: vehicle\n")
    dataset = Got10k(tmp_path)
    assert dataset.has_class_info()
    _, _, meta = dataset.get_frames(0, [0])
    assert meta["object_class_name"] == "car" and meta["root_class"] == "vehicle" and meta["motion_class"] is None
    assert dataset.get_frames(1, [0])[2] == dict.fromkeys(meta)


def test_lasot_visibility_class_and_vid_ids(tmp_path):
    for cls, k in [("cat", 1), ("cat", 2), ("dog", 1), ("dog", 10)]:
        folder = tmp_path / cls / f"{cls}-{k}"
        _frames(folder / "img", 4)
        (folder / "groundtruth.txt").write_text("\n".join(GOOD_GT) + "\n")
        (folder / "full_occlusion.txt").write_text("0,1,0,0\n")
        (folder / "out_of_view.txt").write_text("0,0,1,0")
        (folder / "nlp.txt").write_text("an animal\n")
    dataset = Lasot(tmp_path)
    assert dataset.sequence_list == ["cat-1", "cat-2", "dog-1", "dog-10"]
    assert dataset.get_sequence_info(3)["visible"].tolist() == [True, False, False, True]
    assert dataset.get_class_name(3) == "dog" and dataset.get_frames(3, [0])[2]["object_class_name"] == "dog"
    assert dataset.frame_path(0, 2).endswith("cat/cat-1/img/00000003.jpg")
    assert Lasot(tmp_path, vid_ids=[1]).sequence_list == ["cat-1", "dog-1"]
    split = tmp_path / "split.txt"
    split.write_text("dog-10\ncat-2\n")
    assert Lasot(tmp_path, split=split).sequence_list == ["dog-10", "cat-2"]


def test_trackingnet_zero_based_frames_and_set_ids(tmp_path):
    for set_id, name in [(0, "vidA"), (2, "vidB")]:
        _frames(tmp_path / f"TRAIN_{set_id}" / "frames" / name, 3, start=0, padded=False)
        (tmp_path / f"TRAIN_{set_id}" / "anno").mkdir(parents=True)
        (tmp_path / f"TRAIN_{set_id}" / "anno" / f"{name}.txt").write_text("1,1,5,5\nnan,nan,nan,nan\n2,2,5,5\n")
    dataset = TrackingNet(tmp_path)
    assert dataset.get_name() == "trackingnet" and not dataset.has_class_info()
    assert [dataset.get_sequence_name(i) for i in range(len(dataset))] == ["vidA", "vidB"]
    assert dataset.frame_path(1, 0).endswith("TRAIN_2/frames/vidB/0.jpg")
    assert dataset.get_sequence_info(0)["visible"].tolist() == [True, False, True]
    frames, anno, meta = dataset.get_frames(0, [0, 2])
    assert frames[0][0, 0, 0] == pytest.approx(0, abs=2) and frames[1][0, 0, 0] == pytest.approx(20, abs=2)
    assert anno["bbox"][1].tolist() == [2, 2, 5, 5] and meta["object_class_name"] is None
    assert TrackingNet(tmp_path, set_ids=[2]).sequence_list == [(2, "vidB")]


def test_vot_polygon_becomes_bounding_box_and_empty_boxes_are_invisible(tmp_path):
    folder = tmp_path / "seq"
    _frames(folder / "color", 3)
    (folder / "groundtruth.txt").write_text("1,2,10,2,10,8,1,8\n0,0,0,0\nnan,nan,nan,nan\n")
    info = VOTSequences(tmp_path).get_sequence_info(0)
    assert info["bbox"][0].tolist() == [1, 2, 9, 6]
    assert info["visible"].tolist() == [True, False, False]


def test_sequence_info_is_cached_and_returned_as_copies(tmp_path):
    folder = _got10k_sequence(tmp_path, "seq", GOOD_GT)
    dataset = Got10k(tmp_path)
    first = dataset.get_sequence_info(0)
    first["bbox"][0, 0] = 999.0
    (folder / "groundtruth.txt").write_text("garbage\n")
    assert dataset.get_sequence_info(0)["bbox"][0].tolist() == [1, 2, 10, 12]


# -- bad input ---------------------------------------------------------------------------------------------------
def test_bad_boxes_make_frames_invalid_not_errors(tmp_path):
    _got10k_sequence(tmp_path, "seq", ["nan,nan,nan,nan", "1,2,-3,4", "1,2,0,4", "1,2,inf,4"])
    info = Got10k(tmp_path).get_sequence_info(0)
    assert info["valid"].tolist() == [False] * 4 and info["visible"].tolist() == [False] * 4
    assert torch.isnan(info["bbox"][0]).all()


@pytest.mark.parametrize("gt_lines, message", [
    (GOOD_GT[:3], r"groundtruth\.txt: 3 lines but the sequence has 4 frames"),
    (GOOD_GT + ["5,6,10,12"], r"groundtruth\.txt: 5 lines but the sequence has 4 frames"),
    (GOOD_GT[:2] + ["1,2,abc,4", GOOD_GT[3]], r"groundtruth\.txt:3: non-numeric"),
    (GOOD_GT[:1] + ["1,2,3", *GOOD_GT[2:]], r"groundtruth\.txt:2: expected 4 numbers, got 3"),
])
def test_malformed_ground_truth_names_file_and_line(tmp_path, gt_lines, message):
    folder = tmp_path / "seq"
    _frames(folder, 4)
    (folder / "groundtruth.txt").write_text("\n".join(gt_lines) + "\n")
    with pytest.raises(DataError, match=message) as info:
        Got10k(tmp_path).get_sequence_info(0)
    assert str(folder / "groundtruth.txt") in str(info.value)


def test_malformed_label_files_name_file_and_position(tmp_path):
    folder = _got10k_sequence(tmp_path, "seq", GOOD_GT)
    (folder / "cover.label").write_text("8\n8\nx\n8\n")
    with pytest.raises(DataError, match=r"cover\.label:3: expected an integer"):
        Got10k(tmp_path).get_sequence_info(0)
    (folder / "cover.label").write_text("8\n8\n")
    with pytest.raises(DataError, match=r"cover\.label: 2 lines but the sequence has 4 frames"):
        Got10k(tmp_path).get_sequence_info(0)
    lasot = tmp_path / "lasot" / "cat" / "cat-1"
    _frames(lasot / "img", 4)
    (lasot / "groundtruth.txt").write_text("\n".join(GOOD_GT))
    (lasot / "full_occlusion.txt").write_text("0,0,y,0\n")
    (lasot / "out_of_view.txt").write_text("0,0,0,0\n")
    with pytest.raises(DataError, match=r"full_occlusion\.txt:1: value 3: expected an integer"):
        Lasot(tmp_path / "lasot").get_sequence_info(0)


@pytest.mark.parametrize("reader", [Got10k, Lasot, TrackingNet, VOTSequences])
def test_empty_dataset_folder_names_root(tmp_path, reader):
    with pytest.raises(DataError, match="no sequences") as info:
        reader(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_frame_file_raises_file_not_found_naming_it(tmp_path):
    folder = _got10k_sequence(tmp_path, "seq", GOOD_GT)
    dataset = Got10k(tmp_path)
    dataset.get_sequence_info(0)  # indexed while complete
    (folder / "00000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="00000003.jpg"):
        dataset.get_frames(0, [0, 2])
    with pytest.raises(IndexError, match="out of range"):
        dataset.get_frames(0, [4])


def test_corrupt_and_truncated_jpeg_raise_data_error_naming_file(tmp_path):
    folder = _got10k_sequence(tmp_path, "seq", GOOD_GT)
    (folder / "00000002.jpg").write_bytes(b"definitely not a jpeg" * 20)
    with pytest.raises(DataError, match="00000002.jpg"):
        Got10k(tmp_path).get_frames(0, [1])
    data = (folder / "00000001.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated.jpg"):
        read_rgb(truncated)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.jpg"):
        read_rgb(empty)
    with pytest.raises(FileNotFoundError, match="nowhere.jpg"):
        read_rgb(tmp_path / "nowhere.jpg")


# -- image decoding ----------------------------------------------------------------------------------------------
def test_read_rgb_returns_rgb_order(tmp_path):
    rgb = np.zeros((8, 10, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "red.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_rgb(tmp_path / "red.png"), rgb)
    write_jpeg(tmp_path / "red.jpg", rgb, quality=95)
    decoded = read_rgb(tmp_path / "red.jpg")
    assert decoded.shape == (8, 10, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).max() <= 3
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        write_jpeg(tmp_path / "bad.jpg", rgb.astype(np.float32))


@pytest.fixture
def fresh_decoder_choice():
    image_module._jpeg4py_usable.cache_clear()
    yield
    image_module._jpeg4py_usable.cache_clear()


def _fake_jpeg4py(decoded=None, lib_error=False, decode_error=False):
    module = types.ModuleType("jpeg4py")
    module.calls = 0

    class JPEGRuntimeError(RuntimeError):
        pass

    def initialize():
        module.calls += 1
        if lib_error:
            raise OSError("Could not load libjpeg-turbo library")

    module._cffi = types.ModuleType("jpeg4py._cffi")
    module._cffi.initialize = initialize

    class JPEG:
        def __init__(self, source):
            pass

        def decode(self):
            if decode_error:
                raise JPEGRuntimeError("tjDecompress2() failed")
            return decoded

    module.JPEG, module.JPEGRuntimeError = JPEG, JPEGRuntimeError
    return module


def test_jpeg4py_used_when_importable_and_library_loads(tmp_path, monkeypatch, fresh_decoder_choice):
    write_jpeg(tmp_path / "a.jpg", np.zeros((4, 4, 3), dtype=np.uint8))
    marker = np.full((4, 4, 3), 77, dtype=np.uint8)
    fake = _fake_jpeg4py(decoded=marker)
    monkeypatch.setitem(sys.modules, "jpeg4py", fake)
    monkeypatch.setitem(sys.modules, "jpeg4py._cffi", fake._cffi)
    assert read_rgb(tmp_path / "a.jpg") is marker


def test_opencv_used_when_jpeg4py_library_missing_checked_once(tmp_path, monkeypatch, fresh_decoder_choice):
    write_jpeg(tmp_path / "a.jpg", np.full((4, 4, 3), 120, dtype=np.uint8))
    fake = _fake_jpeg4py(lib_error=True)
    monkeypatch.setitem(sys.modules, "jpeg4py", fake)
    monkeypatch.setitem(sys.modules, "jpeg4py._cffi", fake._cffi)
    for _ in range(3):
        assert np.abs(read_rgb(tmp_path / "a.jpg").astype(int) - 120).max() <= 2
    assert fake.calls == 1


def test_opencv_used_when_jpeg4py_not_installed(tmp_path, monkeypatch, fresh_decoder_choice):
    write_jpeg(tmp_path / "a.jpg", np.full((4, 4, 3), 60, dtype=np.uint8))
    monkeypatch.setitem(sys.modules, "jpeg4py", None)  # import raises ImportError
    assert np.abs(read_rgb(tmp_path / "a.jpg").astype(int) - 60).max() <= 2


def test_jpeg4py_decode_failure_is_data_error_naming_file(tmp_path, monkeypatch, fresh_decoder_choice):
    write_jpeg(tmp_path / "a.jpg", np.zeros((4, 4, 3), dtype=np.uint8))
    fake = _fake_jpeg4py(decode_error=True)
    monkeypatch.setitem(sys.modules, "jpeg4py", fake)
    monkeypatch.setitem(sys.modules, "jpeg4py._cffi", fake._cffi)
    with pytest.raises(DataError, match="a.jpg"):
        read_rgb(tmp_path / "a.jpg")
