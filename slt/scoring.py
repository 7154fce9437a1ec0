"""Scores of trackers' result files against a dataset's ground truth: the scorer behind ``slt evaluate``.

One scorer for every host: a *result folder* holds one file per video, boxes ``x,y,w,h`` (pixels, 0-based
top-left) one a line, separated by commas, tabs or spaces, row 0 the initial box. Per video either

* ``<folder>/<video>.txt`` -- PySOT's ``tools/test.py`` for LaSOT/OTB-style datasets
  (``results/<dataset>/<model>/``), PyTracking's ``run_tracker.py`` (``<results_path>/<tracker>/<param>`` or
  ``<param>_<runid>`` with ``--runid``), or
* ``<folder>/<video>/<video>_001.txt`` -- the GOT-10k toolkit's layout, PySOT's ``tools/test.py --dataset GOT-10k``.

Ground truth comes from :mod:`slt.data` (GOT-10k, LaSOT, TrackingNet, VOT layouts); scores are
:func:`slt.metrics.evaluate_ope` under the named protocols of :data:`slt.metrics.PROTOCOLS` (``got10k`` clips boxes
to each video's image, read from its first frame). VOT's reset-based results (``baseline/``) are not one-pass
results: score them with vot-toolkit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slt.data import Got10k, Lasot, TrackingNet, VOTSequences, read_rgb
from slt.data.base import SequenceDataset
from slt.data.errors import DataError
from slt.metrics import PROTOCOLS, evaluate_ope

READERS = {"got10k": Got10k, "lasot": Lasot, "trackingnet": TrackingNet, "vot": VOTSequences}
"""Dataset layout -> :mod:`slt.data` reader of its ground truth."""

COLUMNS = {"lasot": ("auc", "precision", "norm_precision"), "otb": ("auc", "precision", "norm_precision"),
           "got10k": ("ao", "sr50", "sr75"), "pooled": ("auc", "precision", "norm_precision", "ao", "sr50", "sr75")}
"""Scores printed per protocol (percent)."""

_SEPARATORS = re.compile(r"[,\t ]+")


def result_file(folder: Path, video: str) -> Path:
    """The result file of ``video`` in ``folder`` (either layout of the module docstring); DataError naming the
    paths tried when there is none."""
    candidates = [folder / f"{video}.txt", folder / video / f"{video}_001.txt"]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(f"no result for video {video!r}: neither {candidates[0]} nor {candidates[1]} exists")


def read_result_boxes(path: Path, num_frames: int) -> np.ndarray:
    """``(num_frames, 4)`` float64 xywh boxes of a result file; DataError naming the file and line otherwise."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = _SEPARATORS.split(line.strip())
        try:
            values = [float(v) for v in fields]
        except ValueError as error:
            raise DataError(f"{path}:{lineno}: expected 4 numbers (x, y, w, h), got {line!r}") from error
        if len(values) != 4:
            raise DataError(f"{path}:{lineno}: expected 4 numbers (x, y, w, h), got {len(values)}")
        rows.append(values)
    if len(rows) != num_frames:
        raise DataError(f"{path}: {len(rows)} boxes for a video of {num_frames} frames")
    return np.asarray(rows, dtype=np.float64)


def open_dataset(layout: str, root: str | os.PathLike[str]) -> SequenceDataset:
    """The ground truth of ``root`` in ``layout`` (a key of :data:`READERS`)."""
    if layout not in READERS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(READERS)}")
    return READERS[layout](root)


def score_folder(folder: str | os.PathLike[str], dataset: SequenceDataset,
                 protocols: Sequence[str] = ("lasot", "got10k")) -> dict[str, dict[str, Any]]:
    """Scores of the result files in ``folder`` for every video of ``dataset``: ``{protocol: evaluate_ope(...)}``.

    Every video of the dataset needs a result (DataError naming the first missing one)."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"protocols {list(protocols)}; expected some of {list(PROTOCOLS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: result folder not found")
    preds, gts, visibles, sizes = [], [], [], []
    for seq in range(dataset.get_num_sequences()):
        info = dataset.get_sequence_info(seq)
        gt = info["bbox"].numpy().astype(np.float64)
        preds.append(read_result_boxes(result_file(folder, dataset.get_sequence_name(seq)), len(gt)))
        gts.append(gt)
        visibles.append(info["visible"].numpy())
        if "got10k" in protocols:
            height, width = read_rgb(dataset.frame_path(seq, 0)).shape[:2]
            sizes.append((width, height))
    return {protocol: evaluate_ope(preds, gts, visibles, protocol=protocol,
                                   image_sizes=sizes if protocol == "got10k" else None)
            for protocol in protocols}


def format_table(scores: dict[str, dict[str, dict[str, Any]]], protocols: Sequence[str]) -> str:
    """A plain-text table, one row per result folder (``scores``: name -> :func:`score_folder`'s result),
    columns ``<protocol> <score>`` in percent, then the number of videos."""
    headers = [f"{protocol} {column}" for protocol in protocols for column in COLUMNS[protocol]]
    names = list(scores)
    width = max([len("results")] + [len(name) for name in names])
    lines = ["  ".join([f"{'results':<{width}}"] + [f"{h:>{max(len(h), 6)}}" for h in headers] + ["videos"])]
    for name in names:
        cells = [f"{scores[name][p][c]:>{max(len(f'{p} {c}'), 6)}.2f}" for p in protocols for c in COLUMNS[p]]
        videos = scores[name][protocols[0]]["num_videos"]
        lines.append("  ".join([f"{name:<{width}}"] + cells + [f"{videos:>6d}"]))
    return "\n".join(lines)
