"""VOT short-term sequences over the raw vot-toolkit layout.

Layout: ``root/list.txt`` (one sequence a line; without it the sorted sub-folders), ``root/<name>/groundtruth.txt``
(``x,y,w,h`` a line, pixels, 0-based top-left; a line of 8 numbers is a polygon and becomes its axis-aligned
bounding box) and frames ``root/<name>/color/00000001.jpg ...``. VOT has no visibility flags: visible = valid, so
a line of NaN (vot-toolkit: unknown) or of zero size such as ``0,0,0,0`` (vot-toolkit: empty, target absent) makes
that frame invisible. Tag and value files (``*.tag``, ``*.value``) are not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from slt.data.base import SequenceDataset, list_sequence_dirs, read_boxes


class VOTSequences(SequenceDataset):
    """VOT sequences under ``root`` (the vot-toolkit ``sequences`` folder)."""

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__(root)
        self.sequence_list = list_sequence_dirs(self.root)

    def get_name(self) -> str:
        return "vot"

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def frame_dir(self, seq_id: int) -> Path:
        return self.root / self.sequence_list[seq_id] / "color"

    def frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self.frame_dir(seq_id) / f"{frame_id + 1:08d}.jpg")

    def _read_annotations(self, seq_id: int) -> tuple[np.ndarray, None]:
        path = self.root / self.sequence_list[seq_id] / "groundtruth.txt"
        return read_boxes(path, self.num_frames(seq_id), allow_polygons=True), None
