"""``slt vot-workspace``: a VOT-toolkit workspace for SLT-trained trackers that runs offline.

Files written under ``out``:

* ``config.yaml``: ``stack: ./stack.yaml``, ``registry: [./trackers.ini]``, ``sequences`` (the VOT folder given,
  absolute, or ``./sequences``).
* ``stack.yaml``: three short-term experiments sized for the sequences (:func:`stack_for`), with no ``dataset``
  URL, so the toolkit never downloads.
* ``trackers.ini``: one section per tracker: ``protocol = traxpython``, ``command = slt.vot``, the interpreter,
  ``env_SLT_*`` keys (:mod:`slt.vot.trackers`), ``paths`` = the host checkout of an adapter's tracker kind (the
  kind's host, from :mod:`slt.hosts`), ``timeout``.
* ``sequences/``: a GOT-10k or LaSOT dataset converted to the VOT layout (frame folders linked, not copied;
  ``groundtruth.txt`` with ``0,0,0,0`` on frames without a valid box, ``absent.tag``, ``anchor.value`` from
  :func:`slt.data.synthetic.vot_anchors`, the one anchor picker). A VOT
  folder is used in place.

Results of earlier runs under ``out/results`` are kept: ``vot evaluate`` skips what exists, so delete them
when a tracker's weights change.
"""

from __future__ import annotations

import configparser
import logging
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from slt import hosts
from slt.data.base import SequenceDataset
from slt.data.got10k import Got10k
from slt.data.lasot import Lasot
from slt.data.synthetic import vot_anchors
from slt.data.vot import VOTSequences
from slt.vot.trackers import TrackerSpec

logger = logging.getLogger(__name__)

LAYOUTS = ("vot", "got10k", "lasot")

SKIP_TAGS = ("absent", "out-of-view")
"""Frame tags the supervised experiment does not re-initialise on: ``absent`` (written by :func:`convert_to_vot`)
and ``out-of-view`` (written by ``slt make-data --layout vot``)."""

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # vot-toolkit's tracker identifier rule
_EXPERIMENTS = "slt.vot.experiments"


def parse_tracker(text: str, device: str = "cpu") -> tuple[str, TrackerSpec]:
    """``NAME=KIND[:WEIGHTS[:CONFIG]]`` -> ``(NAME, spec)``; NAME as vot-toolkit allows (letters, digits, ``-_``)."""
    name, sep, rest = text.partition("=")
    if not sep or not _NAME.match(name):
        raise ValueError(f"--tracker {text!r}: expected NAME=KIND[:WEIGHTS[:CONFIG]], NAME of letters, digits, - or _")
    return name, TrackerSpec.parse(rest, device)


def parse_host_root(text: str) -> tuple[str, Path]:
    """``KIND=PATH`` -> ``(KIND, PATH)``; KIND must be a registered host kind (:func:`slt.hosts.host_kinds`)."""
    kind, sep, root = text.partition("=")
    if not sep or not root:
        raise ValueError(f"--host-root {text!r}: expected KIND=PATH")
    return hosts.host_kind(kind).name, Path(root).expanduser()


