"""Dataset protocol shared by all readers, and strict annotation parsing.

The readers follow PyTracking's ``ltr.dataset`` protocol, so one sampler works over our readers and the host's own
dataset classes alike:

* ``get_sequence_info(seq_id)`` -> ``{'bbox': (n, 4) float32, 'valid': (n,) bool, 'visible': (n,) bool}`` (torch),
  boxes xywh, pixels, 0-based top-left;
* ``get_frames(seq_id, frame_ids, anno=None)`` -> ``(frames, anno_frames, meta)`` with HxWx3 uint8 RGB frames.

Box validity: a box is valid when all four numbers are finite and ``w > 0`` and ``h > 0``. NaN, negative or zero-size
boxes in a ground-truth file are not an error: they mark frames where the target has no box (absent), and these
frames come out invalid and invisible.
"""

from __future__ import annotations

import abc
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slt.data.errors import DataError
from slt.data.image import read_rgb

logger = logging.getLogger(__name__)

META_KEYS = ("object_class_name", "motion_class", "major_class", "root_class", "motion_adverb")
"""PyTracking's per-sequence meta keys, in the order ``get_frames`` returns them."""


class SequenceDataset(abc.ABC):
    """Abstract video dataset following PyTracking's ``BaseVideoDataset`` protocol.

    Subclasses set ``self.sequence_list`` (one entry per sequence) and implement :meth:`get_name`,
    :meth:`get_sequence_name`, :meth:`frame_path`, :meth:`frame_dir` and :meth:`_read_annotations`.
    Parsed annotations and frame counts are cached per sequence, so repeated calls read no file twice.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.sequence_list: list[Any] = []
        self._info_cache: dict[int, dict[str, torch.Tensor]] = {}
        self._num_frames_cache: dict[int, int] = {}

    # -- protocol -----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def get_name(self) -> str:
        """Short dataset name, e.g. ``'got10k'``."""

    def is_video_sequence(self) -> bool:
        """Always True: these are video datasets."""
        return True

    def has_class_info(self) -> bool:
        """Whether :meth:`get_class_name` knows object classes."""
        return False

    def get_num_sequences(self) -> int:
        """Number of sequences."""
        return len(self.sequence_list)

    def __len__(self) -> int:
        return self.get_num_sequences()

    @abc.abstractmethod
    def get_sequence_name(self, seq_id: int) -> str:
        """Name of sequence ``seq_id`` (its folder or file stem)."""

    @abc.abstractmethod
    def frame_dir(self, seq_id: int) -> Path:
        """Folder holding the ``.jpg`` frames of sequence ``seq_id``."""

    @abc.abstractmethod
    def frame_path(self, seq_id: int, frame_id: int) -> str:
        """Path of frame ``frame_id`` (0-based) of sequence ``seq_id``."""

    @abc.abstractmethod
    def _read_annotations(self, seq_id: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Parse the sequence's files: ``(boxes (n, 4) float32 xywh, flags (n,) bool or None)``.

        ``flags`` are the dataset's own visibility flags (True = target visible), or None when it has none;
        ``n`` must equal :meth:`num_frames`.
        """

    def get_class_name(self, seq_id: int) -> str | None:
        """Object class of sequence ``seq_id``, or None when unknown."""
        return None

    def get_meta(self, seq_id: int) -> dict[str, str | None]:
        """PyTracking meta dict of sequence ``seq_id``: :data:`META_KEYS`, None where unknown."""
        meta: dict[str, str | None] = dict.fromkeys(META_KEYS)
        meta["object_class_name"] = self.get_class_name(seq_id)
        return meta

    def num_frames(self, seq_id: int) -> int:
        """Number of ``.jpg`` files in :meth:`frame_dir` (listed once, cached)."""
        if seq_id not in self._num_frames_cache:
            folder = self.frame_dir(seq_id)
            if not folder.is_dir():
                raise DataError(f"{folder}: frame folder of sequence {self.get_sequence_name(seq_id)!r} not found")
            with os.scandir(folder) as entries:
                count = sum(1 for e in entries if e.name.lower().endswith(".jpg") and e.is_file())
            self._num_frames_cache[seq_id] = count
        return self._num_frames_cache[seq_id]

    def get_sequence_info(self, seq_id: int) -> dict[str, torch.Tensor]:
        """Annotations of the whole sequence (copies of the cached tensors).

        Returns ``bbox`` (n, 4) float32 xywh, pixels, 0-based top-left (raw values, NaN kept); ``valid`` (n,) bool
        (finite box with w > 0 and h > 0); ``visible`` (n,) bool (valid AND the dataset's visibility flags).
        """
        if seq_id not in self._info_cache:
            boxes, flags = self._read_annotations(seq_id)
            valid = box_valid(boxes)
            visible = valid if flags is None else valid & flags
            self._info_cache[seq_id] = {
                "bbox": torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)),
                "valid": torch.from_numpy(valid),
                "visible": torch.from_numpy(visible),
            }
        return {key: value.clone() for key, value in self._info_cache[seq_id].items()}

    def get_frames(
        self, seq_id: int, frame_ids: Sequence[int], anno: dict[str, torch.Tensor] | None = None
    ) -> tuple[list[np.ndarray], dict[str, list[torch.Tensor]], dict[str, str | None]]:
        """Load frames ``frame_ids`` (0-based) of sequence ``seq_id``.

        Returns ``(frames, anno_frames, meta)``: frames are HxWx3 uint8 RGB arrays; ``anno_frames[key]`` lists
        ``anno[key][f]`` for each requested ``f`` (``bbox`` rows (4,) xywh, ``valid``/``visible`` scalars);
        ``meta`` holds :data:`META_KEYS`. ``anno`` defaults to :meth:`get_sequence_info`.
        Raises IndexError for a frame id outside the sequence, FileNotFoundError for a missing frame file.
        """
        n = self.num_frames(seq_id)
        for f in frame_ids:
            if not 0 <= f < n:
                raise IndexError(f"frame {f} out of range for sequence {self.get_sequence_name(seq_id)!r} ({n} frames)")
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        frames = [read_rgb(self.frame_path(seq_id, f)) for f in frame_ids]
        anno_frames = {key: [value[f, ...].clone() for f in frame_ids] for key, value in anno.items()}
        return frames, anno_frames, self.get_meta(seq_id)


