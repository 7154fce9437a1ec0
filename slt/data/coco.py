"""COCO-style image datasets (COCO instances JSON) as one-frame sequences, with instance masks.

Layout: an ``instances_*.json`` (``images``: ``id``, ``file_name``, ``width``, ``height``; ``annotations``: ``id``,
``image_id``, ``bbox`` ``[x, y, w, h]`` pixels 0-based top-left, ``iscrowd``, ``area``, optional
``segmentation``: polygons ``[[x1, y1, x2, y2, ...], ...]`` or uncompressed RLE ``{"size": [h, w], "counts":
[...]}``; compressed RLE strings need pycocotools) and an image folder. Each kept annotation is one sequence of
one frame (``is_video_sequence() == False``), as PyTracking's ``MSCOCOSeq``; SLT-SiamAttn turns them into clips
with :class:`slt.sampling.SpatialSequenceAugment`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from slt.data.base import META_KEYS
from slt.data.errors import DataError

logger = logging.getLogger(__name__)


class CocoImages:
    """Object instances of a COCO-style annotation file, one one-frame sequence each.

    Args:
        annotation_file: the instances JSON.
        image_dir: folder the images' ``file_name`` are relative to.
        name: what :meth:`get_name` returns.
        min_area: instances with a smaller box area (pixels) are dropped; ``iscrowd`` instances always are.
        masks: decode ``segmentation`` into ``anno['mask']`` (H, W) float32 0/1 in :meth:`get_frames` (an
            instance without ``segmentation`` gives no mask, so SLT-SiamAttn's mask loss skips it).
    """

    def __init__(self, annotation_file: str | os.PathLike, image_dir: str | os.PathLike, name: str = "coco",
                 min_area: float = 1.0, masks: bool = True) -> None:
        self.annotation_file = Path(annotation_file)
        self.image_dir = Path(image_dir)
        self.name = name
        self.masks = masks
        if not self.annotation_file.is_file():
            raise DataError(f"{self.annotation_file}: annotation file not found")
        try:
            content = json.loads(self.annotation_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{self.annotation_file}: not valid JSON ({exc})") from exc
        for key in ("images", "annotations"):
            if key not in content:
                raise DataError(f"{self.annotation_file}: no {key!r} list")
        self.images = {int(img["id"]): img for img in content["images"]}
        self.categories = {int(c["id"]): c.get("name") for c in content.get("categories", [])}
        self.sequence_list: list[dict[str, Any]] = []
        for ann in content["annotations"]:
            if "bbox" not in ann or len(ann["bbox"]) != 4:
                raise DataError(f"{self.annotation_file}: annotation {ann.get('id')} has no [x, y, w, h] bbox")
            if int(ann["image_id"]) not in self.images:
                raise DataError(f"{self.annotation_file}: annotation {ann.get('id')} names image "
                                f"{ann['image_id']}, which the 'images' list lacks")
            w, h = float(ann["bbox"][2]), float(ann["bbox"][3])
            if ann.get("iscrowd", 0) or w * h < min_area or w <= 0 or h <= 0:
                continue
            self.sequence_list.append(ann)

    def get_name(self) -> str:
        return self.name

    def is_video_sequence(self) -> bool:
        """False: every sequence is one still image."""
        return False

    def has_class_info(self) -> bool:
        return bool(self.categories)

    def get_num_sequences(self) -> int:
        return len(self.sequence_list)

    def __len__(self) -> int:
        return self.get_num_sequences()

    def get_sequence_name(self, seq_id: int) -> str:
        return f"annotation{self.sequence_list[seq_id]['id']}"

    def get_class_name(self, seq_id: int) -> str | None:
        return self.categories.get(int(self.sequence_list[seq_id].get("category_id", -1)))

    def get_sequence_info(self, seq_id: int) -> dict[str, torch.Tensor]:
        """``bbox`` (1, 4) float32 xywh pixels, ``valid`` and ``visible`` (1,) bool (True)."""
        box = torch.tensor([self.sequence_list[seq_id]["bbox"]], dtype=torch.float32)
        ones = torch.ones(1, dtype=torch.bool)
        return {"bbox": box, "valid": ones, "visible": ones.clone()}

    def mask(self, seq_id: int) -> np.ndarray:
        """(H, W) float32 0/1 instance mask of sequence ``seq_id`` (zeros when it has no segmentation)."""
        ann = self.sequence_list[seq_id]
        img = self.images[int(ann["image_id"])]
        height, width = int(img["height"]), int(img["width"])
        return decode_segmentation(ann.get("segmentation"), height, width,
                                   f"{self.annotation_file}: annotation {ann.get('id')}")

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: dict[str, torch.Tensor] | None = None
                   ) -> tuple[list[np.ndarray], dict[str, list[torch.Tensor]], dict[str, str | None]]:
        """The image (HxWx3 uint8 RGB) once per requested id (all must be 0), its annotation, and its mask in
        ``anno_frames['mask']`` when ``masks`` and the instance has a segmentation."""
        from slt.data.image import read_rgb

        if any(f != 0 for f in frame_ids):
            raise IndexError(f"{self.get_sequence_name(seq_id)} is one image: frame ids must be 0, got {frame_ids}")
        ann = self.sequence_list[seq_id]
        image = read_rgb(self.image_dir / self.images[int(ann["image_id"])]["file_name"])
        anno = self.get_sequence_info(seq_id) if anno is None else anno
        anno_frames = {key: [value[0, ...].clone() for _ in frame_ids] for key, value in anno.items()}
        if self.masks and ann.get("segmentation"):
            mask = torch.from_numpy(self.mask(seq_id))
            if tuple(mask.shape) != image.shape[:2]:
                raise DataError(f"{self.annotation_file}: annotation {ann.get('id')}: image size "
                                f"{image.shape[:2]} differs from the listed {tuple(mask.shape)}")
            anno_frames["mask"] = [mask for _ in frame_ids]
        meta: dict[str, str | None] = dict.fromkeys(META_KEYS)
        meta["object_class_name"] = self.get_class_name(seq_id)
        return [image for _ in frame_ids], anno_frames, meta


def decode_segmentation(segmentation: Any, height: int, width: int, where: str) -> np.ndarray:
    """COCO ``segmentation`` -> (height, width) float32 0/1. ``where`` names the annotation in errors."""
    mask = np.zeros((height, width), np.uint8)
    if not segmentation:
        return mask.astype(np.float32)
    if isinstance(segmentation, list):
        for polygon in segmentation:
            points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
            if len(points) < 3:
                raise DataError(f"{where}: a polygon needs at least 3 points, got {len(points)}")
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        return mask.astype(np.float32)
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle_h, rle_w = (int(v) for v in segmentation["size"])
        if (rle_h, rle_w) != (height, width):
            raise DataError(f"{where}: RLE size {rle_h}x{rle_w} differs from the image's {height}x{width}")
        flat = np.zeros(height * width, np.uint8)
        position, value = 0, 0
        for run in segmentation["counts"]:
            flat[position:position + int(run)] = value
            position, value = position + int(run), 1 - value
        if position != height * width:
            raise DataError(f"{where}: RLE runs cover {position} pixels, the image has {height * width}")
        return flat.reshape(width, height).T.astype(np.float32)  # COCO RLE runs down columns
    if isinstance(segmentation, dict):
        try:
            from pycocotools import mask as coco_mask
        except ImportError as exc:
            raise DataError(f"{where}: compressed RLE needs pycocotools, which is not installed") from exc
        return coco_mask.decode(segmentation).astype(np.float32)
    raise DataError(f"{where}: unknown segmentation format {type(segmentation).__name__}")