def write_workspace(
    out: Path,
    sequences: Path,
    trackers: Mapping[str, TrackerSpec],
    layout: str = "vot",
    host_roots: Mapping[str, Path] | None = None,
    python: str = sys.executable,
    timeout: int = 30,
) -> Path:
    """Write the workspace ``out`` for ``trackers`` over the ``layout`` dataset at ``sequences``; returns ``out``.

    ``host_roots`` maps host kinds (``slt.hosts``) to the checkout that trackers of an adapter kind with that host
    import; ``python`` is the interpreter of the tracker processes (slt and vot-trax installed, plus the host's
    dependencies); ``timeout`` (seconds) bounds the tracker's start-up and each reply. Raises ValueError for a
    missing weights, config or host root, an unknown host kind, or an unknown layout.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (expected one of {', '.join(LAYOUTS)})")
    if not trackers:
        raise ValueError("no tracker given")
    host_roots = {hosts.host_kind(kind).name: Path(root).resolve() for kind, root in (host_roots or {}).items()}
    for name, spec in trackers.items():
        spec.check_files()
        host = spec.host_kind()
        if host is not None and not (host in host_roots and host_roots[host].is_dir()):
            given = f" ({host_roots[host]} is not a folder)" if host in host_roots else ""
            raise ValueError(f"tracker {name}: a {spec.kind} tracker needs its {host} checkout: --host-root "
                             f"{host}=PATH{given}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if layout == "vot":
        root = Path(sequences).resolve()
        lengths, anchored = _vot_sequences(root)
    else:
        root = out / "sequences"
        reader = Got10k(sequences) if layout == "got10k" else Lasot(sequences)
        lengths, anchored = convert_to_vot(reader, root), True
    if not anchored:
        logger.warning("some sequences in %s have no anchor.value: the multistart experiment is left out", root)
    (out / "stack.yaml").write_text(yaml.safe_dump(stack_for(lengths, multistart=anchored), sort_keys=False))
    _write_trackers_ini(out / "trackers.ini", trackers, host_roots, python, timeout)
    config = {"stack": "./stack.yaml", "registry": ["./trackers.ini"],
              "sequences": "./sequences" if root == out / "sequences" else str(root)}
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    logger.info("VOT workspace %s: %d sequences, trackers %s", out, len(lengths), ", ".join(trackers))
    return out


def stack_for(lengths: Sequence[int], multistart: bool = True) -> dict:
    """A short-term stack sized for sequences of ``lengths`` frames.

    * ``unsupervised``: one pass from the first frame; average accuracy.
    * ``supervised``: reset-based (VOT2013-2019), re-initialised 5 frames after a failure, on the next frame
      without a :data:`SKIP_TAGS` tag, up to 15 runs (the toolkit stops after 3 identical runs of a deterministic
      tracker); AR and EAO.
    * ``multistart``: anchor-based (VOT2020+); AR and EAO.

    Sizing: burn-in and grace (frames after an initialisation that do not count) are a tenth of the shortest
    sequence, between 1 and 10 (the toolkit's default); the EAO score averages the curve over
    ``[0.28 * L, L]``, L = the mean length (VOT2018: [100, 356] for a mean length of 356).
    """
    shortest, mean = min(lengths), float(np.mean(lengths))
    burnin = int(np.clip(shortest // 10, 1, 10))
    high = max(2, round(mean))
    low = max(1, round(0.28 * high))
    experiments: dict[str, dict] = {
        "unsupervised": {
            "type": "unsupervised", "repetitions": 1,
            "analyses": [{"type": "average_accuracy", "name": "accuracy", "burnin": burnin}],
        },
        "supervised": {
            "type": f"{_EXPERIMENTS}.SupervisedExperiment", "repetitions": 15, "skip_initialize": 5,
            "skip_tags": list(SKIP_TAGS),
            "analyses": [
                {"type": "supervised_average_ar", "name": "ar", "burnin": burnin},
                {"type": "supervised_eao_score", "name": "eaoscore", "low": low, "high": high, "burnin": burnin},
                {"type": "supervised_eao_curve", "name": "eaocurve", "burnin": burnin},
            ],
        },
    }
    if multistart:
        experiments["multistart"] = {
            "type": f"{_EXPERIMENTS}.MultiStartExperiment",
            "analyses": [
                {"type": "multistart_average_ar", "name": "ar", "burnin": burnin, "grace": burnin},
                {"type": "multistart_eao_score", "name": "eaoscore", "low": low, "high": high, "burnin": burnin,
                 "grace": burnin},
                {"type": "multistart_eao_curve", "name": "eaocurve", "high": high, "burnin": burnin, "grace": burnin},
            ],
        }
    return {"title": f"SLT short-term stack ({len(lengths)} sequences, mean length {mean:.0f})",
            "experiments": experiments}


def convert_to_vot(dataset: SequenceDataset, root: Path) -> list[int]:
    """Write ``dataset`` in the VOT layout under ``root`` (replaced if present); returns the sequence lengths.

    Per sequence: ``color`` links to the frame folder (GOT-10k and LaSOT frames are ``%08d.jpg`` from 1, as VOT
    wants), ``groundtruth.txt`` holds the boxes (xywh, 0-based top-left; ``0,0,0,0`` -- VOT's empty region --
    where the box is not valid), ``absent.tag`` marks the frames where the reader says the target is not
    visible, ``anchor.value`` marks :func:`slt.data.synthetic.vot_anchors` among the visible frames.
    """
    if root.exists():
        shutil.rmtree(root)
    names, lengths = [], []
    for i in range(dataset.get_num_sequences()):
        name = dataset.get_sequence_name(i)
        info = dataset.get_sequence_info(i)
        boxes, valid = info["bbox"].numpy().astype(np.float64), info["valid"].numpy()
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "color").symlink_to(dataset.frame_dir(i).resolve(), target_is_directory=True)
        (folder / "sequence").write_text(f"channels.color=color/%08d.jpg\nfps=30\nformat=default\nname={name}\n")
        boxes[~valid] = 0.0
        (folder / "groundtruth.txt").write_text("".join(",".join(f"{v:.4f}" for v in box) + "\n" for box in boxes))
        visible = info["visible"].numpy()
        (folder / "absent.tag").write_text("".join(f"{int(not v)}\n" for v in visible))
        (folder / "anchor.value").write_text("".join(f"{int(a)}\n" for a in vot_anchors(visible)))
        names.append(name)
        lengths.append(len(boxes))
    (root / "list.txt").write_text("".join(f"{name}\n" for name in names))
    return lengths


def _vot_sequences(root: Path) -> tuple[list[int], bool]:
    """Lengths of the VOT sequences under ``root``, and whether every one has ``anchor.value``."""
    dataset = VOTSequences(root)
    names = [dataset.get_sequence_name(i) for i in range(len(dataset))]
    lengths = [dataset.num_frames(i) for i in range(len(dataset))]
    return lengths, all((root / name / "anchor.value").is_file() for name in names)


def _write_trackers_ini(path: Path, trackers: Mapping[str, TrackerSpec], host_roots: Mapping[str, Path],
                        python: str, timeout: int) -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.optionxform = str  # keep the env_ keys' case readable; the toolkit upper-cases them anyway
    for name, spec in trackers.items():
        section = {"label": f"{name} ({spec.kind})", "protocol": "traxpython", "command": "slt.vot",
                   "python": python, "timeout": str(timeout)}
        host = spec.host_kind()
        if host is not None:
            section["paths"] = str(host_roots[host])
        section.update({f"env_{key}": value for key, value in spec.environment().items()})
        # the toolkit reads trackers.ini with interpolation: a literal % must be written %%
        ini[name] = {key: value.replace("%", "%%") for key, value in section.items()}
    with path.open("w") as stream:
        ini.write(stream)