def box_valid(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) xywh -> (n,) bool: all finite and w > 0 and h > 0."""
    boxes = np.asarray(boxes, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def polygon_to_xywh(values: Sequence[float]) -> list[float]:
    """Axis-aligned bounding box ``[x, y, w, h]`` of a polygon ``x1, y1, x2, y2, ...`` (NaN propagates)."""
    xs, ys = values[0::2], values[1::2]
    if any(math.isnan(v) for v in values):
        return [math.nan] * 4
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def read_boxes(path: Path, num_frames: int, allow_polygons: bool = False) -> np.ndarray:
    """Parse a ground-truth file with one box per line -> (num_frames, 4) float32 xywh.

    Values are separated by commas (tabs or spaces also accepted). With ``allow_polygons`` a line of 8 numbers is
    a polygon and becomes its axis-aligned bounding box. NaN, negative and zero sizes are kept (invalid frames).
    Raises DataError "<file>:<line>: ..." for a non-numeric or wrong-arity line, and DataError naming the file and
    both counts when the line count differs from ``num_frames``. Trailing empty lines are ignored.
    """
    arities = (4, 8) if allow_polygons else (4,)
    lines = _read_lines(path)
    boxes = np.empty((len(lines), 4), dtype=np.float32)
    for i, line in enumerate(lines):
        values = _parse_floats(path, i + 1, line)
        if len(values) not in arities:
            expected = " or ".join(str(a) for a in arities)
            raise DataError(f"{path}:{i + 1}: expected {expected} numbers, got {len(values)}: {line!r}")
        boxes[i] = values if len(values) == 4 else polygon_to_xywh(values)
    _check_count(path, len(lines), num_frames, "lines")
    return boxes


def read_int_lines(path: Path, num_frames: int) -> np.ndarray:
    """Parse a label file with one integer per line -> (num_frames,) int64 (GOT-10k ``*.label``, VOT ``*.tag``)."""
    lines = _read_lines(path)
    values = np.array([_parse_int(path, i + 1, line.strip()) for i, line in enumerate(lines)], dtype=np.int64)
    _check_count(path, len(values), num_frames, "lines")
    return values


def read_int_row(path: Path, num_frames: int) -> np.ndarray:
    """Parse a one-line comma-separated list of integers -> (num_frames,) int64 (LaSOT occlusion files)."""
    lines = _read_lines(path)
    if len(lines) != 1:
        raise DataError(f"{path}: expected one line of comma-separated values, got {len(lines)} lines")
    tokens = lines[0].split(",")
    values = np.array([_parse_int(path, 1, t.strip(), k + 1) for k, t in enumerate(tokens)], dtype=np.int64)
    _check_count(path, len(values), num_frames, "values")
    return values


def list_sequence_dirs(root: Path) -> list[str]:
    """Sequence folder names: the lines of ``root/list.txt`` if present, else the sorted sub-folders.

    Raises DataError naming ``root`` when it is missing or holds no sequence.
    """
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    list_file = root / "list.txt"
    if list_file.is_file():
        names = [line.strip() for line in _read_lines(list_file)]
        for i, name in enumerate(names):
            if not name:
                raise DataError(f"{list_file}:{i + 1}: empty sequence name")
    else:
        logger.debug("%s has no list.txt; listing its sub-folders", root)
        names = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if not names:
        raise DataError(f"{root}: no sequences found")
    return names


def read_split_file(path: str | os.PathLike) -> list[str]:
    """Non-empty stripped lines of a split file (e.g. PyTracking's ``ltr/data_specs/*_split.txt``)."""
    return [line.strip() for line in _read_lines(Path(path)) if line.strip()]


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _parse_floats(path: Path, lineno: int, line: str) -> list[float]:
    tokens = line.replace(",", " ").split()
    try:
        return [float(t) for t in tokens]
    except ValueError as exc:
        raise DataError(f"{path}:{lineno}: non-numeric value in {line!r}") from exc


def _parse_int(path: Path, lineno: int, token: str, position: int | None = None) -> int:
    try:
        return int(token)
    except ValueError as exc:
        where = f"{path}:{lineno}" if position is None else f"{path}:{lineno}: value {position}"
        raise DataError(f"{where}: expected an integer, got {token!r}") from exc


def _check_count(path: Path, count: int, num_frames: int, unit: str) -> None:
    if count != num_frames:
        raise DataError(f"{path}: {count} {unit} but the sequence has {num_frames} frames")
