"""Official train / val / test splits of LaSOT, GOT-10k and TrackingNet, and the training-split check.

Split lists are dataset metadata (sequence names), embedded here with their provenance:

* **LaSOT** (Fan et al., CVPR 2019; 70 classes x 20 videos): :data:`LASOT_TEST_IDS` is the benchmark's
  ``testing_set.txt`` (280 videos, 4 per class), as also embedded in PyTracking's
  ``pytracking/evaluation/lasotdataset.py`` (visionml/pytracking 7eb9e74). The training split is the other 16
  videos of each class (1120); this equals PyTracking's ``ltr/data_specs/lasot_train_split.txt`` name for name
  (checked when this table was written). LaSOT has no validation split; the 2021 extension (LaSOT_ext, 15 new
  classes) is test-only and not listed: its names come out ``'unknown'``.
* **GOT-10k** (Huang et al., TPAMI 2019): the splits are separate folders whose sequences are named
  ``GOT-10k_Train_<6 digits>`` (9335), ``GOT-10k_Val_<6 digits>`` (180), ``GOT-10k_Test_<6 digits>`` (180).
* **TrackingNet** (Mueller et al., ECCV 2018): the training set is the chunks ``TRAIN_0`` .. ``TRAIN_11``, the
  test set the chunk ``TEST`` (511 videos, ground truth of frame 0 only).

:func:`sequence_split` names the official split of one sequence; :func:`check_training_split` refuses a dataset
that holds evaluation sequences (LaSOT/TrackingNet test, GOT-10k val or test) unless allowed on purpose.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

SPLITS = ("train", "val", "test", "unknown")
"""Split names :func:`sequence_split` returns (``'unknown'``: a name outside the official lists)."""

EVAL_SPLITS = ("val", "test")
"""Splits a training sampler refuses unless allowed (see :func:`check_training_split`)."""

LASOT_TEST_IDS: dict[str, tuple[int, ...]] = {
    "airplane": (1, 9, 13, 15), "basketball": (1, 6, 7, 11), "bear": (2, 4, 6, 17), "bicycle": (2, 7, 9, 18),
    "bird": (2, 3, 15, 17), "boat": (3, 4, 12, 17), "book": (3, 10, 11, 19), "bottle": (1, 12, 14, 18),
    "bus": (2, 5, 17, 19), "car": (2, 6, 9, 17), "cat": (1, 3, 18, 20), "cattle": (2, 7, 12, 13),
    "chameleon": (3, 6, 11, 20), "coin": (3, 6, 7, 18), "crab": (3, 6, 12, 18), "crocodile": (3, 4, 10, 14),
    "cup": (1, 4, 7, 17), "deer": (4, 8, 10, 14), "dog": (1, 7, 15, 19), "drone": (2, 7, 13, 15),
    "electricfan": (1, 10, 18, 20), "elephant": (1, 12, 16, 18), "flag": (2, 3, 5, 9), "fox": (2, 3, 5, 20),
    "frog": (3, 4, 9, 20), "gametarget": (1, 2, 7, 13), "gecko": (1, 5, 16, 19), "giraffe": (2, 10, 13, 15),
    "goldfish": (3, 7, 8, 10), "gorilla": (4, 6, 9, 13), "guitar": (3, 8, 10, 16), "hand": (2, 3, 9, 16),
    "hat": (1, 2, 5, 18), "helmet": (5, 11, 13, 19), "hippo": (1, 7, 9, 20), "horse": (1, 4, 12, 15),
    "kangaroo": (2, 5, 11, 14), "kite": (4, 6, 10, 15), "leopard": (1, 7, 16, 20), "licenseplate": (6, 12, 13, 15),
    "lion": (1, 5, 12, 20), "lizard": (1, 3, 6, 13), "microphone": (2, 6, 14, 16), "monkey": (3, 4, 9, 17),
    "motorcycle": (1, 3, 9, 18), "mouse": (1, 8, 9, 17), "person": (1, 5, 10, 12), "pig": (2, 10, 13, 18),
    "pool": (3, 7, 12, 15), "rabbit": (10, 13, 17, 19), "racing": (10, 15, 16, 20), "robot": (1, 5, 8, 19),
    "rubicCube": (1, 6, 14, 19), "sepia": (6, 8, 13, 16), "shark": (2, 3, 5, 6), "sheep": (3, 5, 7, 9),
    "skateboard": (3, 8, 16, 19), "spider": (14, 16, 18, 20), "squirrel": (8, 11, 13, 19),
    "surfboard": (4, 5, 8, 12), "swing": (10, 14, 17, 20), "tank": (6, 9, 14, 16), "tiger": (4, 6, 12, 18),
    "train": (1, 7, 11, 20), "truck": (3, 6, 7, 16), "turtle": (5, 8, 9, 16), "umbrella": (2, 9, 17, 19),
    "volleyball": (1, 13, 18, 19), "yoyo": (7, 15, 17, 19), "zebra": (10, 14, 16, 17),
}
"""LaSOT's official test videos: class -> the ``k`` of its four test sequences ``<class>-<k>`` (k in 1..20)."""

