"""Convert raw LaSOT or GOT-10k folders (e.g. ``slt make-data`` output) into PySOT toolkit test sets.

PySOT's ``tools/test.py --dataset NAME`` reads ``<pysot>/testing_dataset/NAME/NAME.json`` through
``toolkit.datasets`` (``LaSOTDataset`` for ``LaSOT``, ``GOT10kDataset`` for ``GOT-10k``): one entry per video
with ``video_dir``, ``init_rect``, ``img_names``, ``gt_rect`` (xywh pixels, 0-based top-left, one per frame),
``attr`` and, for LaSOT, ``absent``. Image paths are written absolute because ``toolkit.datasets.video.Video``
joins them with ``os.path.abspath`` (relative names would resolve against the working directory, not the
dataset folder). PySOT's OPE benchmark scores only frames whose ``absent`` entry is 1, i.e. the flag means
*present*: it is written as the reader's ``visible`` flag.

Usage: ``python -m slt_pysot.testdata --src DIR --layout lasot --name LaSOT --out <pysot>/testing_dataset/LaSOT``
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from slt.data import Got10k, Lasot

logger = logging.getLogger(__name__)

READERS = {"lasot": Lasot, "got10k": Got10k}
NAMES = ("LaSOT", "GOT-10k")
"""Toolkit dataset names whose ``<name>.json`` format this module writes."""


def _box(values: Sequence[float]) -> list[float]:
    """One xywh box as JSON-safe floats (NaN, for frames without a box, becomes 0, 0, 0, 0)."""
    if any(math.isnan(v) for v in values):
        return [0.0, 0.0, 0.0, 0.0]
    return [round(float(v), 4) for v in values]


def toolkit_entries(src: str | Path, layout: str) -> dict[str, dict[str, Any]]:
    """The ``<name>.json`` content for every sequence under ``src`` (``layout``: ``'lasot'`` or ``'got10k'``)."""
    if layout not in READERS:
        raise ValueError(f"layout must be one of {sorted(READERS)}, got {layout!r}")
    dataset = READERS[layout](src)
    entries = {}
    for seq_id in range(dataset.get_num_sequences()):
        name = dataset.get_sequence_name(seq_id)
        info = dataset.get_sequence_info(seq_id)
        boxes = [_box(box) for box in info["bbox"].tolist()]
        frames = [str(Path(dataset.frame_path(seq_id, f)).resolve()) for f in range(dataset.num_frames(seq_id))]
        entries[name] = {
            "video_dir": name,
            "init_rect": boxes[0],
            "img_names": frames,
            "gt_rect": boxes,
            "attr": [],
            "absent": [int(v) for v in info["visible"].tolist()],
        }
    return entries


def write_toolkit_json(src: str | Path, layout: str, name: str, out: str | Path) -> Path:
    """Write ``out/<name>.json`` for the sequences under ``src``; returns its path."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES} (the toolkit dataset to imitate), got {name!r}")
    entries = toolkit_entries(src, layout)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(entries, indent=1) + "\n")
    logger.info("wrote %d videos to %s", len(entries), path)
    return path


def result_name(config: str | Path, snapshot: str | Path, dataset: str, results: str | Path = "results") -> str:
    """The folder name under ``results/<dataset>/`` where ``tools/test.py`` (patched by ``slt patch-host pysot``)
    writes: ``<experiment>_<snapshot stem>``, the experiment being the config's folder for PySOT's
    ``experiments/<name>/config.yaml`` and the config's stem otherwise (e.g. ``slt_siamrpnpp_checkpoint_e20``),
    so two experiments' ``checkpoint_e20.pth`` do not share a folder. Warns when the folder already holds
    results: ``tools/test.py`` overwrites them."""
    config = Path(config)
    experiment = config.resolve().parent.name if config.name == "config.yaml" else config.stem
    name = f"{experiment}_{Path(snapshot).stem}"
    folder = Path(results) / dataset / name
    if folder.is_dir() and any(folder.iterdir()):
        logger.warning("%s already holds results of %s; tools/test.py overwrites them (move the folder to keep "
                       "them)", folder, name)
    return name


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m slt_pysot.testdata``: write the JSON, print its path; returns the exit status (0)."""
    parser = argparse.ArgumentParser(prog="python -m slt_pysot.testdata", description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, required=True,
                        help="raw dataset folder: the LaSOT root (its class folders), or the GOT-10k root or one of "
                             "its split folders")
    parser.add_argument("--layout", choices=sorted(READERS), required=True)
    parser.add_argument("--name", choices=NAMES, default="LaSOT", help="toolkit dataset name (default LaSOT)")
    parser.add_argument("--out", type=Path, required=True, help="folder for <name>.json, normally "
                                                                "<pysot>/testing_dataset/<name>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    sys.stdout.write(f"{write_toolkit_json(args.src, args.layout, args.name, args.out)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
