"""YouTube-VOS reader (masks): one sequence per (video, object), boxes from its masks.

Layout (the train split): ``root/meta.json`` (``{"videos": {video: {"objects": {object id: {"category": ...,
"frames": [frame name, ...]}}}}}``), ``root/JPEGImages/<video>/<frame>.jpg`` and
``root/Annotations/<video>/<frame>.png`` (palette PNGs whose pixel values are object ids). A sequence's frames
are the annotated frames its object lists; box ``xywh`` pixels, 0-based top-left, is the mask's bounding box
(``x1, y1, x2 + 1 - x1, y2 + 1 - y1``); a frame where the object has no pixel is invalid and invisible.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slt.data.base import META_KEYS, box_valid
from slt.data.errors import DataError

logger = logging.getLogger(__name__)


def read_palette_png(path: Path) -> np.ndarray:
    """(H, W) uint8 palette indices of an annotation PNG; DataError naming ``path`` if missing or not indexed."""
    from PIL import Image

    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise DataError(f"{path}: expected a palette (P) or greyscale PNG of object ids, got mode {image.mode}")
        return np.array(image)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """(H, W) 0/1 -> (4,) float32 xywh bounding box; NaN when the mask is empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return np.full(4, np.nan, np.float32)
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], np.float32)


class YouTubeVOS:
    """(video, object) sequences of a YouTube-VOS split folder (``root`` holds ``meta.json``).

    Args:
        root: split folder, e.g. ``.../youtube_vos/train``.
        videos: names of the videos to use (default all in ``meta.json``).
        name: what :meth:`get_name` returns.
    """

    def __init__(self, root: str | os.PathLike, videos: Sequence[str] | None = None,
                 name: str = "youtube_vos") -> None:
        self.root = Path(root)
        self.name = name
        meta_file = self.root / "meta.json"
        if not meta_file.is_file():
            raise DataError(f"{meta_file}: YouTube-VOS meta file not found")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))["videos"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise DataError(f"{meta_file}: expected JSON with a 'videos' mapping ({exc})") from exc
        chosen = sorted(meta) if videos is None else list(videos)
        self.sequence_list: list[dict[str, Any]] = []
        for video in chosen:
            if video not in meta:
                raise DataError(f"{meta_file}: no video {video!r}")
            for obj_id, obj in sorted(meta[video].get("objects", {}).items(), key=lambda kv: int(kv[0])):
                frames = list(obj.get("frames", []))
                if not frames:
                    raise DataError(f"{meta_file}: video {video!r} object {obj_id} lists no frames")
                self.sequence_list.append({"video": video, "object": int(obj_id), "frames": frames,
                                           "category": obj.get("category")})
        self._info_cache: dict[int, dict[str, torch.Tensor]] = {}

    def get_name(self) -> str:
        return self.name

    def is_video_sequence(self) -> bool:
        return True

    def has_class_info(self) -> bool:
        return True

    def get_num_sequences(self) -> int:
        return len(self.sequence_list)

    def __len__(self) -> int:
        return self.get_num_sequences()

    def get_sequence_name(self, seq_id: int) -> str:
        seq = self.sequence_list[seq_id]
        return f"{seq['video']}_{seq['object']}"

    def get_class_name(self, seq_id: int) -> str | None:
        return self.sequence_list[seq_id]["category"]

    def _annotation(self, seq_id: int, frame: str) -> Path:
        return self.root / "Annotations" / self.sequence_list[seq_id]["video"] / f"{frame}.png"

    def object_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        """(H, W) float32 0/1 mask of the sequence's object on its ``frame_id``-th listed frame."""
        seq = self.sequence_list[seq_id]
        ids = read_palette_png(self._annotation(seq_id, seq["frames"][frame_id]))
        return (ids == seq["object"]).astype(np.float32)

    def get_sequence_info(self, seq_id: int) -> dict[str, torch.Tensor]:
        """``bbox`` (n, 4) float32 xywh from the masks, ``valid`` = ``visible`` (n,) bool (non-empty mask).
        Reads every annotation PNG of the sequence once (cached)."""
        if seq_id not in self._info_cache:
            count = len(self.sequence_list[seq_id]["frames"])
            boxes = np.stack([mask_box(self.object_mask(seq_id, f)) for f in range(count)])
            valid = box_valid(boxes)
            self._info_cache[seq_id] = {"bbox": torch.from_numpy(boxes), "valid": torch.from_numpy(valid),
                                        "visible": torch.from_numpy(valid.copy())}
        return {key: value.clone() for key, value in self._info_cache[seq_id].items()}

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: dict[str, torch.Tensor] | None = None
                   ) -> tuple[list[np.ndarray], dict[str, list[torch.Tensor]], dict[str, str | None]]:
        """Frames (HxWx3 uint8 RGB) ``frame_ids`` (indices into the listed frames), their annotations and
        ``anno_frames['mask']`` (H, W) float32 0/1 masks."""
        from slt.data.image import read_rgb

        seq = self.sequence_list[seq_id]
        for f in frame_ids:
            if not 0 <= f < len(seq["frames"]):
                raise IndexError(f"frame {f} out of range for sequence {self.get_sequence_name(seq_id)!r} "
                                 f"({len(seq['frames'])} frames)")
        anno = self.get_sequence_info(seq_id) if anno is None else anno
        frames = [read_rgb(self.root / "JPEGImages" / seq["video"] / f"{seq['frames'][f]}.jpg") for f in frame_ids]
        anno_frames = {key: [value[f, ...].clone() for f in frame_ids] for key, value in anno.items()}
        masks = [torch.from_numpy(self.object_mask(seq_id, f)) for f in frame_ids]
        for f, frame, mask in zip(frame_ids, frames, masks):
            if tuple(mask.shape) != frame.shape[:2]:
                raise DataError(f"{self._annotation(seq_id, seq['frames'][f])}: mask {tuple(mask.shape)} and frame "
                                f"{frame.shape[:2]} differ in size")
        anno_frames["mask"] = masks
        meta: dict[str, str | None] = dict.fromkeys(META_KEYS)
        meta["object_class_name"] = self.get_class_name(seq_id)
        return frames, anno_frames, meta
