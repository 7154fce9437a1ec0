"""TrackingNet reader over the raw layout.

Layout: ``root/TRAIN_<i>/anno/<seq>.txt`` (``x,y,w,h`` a line, pixels, 0-based top-left) and
``root/TRAIN_<i>/frames/<seq>/<k>.jpg`` with ``k`` 0-based, no zero padding (the test chunk ``TEST`` alike).
Visible = valid (no visibility flags). Official splits (:mod:`slt.data.splits`): train = ``TRAIN_0`` ..
``TRAIN_11``, test = ``TEST`` (its ground truth has frame 0 only, so it is not readable here frame by frame).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from slt.data.base import DataError, SequenceDataset, read_boxes
from slt.data.splits import TRACKINGNET_TEST_CHUNK, TRACKINGNET_TRAIN_CHUNKS


class TrackingNet(SequenceDataset):
    """TrackingNet sequences under ``root`` (the folder holding ``TRAIN_<i>``).

    Args:
        root: dataset folder.
        set_ids: chunks to use: numbers ``i`` of the ``TRAIN_<i>`` folders (0..11) and/or ``'TEST'``. Default: every
            ``TRAIN_<i>`` folder present. ``sequence_list`` holds ``(chunk, name)`` pairs.
    """

    def __init__(self, root: str | os.PathLike, set_ids: Sequence[int | str] | None = None) -> None:
        super().__init__(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found")
        if set_ids is None:
            set_ids = sorted(
                int(m.group(1))
                for entry in self.root.iterdir()
                if entry.is_dir() and (m := re.fullmatch(r"TRAIN_(\d+)", entry.name))
            )
        sequences: list[tuple[int | str, str]] = []
        for set_id in set_ids:
            if set_id != TRACKINGNET_TEST_CHUNK and set_id not in TRACKINGNET_TRAIN_CHUNKS:
                raise ValueError(f"TrackingNet: unknown chunk {set_id!r}; expected 0..11 (TRAIN_<i>) or "
                                 f"{TRACKINGNET_TEST_CHUNK!r}")
            anno_dir = self.root / _chunk_dir(set_id) / "anno"
            if not anno_dir.is_dir():
                raise DataError(f"{anno_dir}: annotation folder not found")
            sequences += [(set_id, p.stem) for p in sorted(anno_dir.glob("*.txt"))]
        if not sequences:
            raise DataError(f"{self.root}: no sequences found (expected TRAIN_<i>/anno/<seq>.txt)")
        self.sequence_list = sequences

    def get_name(self) -> str:
        return "trackingnet"

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id][1]

    def frame_dir(self, seq_id: int) -> Path:
        set_id, name = self.sequence_list[seq_id]
        return self.root / _chunk_dir(set_id) / "frames" / name

    def frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self.frame_dir(seq_id) / f"{frame_id}.jpg")

    def _read_annotations(self, seq_id: int) -> tuple[np.ndarray, None]:
        set_id, name = self.sequence_list[seq_id]
        return read_boxes(self.root / _chunk_dir(set_id) / "anno" / f"{name}.txt", self.num_frames(seq_id)), None


def _chunk_dir(set_id: int | str) -> str:
    return TRACKINGNET_TEST_CHUNK if set_id == TRACKINGNET_TEST_CHUNK else f"TRAIN_{set_id}"
