"""Training clips for SLT-SiamRPN++ / SLT-SiamAttn from raw GOT-10k / LaSOT / TrackingNet folders (no JSON
preprocessing), COCO-style image datasets and YouTube-VOS (with masks).

:func:`build_sampler` reads ``cfg.SLT.DATASET`` (which datasets, their roots and weights) and the clip keys
``TRAIN.NUM_FRAMES``, ``TRAIN.TEMPLATE_GAP`` and ``DATASET.SEQUENCE.*``, and returns a
:class:`slt.sampling.SequenceSampler` whose images are converted once, in the data loader, from RGB (what
:mod:`slt.data` readers give) to BGR (what PySOT's networks were trained on). Boxes stay xywh pixels, 0-based
top-left.

As the official PySOT sampler, datasets are mixed in proportion to their numbers of videos (``SLT.DATASET.MIX:
'videos'``; ``'prob'`` mixes by each ``PROB`` instead), and ``TEMPLATE_GAP: -1`` takes the template from the
video's first (visible) frame and starts the clip anywhere; a positive gap takes it up to that many frames before
the clip. A dataset holding evaluation sequences (:mod:`slt.data.splits`) is refused unless its
``ALLOW_EVAL_SPLIT`` is True. Differences from the official sampler (docs/method.md#sampling): clips are made of visible
frames (the official keeps unannotated frames); ``SAMPLE_MODE: 'uniform_interval'`` is not supported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from yacs.config import CfgNode

from slt.data import CocoImages, DataError, Got10k, Lasot, TrackingNet, YouTubeVOS
from slt.data.splits import check_training_split
from slt.sampling import SequenceSampler, SpatialSequenceAugment

READERS: dict[str, Callable[[CfgNode, Path], Any]] = {
    "GOT10K": lambda node, root: Got10k(root, split=node.SPLIT or None),
    "LASOT": lambda node, root: Lasot(root, split=node.SPLIT or None),
    "TRACKINGNET": lambda node, root: TrackingNet(root, set_ids=list(node.SETS) or None),
    "COCO": lambda node, root: CocoImages(_required(node.ANNOTATION, "SLT.DATASET.COCO.ANNOTATION"), root),
    "YTBVOS": lambda node, root: YouTubeVOS(root),
}
MIX_MODES = ("videos", "prob")
"""Dataset node name under ``SLT.DATASET`` -> reader of that raw layout."""


def _required(value: str, key: str) -> str:
    if not value:
        raise ValueError(f"{key} is empty: set it (e.g. the instances JSON of a COCO-style dataset)")
    return value


def build_datasets(cfg: CfgNode) -> tuple[list[Any], list[float]]:
    """Readers for ``cfg.SLT.DATASET.NAMES`` and their sampling weights (``SLT.DATASET.MIX``: numbers of videos,
    or each ``PROB``).

    Raises ``ValueError`` for an unknown name or an empty root and ``FileNotFoundError`` for a root that is not
    a folder, both naming the cfg key (``SLT.DATASET.<NAME>.ROOT``) and the path; a reader's ``DataError``
    prefixed with ``SLT.DATASET.<NAME>``; ``ValueError`` naming the dataset, its split and
    ``SLT.DATASET.<NAME>.ALLOW_EVAL_SPLIT`` for evaluation sequences.
    """
    mix = cfg.SLT.DATASET.MIX
    if mix not in MIX_MODES:
        raise ValueError(f"SLT.DATASET.MIX must be one of {MIX_MODES}, got {mix!r}")
    datasets, weights = [], []
    for name in cfg.SLT.DATASET.NAMES:
        if name not in READERS:
            raise ValueError(f"SLT.DATASET.NAMES: unknown dataset {name!r}; expected some of {sorted(READERS)}")
        node = cfg.SLT.DATASET[name]
        key = f"SLT.DATASET.{name}.ROOT"
        if not node.ROOT:
            raise ValueError(f"{key} is empty: set it to the raw dataset folder, or remove {name!r} from "
                             f"SLT.DATASET.NAMES")
        root = Path(node.ROOT).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{key} = {str(root)!r} is not a folder (relative roots are resolved against "
                                    f"the working directory {Path.cwd()})")
        try:
            dataset = READERS[name](node, root)
        except DataError as error:
            raise DataError(f"SLT.DATASET.{name}: {error}") from error
        check_training_split(dataset, allowed=node.ALLOW_EVAL_SPLIT,
                             allow_key=f"SLT.DATASET.{name}.ALLOW_EVAL_SPLIT: True")
        datasets.append(dataset)
        weights.append(float(len(dataset) if mix == "videos" else node.PROB))
    if not datasets:
        raise ValueError("SLT.DATASET.NAMES is empty: name at least one dataset")
    return datasets, weights


def build_sampler(cfg: CfgNode, samples: int, seed: int) -> SequenceSampler:
    """The clip sampler of ``samples`` clips (``len``) with ``TRAIN.NUM_FRAMES`` frames each.

    ``DATASET.SEQUENCE.SAMPLE_MODE`` -> ``frame_sample_mode``, ``SAMPLE_PROB`` -> ``interval_prob``,
    ``MAX_INTERVAL`` -> ``max_interval``, ``TRAIN.TEMPLATE_GAP`` -> ``max_gap``, ``SLT.SPATIAL_AUG`` ->
    ``spatial_augment`` (off by default), ``SLT.DATASET.MIN_VISIBLE`` -> ``min_visible``.
    """
    datasets, weights = build_datasets(cfg)
    allowed = [dataset.get_name() for dataset, name in zip(datasets, cfg.SLT.DATASET.NAMES)
               if cfg.SLT.DATASET[name].ALLOW_EVAL_SPLIT]
    sequence = cfg.DATASET.SEQUENCE
    spatial = cfg.SLT.SPATIAL_AUG
    augment = SpatialSequenceAugment(shift=spatial.SHIFT, scale=spatial.SCALE, blur=spatial.BLUR,
                                     color=spatial.COLOR) if spatial.ENABLED else None
    min_visible = cfg.SLT.DATASET.MIN_VISIBLE
    if sequence.SAMPLE_MODE not in ("sequential", "random_interval"):
        raise ValueError(f"DATASET.SEQUENCE.SAMPLE_MODE must be 'sequential' or 'random_interval', got "
                         f"{sequence.SAMPLE_MODE!r}")
    return SequenceSampler(
        datasets, p_datasets=weights, samples_per_epoch=samples, num_frames=cfg.TRAIN.NUM_FRAMES,
        max_gap=cfg.TRAIN.TEMPLATE_GAP, frame_sample_mode=sequence.SAMPLE_MODE,
        max_interval=sequence.MAX_INTERVAL, interval_prob=sequence.SAMPLE_PROB, seed=seed,
        template_mode="first_frame" if cfg.TRAIN.TEMPLATE_GAP == -1 else "near", channel_order="bgr",
        allow_eval_splits=allowed, spatial_augment=augment, min_visible=None if min_visible < 0 else min_visible,
    )