LASOT_VIDEOS_PER_CLASS = 20

TRACKINGNET_TRAIN_CHUNKS = tuple(range(12))
"""TrackingNet's training chunks: ``TRAIN_<i>`` for these ``i``."""

TRACKINGNET_TEST_CHUNK = "TEST"

_GOT10K_NAME = re.compile(r"GOT-10k_(Train|Val|Test)_\d{6}")


def lasot_split_names(split: str) -> list[str]:
    """Sequence names ``<class>-<k>`` of LaSOT's official ``'train'`` (1120) or ``'test'`` (280) split, sorted by
    class then ``k``. Raises ValueError naming the split for any other name."""
    if split not in ("train", "test"):
        raise ValueError(f"LaSOT has official splits 'train' and 'test', not {split!r}")
    names = []
    for name, test_ids in sorted(LASOT_TEST_IDS.items()):
        ids = test_ids if split == "test" else [k for k in range(1, LASOT_VIDEOS_PER_CLASS + 1) if k not in test_ids]
        names += [f"{name}-{k}" for k in ids]
    return names


def sequence_split(dataset_name: str, sequence: Any) -> str:
    """Official split of one sequence: one of :data:`SPLITS`.

    ``dataset_name`` is the reader's ``get_name()`` (``'lasot'``, ``'got10k'``, ``'trackingnet'``; any other
    dataset gives ``'unknown'``). ``sequence`` is an entry of the reader's ``sequence_list``: a name for LaSOT
    (``'<class>-<k>'``) and GOT-10k (the folder name), a ``(chunk, name)`` pair for TrackingNet with chunk an int
    ``i`` of ``TRAIN_<i>`` or ``'TEST'`` (our readers and PyTracking's ``ltr.dataset`` classes alike).
    """
    name = dataset_name.lower()
    if name == "lasot":
        label, _, k = str(sequence).rpartition("-")
        if label not in LASOT_TEST_IDS or not k.isdigit() or not 1 <= int(k) <= LASOT_VIDEOS_PER_CLASS:
            return "unknown"
        return "test" if int(k) in LASOT_TEST_IDS[label] else "train"
    if name == "got10k":
        match = _GOT10K_NAME.fullmatch(str(sequence))
        return match.group(1).lower() if match else "unknown"
    if name == "trackingnet":
        chunk = sequence[0] if isinstance(sequence, (tuple, list)) else None
        if chunk == TRACKINGNET_TEST_CHUNK:
            return "test"
        return "train" if isinstance(chunk, int) and chunk in TRACKINGNET_TRAIN_CHUNKS else "unknown"
    return "unknown"


def split_counts(dataset: Any) -> Counter[str]:
    """Number of sequences of ``dataset`` in each official split (keys of :data:`SPLITS` that occur).

    Reads ``dataset.get_name()`` and ``dataset.sequence_list``; a dataset without ``sequence_list`` counts all
    its sequences as ``'unknown'``.
    """
    sequences = getattr(dataset, "sequence_list", None)
    if sequences is None:
        return Counter({"unknown": dataset.get_num_sequences()})
    return Counter(sequence_split(dataset.get_name(), s) for s in sequences)


def check_training_split(dataset: Any, allowed: bool = False, allow_key: str = "allow_eval_splits") -> None:
    """Refuse to train on evaluation sequences: raise ValueError when ``dataset`` holds sequences of an
    official split in :data:`EVAL_SPLITS` (LaSOT/TrackingNet test; GOT-10k val or test) and not ``allowed``.

    The message names the dataset, the split, how many sequences and an example, and ``allow_key``, the key that
    allows it on purpose. Sequences outside the official lists (``'unknown'``, e.g. synthetic data) pass.
    """
    if allowed:
        return
    counts = split_counts(dataset)
    bad = [split for split in EVAL_SPLITS if counts.get(split)]
    if not bad:
        return
    name = dataset.get_name()
    examples = [s for s in dataset.sequence_list if sequence_split(name, s) in bad][:3]
    found = ", ".join(f"{counts[split]} of its official {split} split" for split in bad)
    raise ValueError(
        f"dataset {name!r} holds {found} (e.g. {examples}): training on {'/'.join(bad)} sequences makes the "
        f"benchmark numbers meaningless. Select the training split (LaSOT: split='train'; TrackingNet: TRAIN_0..11; "
        f"GOT-10k: the train folder), or set {allow_key} to do it on purpose"
    )
