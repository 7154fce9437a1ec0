"""GOT-10k reader over the raw layout (train or val folder).

Layout: ``root/list.txt`` (one sequence folder a line; without it the sorted sub-folders), and per sequence
``00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h`` a line, pixels, 0-based top-left), ``absence.label`` (0/1 a
line), ``cover.label`` (0..8 a line: visible eighths), ``meta_info.ini`` (``[METAINFO]`` then ``key: value`` lines).
Visible = valid & ~absence & (cover > 0), PyTracking's definition; without the label files, visible = valid.
The test split (one ground-truth line per sequence) is not readable here: its line count does not match the frames.
The official split of each sequence follows from its folder name (``GOT-10k_Train_*``, ``GOT-10k_Val_*``,
``GOT-10k_Test_*``; :func:`slt.data.splits.sequence_split`); training samplers refuse val and test sequences.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slt.data.base import (
    META_KEYS,
    DataError,
    SequenceDataset,
    list_sequence_dirs,
    read_boxes,
    read_int_lines,
    read_split_file,
)

logger = logging.getLogger(__name__)

_INI_TO_META = {
    "object_class": "object_class_name",
    "motion_class": "motion_class",
    "major_class": "major_class",
    "root_class": "root_class",
    "motion_adverb": "motion_adverb",
}


SPLIT_FOLDERS = ("train", "val", "test")


def split_folder(root: Path) -> Path:
    """The GOT-10k split folder for ``root``: ``root`` itself when it holds ``list.txt`` or sequence folders,
    else its one ``train`` / ``val`` / ``test`` sub-folder with a ``list.txt`` (the dataset root as
    ``slt make-data`` and the official download lay it out). DataError naming the choices when there are
    several."""
    if not root.is_dir() or (root / "list.txt").is_file():
        return root
    splits = [name for name in SPLIT_FOLDERS if (root / name / "list.txt").is_file()]
    if not splits or any((entry / "groundtruth.txt").is_file() for entry in root.iterdir() if entry.is_dir()):
        return root
    if len(splits) > 1:
        raise DataError(f"{root} is a GOT-10k root with the splits {', '.join(splits)}: give one of them, e.g. "
                        f"{root / splits[-1]}")
    logger.info("%s is a GOT-10k root: reading its %s folder", root, splits[0])
    return root / splits[0]


class Got10k(SequenceDataset):
    """GOT-10k sequences under ``root`` (the folder holding ``list.txt``, e.g. ``.../got10k/train``).

    Args:
        root: dataset folder: a split folder (``train``, ``val``), or the dataset root holding exactly one split
            folder with a ``list.txt`` (:func:`split_folder`).
        split: None, or the path of a split file listing sequence indices into ``list.txt`` order, one integer a
            line (the format of PyTracking's ``ltr/data_specs/got10k_*_split.txt``).
        seq_ids: indices of the sequences to use; exclusive with ``split``. Default: all.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | os.PathLike | None = None,
        seq_ids: Sequence[int] | None = None,
    ) -> None:
        super().__init__(split_folder(Path(root)))
        names = list_sequence_dirs(self.root)
        if split is not None:
            if seq_ids is not None:
                raise ValueError("Got10k: set split or seq_ids, not both")
            lines = read_split_file(split)
            try:
                seq_ids = [int(line) for line in lines]
            except ValueError as exc:
                raise DataError(f"{split}: expected one sequence index per line") from exc
        if seq_ids is not None:
            bad = [i for i in seq_ids if not 0 <= i < len(names)]
            if bad:
                raise DataError(f"{self.root}: sequence ids {bad[:5]} out of range (0..{len(names) - 1})")
            names = [names[i] for i in seq_ids]
        self.sequence_list = names
        self._meta_cache: dict[int, dict[str, str | None]] = {}

    def get_name(self) -> str:
        return "got10k"

    def has_class_info(self) -> bool:
        return True

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def frame_dir(self, seq_id: int) -> Path:
        return self.root / self.sequence_list[seq_id]

    def frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self.frame_dir(seq_id) / f"{frame_id + 1:08d}.jpg")

    def _read_annotations(self, seq_id: int) -> tuple[np.ndarray, np.ndarray | None]:
        folder = self.frame_dir(seq_id)
        n = self.num_frames(seq_id)
        boxes = read_boxes(folder / "groundtruth.txt", n)
        absence_file, cover_file = folder / "absence.label", folder / "cover.label"
        if not (absence_file.is_file() and cover_file.is_file()):
            logger.debug("%s: no absence.label/cover.label; visible = valid", folder)
            return boxes, None
        absence = read_int_lines(absence_file, n)
        cover = read_int_lines(cover_file, n)
        return boxes, (absence == 0) & (cover > 0)

    def get_class_name(self, seq_id: int) -> str | None:
        return self.get_meta(seq_id)["object_class_name"]

    def get_meta(self, seq_id: int) -> dict[str, str | None]:
        """Meta from ``meta_info.ini`` (parsed once); all None when the file is missing."""
        if seq_id not in self._meta_cache:
            self._meta_cache[seq_id] = _read_meta_info(self.frame_dir(seq_id) / "meta_info.ini")
        return dict(self._meta_cache[seq_id])


def _read_meta_info(path: Path) -> dict[str, str | None]:
    meta: dict[str, str | None] = dict.fromkeys(META_KEYS)
    if not path.is_file():
        logger.debug("%s not found; meta unknown", path)
        return meta
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("["):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise DataError(f"{path}:{lineno}: expected 'key: value', got {line!r}")
        if key.strip() in _INI_TO_META:
            meta[_INI_TO_META[key.strip()]] = value.strip() or None
    return meta
