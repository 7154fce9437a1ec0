"""COCO-style image datasets and the YouTube-VOS reader, on small files the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from slt.data import CocoImages, DataError, YouTubeVOS, write_jpeg
from slt.data.coco import decode_segmentation
from slt.sampling import SequenceSampler, SpatialSequenceAugment


def _image(height=40, width=50, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3)).astype(np.uint8)


@pytest.fixture
def coco(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_jpeg(images / "a.jpg", _image())
    write_jpeg(images / "b.jpg", _image(30, 20, 1))
    content = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 50, "height": 40},
                   {"id": 2, "file_name": "b.jpg", "width": 20, "height": 30}],
        "categories": [{"id": 7, "name": "cat"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0,
             "segmentation": [[10, 5, 29, 5, 29, 14, 10, 14]]},
            {"id": 11, "image_id": 2, "category_id": 7, "bbox": [2, 3, 4, 2], "iscrowd": 0,
             "segmentation": {"size": [30, 20], "counts": [2 * 30 + 3, 2, 28, 2, 28, 2, 28, 2, 445]}},
            {"id": 12, "image_id": 1, "category_id": 7, "bbox": [0, 0, 50, 40], "iscrowd": 1},
            {"id": 13, "image_id": 1, "category_id": 7, "bbox": [0, 0, 0, 4], "iscrowd": 0},
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(content))
    return CocoImages(path, images)


def test_coco_instances_are_one_frame_sequences_with_masks(coco):
    assert coco.get_num_sequences() == 2 and not coco.is_video_sequence()  # crowd and empty box dropped
    info = coco.get_sequence_info(0)
    assert info["bbox"].tolist() == [[10.0, 5.0, 20.0, 10.0]] and info["visible"].tolist() == [True]
    frames, annos, meta = coco.get_frames(0, [0, 0], info)
    assert len(frames) == 2 and frames[0].shape == (40, 50, 3) and meta["object_class_name"] == "cat"
    mask = annos["mask"][0].numpy()
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 29, 5, 14) and mask.sum() == 20 * 10
    # uncompressed RLE runs down columns: columns 2..5, rows 3..4
    rle = coco.get_frames(1, [0])[1]["mask"][0].numpy()
    ys, xs = np.nonzero(rle)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (2, 5, 3, 4) and rle.sum() == 8


def test_coco_errors_name_the_file_and_annotation(tmp_path, coco):
    with pytest.raises(DataError, match="annotation 5: RLE runs cover 3 pixels"):
        decode_segmentation({"size": [2, 2], "counts": [1, 2]}, 2, 2, "x.json: annotation 5")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [], "annotations": [{"id": 3, "image_id": 9, "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(DataError, match="bad.json: annotation 3 names image 9"):
        CocoImages(bad, tmp_path)
    with pytest.raises(IndexError, match="one image"):
        coco.get_frames(0, [1])


def test_sampler_turns_coco_images_into_augmented_clips_with_masks(coco):
    sampler = SequenceSampler([coco], num_frames=3, seed=0, spatial_augment=SpatialSequenceAugment())
    sample = sampler[0]
    assert sample["search_images"].shape[0] == 3 and sample["search_masks"].shape[0] == 3
    assert len({tuple(b) for b in sample["search_annos"].tolist()}) == 3
    assert sample["search_masks"].dtype == np.uint8 and set(np.unique(sample["search_masks"])) <= {0, 1}
    for t in range(3):  # each augmented mask moved with its box (the polygon masks fill their boxes)
        ys, xs = np.nonzero(sample["search_masks"][t])
        x, y, w, h = sample["search_annos"][t]
        assert abs(xs.min() - x) <= 1.5 and abs(xs.max() + 1 - (x + w)) <= 1.5
        assert abs(ys.min() - y) <= 1.5 and abs(ys.max() + 1 - (y + h)) <= 1.5


def test_coco_instances_without_segmentation_give_no_mask(tmp_path, coco):
    content = json.loads(coco.annotation_file.read_text())
    del content["annotations"][0]["segmentation"]
    path = tmp_path / "boxes_only.json"
    path.write_text(json.dumps(content))
    boxes_only = CocoImages(path, coco.image_dir)
    assert "mask" not in boxes_only.get_frames(0, [0])[1]
    assert "mask" in boxes_only.get_frames(1, [0])[1]
    sample = SequenceSampler([boxes_only], p_datasets=None, num_frames=2, seed=0)
    kinds = {(s["sequence"], "search_masks" in s) for s in (sample[k] for k in range(8))}
    assert kinds == {("annotation10", False), ("annotation11", True)}


def _palette_png(path, ids):
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.save(path)


@pytest.fixture
def vos(tmp_path):
    root = tmp_path / "train"
    (root / "JPEGImages" / "v1").mkdir(parents=True)
    (root / "Annotations" / "v1").mkdir(parents=True)
    frames = ["00000", "00005", "00010"]
    for t, name in enumerate(frames):
        write_jpeg(root / "JPEGImages" / "v1" / f"{name}.jpg", _image(seed=t))
        ids = np.zeros((40, 50), np.uint8)
        ids[5 + t:15 + t, 10:20] = 1
        if t != 2:  # object 2 leaves on the last frame
            ids[30:35, 40:48] = 2
        _palette_png(root / "Annotations" / "v1" / f"{name}.png", ids)
    meta = {"videos": {"v1": {"objects": {"1": {"category": "dog", "frames": frames},
                                          "2": {"category": "ball", "frames": frames}}}}}
    (root / "meta.json").write_text(json.dumps(meta))
    return YouTubeVOS(root)


def test_youtube_vos_sequences_are_objects_with_boxes_from_masks(vos):
    assert vos.get_num_sequences() == 2 and vos.get_sequence_name(1) == "v1_2"
    info = vos.get_sequence_info(0)
    assert info["bbox"].tolist() == [[10.0, 5.0 + t, 10.0, 10.0] for t in range(3)]
    assert vos.get_sequence_info(1)["visible"].tolist() == [True, True, False]
    frames, annos, meta = vos.get_frames(0, [2, 0])
    assert frames[0].shape == (40, 50, 3) and meta["object_class_name"] == "dog"
    assert annos["mask"][0].sum() == 100 and annos["mask"][0][7, 10] == 1 and annos["mask"][1][5, 10] == 1
    assert annos["bbox"][0].tolist() == [10.0, 7.0, 10.0, 10.0]


def test_youtube_vos_errors_name_the_file(tmp_path, vos):
    with pytest.raises(DataError, match="meta.json: YouTube-VOS meta file not found"):
        YouTubeVOS(tmp_path)
    (vos.root / "Annotations" / "v1" / "00005.png").unlink()
    fresh = YouTubeVOS(vos.root)
    with pytest.raises(DataError, match="00005.png: annotation file not found"):
        fresh.get_sequence_info(0)


def test_sampler_passes_youtube_vos_masks_on(vos):
    sample = SequenceSampler([vos], num_frames=2, seed=0, min_visible=0, max_gap=-1,
                             frame_sample_mode="sequential")[0]
    assert sample["search_masks"].shape == (2, 40, 50)
    for t in range(2):
        ys, xs = np.nonzero(sample["search_masks"][t])
        assert sample["search_annos"][t].tolist() == [xs.min(), ys.min(), xs.max() + 1 - xs.min(),
                                                      ys.max() + 1 - ys.min()]


def test_pysot_cfg_builds_coco_and_youtube_vos_clips_with_spatial_augmentation(coco, vos, tmp_path):
    """slt_pysot's SLT.DATASET.COCO / YTBVOS nodes and SLT.SPATIAL_AUG reach the sampler."""
    yacs_config = pytest.importorskip("yacs.config", reason="yacs is missing: pip install yacs")
    from slt_pysot.config import register_slt_cfg
    from slt_pysot.dataset import build_sampler

    cfg = yacs_config.CfgNode()
    for name in ("TRAIN", "ADJUST", "RPN"):
        setattr(cfg, name, yacs_config.CfgNode())
    cfg.DATASET = yacs_config.CfgNode(new_allowed=True)
    register_slt_cfg(cfg)
    cfg.TRAIN.NUM_FRAMES, cfg.TRAIN.TEMPLATE_GAP = 4, -1
    cfg.SLT.DATASET.NAMES = ["COCO", "YTBVOS"]
    cfg.SLT.DATASET.COCO.ROOT, cfg.SLT.DATASET.COCO.ANNOTATION = str(coco.image_dir), str(coco.annotation_file)
    cfg.SLT.DATASET.YTBVOS.ROOT = str(vos.root)
    cfg.SLT.DATASET.MIN_VISIBLE = 0
    cfg.SLT.SPATIAL_AUG.ENABLED = True
    sampler = build_sampler(cfg, samples=6, seed=0)
    assert sampler.spatial_augment is not None and sampler.min_visible == 0
    names = set()
    for index in range(6):
        sample = sampler[index]
        names.add(sample["dataset"])
        assert sample["search_masks"].shape[0] == 4 and sample["search_annos"].shape == (4, 4)
        assert len({tuple(b) for b in sample["search_annos"].tolist()}) >= 2  # augmented continuation
    assert names == {"coco", "youtube_vos"}
    cfg.SLT.DATASET.COCO.ANNOTATION = ""
    with pytest.raises(ValueError, match="SLT.DATASET.COCO.ANNOTATION is empty"):
        build_sampler(cfg, samples=1, seed=0)
