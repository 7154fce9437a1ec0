"""LaSOT reader over the raw layout.

Layout: ``root/<class>/<class>-<k>/img/00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h`` a line, pixels, 0-based
top-left), ``full_occlusion.txt`` and ``out_of_view.txt`` (ONE line of comma-separated 0/1, one value per frame),
``nlp.txt`` (a sentence, not read). Visible = valid & ~full_occlusion & ~out_of_view; class = the class folder.
The official splits (``split='train'``: 1120 videos, ``'test'``: 280) come from :mod:`slt.data.splits`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slt.data.base import DataError, SequenceDataset, read_boxes, read_int_row, read_split_file
from slt.data.splits import lasot_split_names

OFFICIAL_SPLITS = ("train", "test")


class Lasot(SequenceDataset):
    """LaSOT sequences under ``root`` (the folder holding the class folders).

    Args:
        root: dataset folder.
        vid_ids: keep only the sequences ``<class>-<k>`` with ``k`` in ``vid_ids``, over all classes (sequences that
            do not exist are skipped). Default: every sequence found.
        split: None; ``'train'`` or ``'test'``, LaSOT's official split (:func:`slt.data.splits.lasot_split_names`);
            or the path of a split file listing sequence names ``<class>-<k>``, one a line (the format of
            PyTracking's ``ltr/data_specs/lasot_train_split.txt``); exclusive with ``vid_ids``. Every listed
            sequence must exist under ``root``.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        vid_ids: Sequence[int] | None = None,
        split: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(root)
        found = _find_sequences(self.root)
        if split is not None:
            if vid_ids is not None:
                raise ValueError("Lasot: set split or vid_ids, not both")
            names = lasot_split_names(split) if split in OFFICIAL_SPLITS else read_split_file(split)
            missing = sorted(set(names) - set(found))
            if missing:
                raise DataError(f"LaSOT split {split}: {len(missing)} sequences not found under {self.root}: "
                                f"{missing[:5]}")
        elif vid_ids is not None:
            wanted = {int(v) for v in vid_ids}
            names = [name for name in found if int(name.rsplit("-", 1)[1]) in wanted]
        else:
            names = found
        if not names:
            raise DataError(f"{self.root}: no LaSOT sequences selected")
        self.sequence_list = names

    def get_name(self) -> str:
        return "lasot"

    def has_class_info(self) -> bool:
        return True

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def get_class_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id].rsplit("-", 1)[0]

    def _sequence_dir(self, seq_id: int) -> Path:
        return self.root / self.get_class_name(seq_id) / self.sequence_list[seq_id]

    def frame_dir(self, seq_id: int) -> Path:
        return self._sequence_dir(seq_id) / "img"

    def frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self.frame_dir(seq_id) / f"{frame_id + 1:08d}.jpg")

    def _read_annotations(self, seq_id: int) -> tuple[np.ndarray, np.ndarray]:
        folder = self._sequence_dir(seq_id)
        n = self.num_frames(seq_id)
        boxes = read_boxes(folder / "groundtruth.txt", n)
        occluded = read_int_row(folder / "full_occlusion.txt", n)
        out_of_view = read_int_row(folder / "out_of_view.txt", n)
        return boxes, (occluded == 0) & (out_of_view == 0)


def _find_sequences(root: Path) -> list[str]:
    """Sorted ``<class>-<k>`` folder names under ``root/<class>/`` (by class, then k)."""
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    found: list[tuple[str, int, str]] = []
    for class_dir in root.iterdir():
        if not class_dir.is_dir():
            continue
        pattern = re.compile(re.escape(class_dir.name) + r"-(\d+)")
        for seq_dir in class_dir.iterdir():
            match = pattern.fullmatch(seq_dir.name)
            if match and seq_dir.is_dir():
                found.append((class_dir.name, int(match.group(1)), seq_dir.name))
    if not found:
        raise DataError(f"{root}: no sequences found (expected <class>/<class>-<k>/ folders)")
    return [name for _, _, name in sorted(found)]
