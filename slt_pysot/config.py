"""SLT's keys on PySOT's global yacs config, and the device rule.

PySOT's ``pysot.core.config.cfg`` rejects unknown keys when a yaml is merged (``KeyError: 'Non-existent config
key: ...'``). :func:`register_slt_cfg` adds SLT's keys to the unfrozen cfg, with the defaults below, before the
yaml is merged; it is idempotent and never overwrites a value already there. Keys of the official SLT config
that no code reads (``TRAIN.REWARD_WEIGHT``, ``DATASET.PERTURB``, the SiamAttn ``DATASET.SEQUENCE`` augmentation,
``GRAD_CAM``, ...) are deliberately not registered: a yaml that sets them fails, naming the key.

Note that PySOT creates ``DATASET`` with ``new_allowed=True``, so a misspelt key *directly* under ``DATASET`` is
accepted by yacs; ``DATASET.SEQUENCE`` and every other node registered here reject unknown keys.

=========================================  ===============  ==========================================================
key                                        default          meaning
=========================================  ===============  ==========================================================
ADJUST.LR                                  1.0              neck learning rate, times TRAIN.BASE_LR (0: neck frozen)
RPN.LR                                     1.0              RPN head learning rate, times TRAIN.BASE_LR (0: frozen)
TRAIN.NUM_SEQ                              1                N, clips per optimizer step
TRAIN.NUM_FRAMES                           100              T, frames per clip including the init frame
TRAIN.TEMPLATE_GAP                         100              largest gap template -> first clip frame (-1: template is
                                                            the first clip frame; see slt_pysot.dataset)
TRAIN.OPTIM                                'sgd'            'sgd' (momentum TRAIN.MOMENTUM) or 'adam'
TRAIN.TEMP                                 1.0              policy temperature (paper: 8)
TRAIN.SIG_EPS                              0.01             epsilon of the stable inverse sigmoid
TRAIN.NO_NEG_LOGIT                         False            score = sigmoid(l_pos) instead of sigmoid(l_pos - l_neg),
                                                            in exploration and in the loss alike
TRAIN.RL_TRAIN_LOC                         True             add LOC_WEIGHT * anchor L1 loss on the explored crops
TRAIN.RL_TRAIN_BACKBONE                    False            train BACKBONE.TRAIN_LAYERS (lr BACKBONE.LAYERS_LR)
DATASET.SEQUENCE.SAMPLE_MODE               'sequential'     'sequential' or 'random_interval'
DATASET.SEQUENCE.SAMPLE_PROB               1.0              probability of a random-interval clip in that mode
DATASET.SEQUENCE.MAX_INTERVAL              1                largest step (visible frames) of random-interval clips
SLT.ENABLED                                False            tools/train.py hands over to slt_pysot.train when True
SLT.NAME                                   'slt'            run name: checkpoints in TRAIN.SNAPSHOT_DIR/NAME/
SLT.CHUNK_SIZE                             64               samples per backward pass (<= 0: all at once)
SLT.CHUNK_NORM                             'mean'           'mean' (gradient of the batch mean, PySOT) or 'sum'
SLT.REWARD                                 'mean_iou'       return of a trajectory (slt.scst.RETURNS)
SLT.BASELINE                               'greedy'         baseline (slt.scst.BASELINES); 'greedy' is SCST
SLT.SAMPLES                                1                sampled trajectories per clip (>= 2 for BASELINE
                                                            'mean_of_samples')
SLT.CROP                                   'torch'          exploration crops: 'torch' (batched grid_sample) or
                                                            'host' (PySOT's get_subwindow, bit-exact, slower)
SLT.DEVICE                                 ''               torch device; '' = cuda if CUDA and available, else cpu
SLT.KEEP_CHECKPOINTS                       3                checkpoints kept, newest first: resumable ones and
                                                            PySOT snapshots checkpoint_e<N>.pth alike
SLT.CHECKPOINT_EVERY                       0                also checkpoint every this many steps inside an epoch
                                                            (0: at epoch ends only)
SLT.CHECKPOINT_MINUTES                     10.0             also checkpoint after this many minutes since the last
                                                            checkpoint (<= 0: never by time)
SLT.DATASET.NAMES                          ['GOT10K',       dataset nodes used; each node's name fixes its raw layout
                                           'LASOT',         (read by slt.data, no JSON preprocessing)
                                           'TRACKINGNET']
SLT.DATASET.MIX                            'videos'         how datasets are mixed: 'videos' (in proportion to their
                                                            numbers of videos, as the official PySOT sampler) or
                                                            'prob' (in proportion to each PROB)
SLT.DATASET.GOT10K.ROOT                    ''               raw GOT-10k train folder (the one with list.txt)
SLT.DATASET.GOT10K.SPLIT                   ''               optional split file of sequence indices ('': all)
SLT.DATASET.GOT10K.PROB                    1.0              relative sampling weight (MIX 'prob' only)
SLT.DATASET.GOT10K.ALLOW_EVAL_SPLIT        False            True: allow val/test sequences (refused otherwise)
SLT.DATASET.LASOT.ROOT                     ''               raw LaSOT folder (the one with the class folders)
SLT.DATASET.LASOT.SPLIT                    'train'          'train' (the official 1120 videos), 'test' (280), a
                                                            split file of sequence names, or '' (every sequence)
SLT.DATASET.LASOT.PROB                     1.0              relative sampling weight (MIX 'prob' only)
SLT.DATASET.LASOT.ALLOW_EVAL_SPLIT         False            True: allow test sequences (refused otherwise)
SLT.DATASET.TRACKINGNET.ROOT               ''               raw TrackingNet folder (the one with TRAIN_<i>)
SLT.DATASET.TRACKINGNET.SETS               [6, ..., 11]     chunks to use (0..11: TRAIN_<i>, 'TEST'; []: every
                                                            TRAIN_<i> present); the official recipe's TRAIN_6..11
SLT.DATASET.TRACKINGNET.PROB               1.0              relative sampling weight (MIX 'prob' only)
SLT.DATASET.TRACKINGNET.ALLOW_EVAL_SPLIT   False            True: allow the TEST chunk (refused otherwise)
SLT.DATASET.COCO.ROOT                      ''               COCO-style image folder (images as one-frame clips)
SLT.DATASET.COCO.ANNOTATION                ''               its instances JSON (boxes, segmentations)
SLT.DATASET.COCO.PROB                      1.0              relative sampling weight (MIX 'prob' only)
SLT.DATASET.COCO.ALLOW_EVAL_SPLIT          False            unused (COCO has no tracking evaluation split)
SLT.DATASET.YTBVOS.ROOT                    ''               YouTube-VOS split folder (the one with meta.json)
SLT.DATASET.YTBVOS.PROB                    1.0              relative sampling weight (MIX 'prob' only)
SLT.DATASET.YTBVOS.ALLOW_EVAL_SPLIT        False            unused (no tracking evaluation split)
SLT.DATASET.MIN_VISIBLE                    -1               a video qualifies with more visible frames than this
                                                            (-1: 2 * (NUM_FRAMES + 1), the official rule)
SLT.SPATIAL_AUG.ENABLED                    False            continue short clips with augmented copies of their last
                                                            frame (slt.sampling.SpatialSequenceAugment)
SLT.SPATIAL_AUG.SHIFT                      0.1              largest crop-box shift, times its size
SLT.SPATIAL_AUG.SCALE                      0.2              crop-box scale range 1 +- SCALE per axis
SLT.SPATIAL_AUG.BLUR                       0.2              probability of a line blur
SLT.SPATIAL_AUG.COLOR                      0.5              probability of a PCA colour jitter
=========================================  ===============  ==========================================================

Relative dataset roots are resolved against the working directory. Official splits: :mod:`slt.data.splits`; a
dataset holding evaluation sequences (LaSOT test, GOT-10k val/test, TrackingNet TEST) is refused for training
unless its ``ALLOW_EVAL_SPLIT`` is True. PySOT keys that SLT reads as they are:
``TRAIN.{EPOCH, BASE_LR, WEIGHT_DECAY, MOMENTUM, GRAD_CLIP, CLS_WEIGHT, LOC_WEIGHT, PRETRAINED, SNAPSHOT_DIR,
NUM_WORKERS, PRINT_FREQ, LR, LR_WARMUP, SEARCH_SIZE, OUTPUT_SIZE}``, ``BACKBONE.{TRAIN_LAYERS, LAYERS_LR}``,
``DATASET.VIDEOS_PER_EPOCH``, ``TRACK.*``, ``CUDA``.
"""

from __future__ import annotations

from typing import Any

import torch
from yacs.config import CfgNode

SLT_KEYS: tuple[tuple[str, Any], ...] = (
    ("ADJUST.LR", 1.0),
    ("RPN.LR", 1.0),
    ("TRAIN.NUM_SEQ", 1),
    ("TRAIN.NUM_FRAMES", 100),
    ("TRAIN.TEMPLATE_GAP", 100),
    ("TRAIN.OPTIM", "sgd"),
    ("TRAIN.TEMP", 1.0),
    ("TRAIN.SIG_EPS", 0.01),
    ("TRAIN.NO_NEG_LOGIT", False),
    ("TRAIN.RL_TRAIN_LOC", True),
    ("TRAIN.RL_TRAIN_BACKBONE", False),
    ("DATASET.SEQUENCE.SAMPLE_MODE", "sequential"),
    ("DATASET.SEQUENCE.SAMPLE_PROB", 1.0),
    ("DATASET.SEQUENCE.MAX_INTERVAL", 1),
    ("SLT.ENABLED", False),
    ("SLT.NAME", "slt"),
    ("SLT.CHUNK_SIZE", 64),
    ("SLT.CHUNK_NORM", "mean"),
    ("SLT.REWARD", "mean_iou"),
    ("SLT.BASELINE", "greedy"),
    ("SLT.SAMPLES", 1),
    ("SLT.CROP", "torch"),
    ("SLT.DEVICE", ""),
    ("SLT.KEEP_CHECKPOINTS", 3),
    ("SLT.CHECKPOINT_EVERY", 0),
    ("SLT.CHECKPOINT_MINUTES", 10.0),
    ("SLT.DATASET.NAMES", ["GOT10K", "LASOT", "TRACKINGNET"]),
    ("SLT.DATASET.MIX", "videos"),
    ("SLT.DATASET.GOT10K.ROOT", ""),
    ("SLT.DATASET.GOT10K.SPLIT", ""),
    ("SLT.DATASET.GOT10K.PROB", 1.0),
    ("SLT.DATASET.GOT10K.ALLOW_EVAL_SPLIT", False),
    ("SLT.DATASET.LASOT.ROOT", ""),
    ("SLT.DATASET.LASOT.SPLIT", "train"),
    ("SLT.DATASET.LASOT.PROB", 1.0),
    ("SLT.DATASET.LASOT.ALLOW_EVAL_SPLIT", False),
    ("SLT.DATASET.TRACKINGNET.ROOT", ""),
    ("SLT.DATASET.TRACKINGNET.SETS", [6, 7, 8, 9, 10, 11]),
    ("SLT.DATASET.TRACKINGNET.PROB", 1.0),
    ("SLT.DATASET.TRACKINGNET.ALLOW_EVAL_SPLIT", False),
    ("SLT.DATASET.COCO.ROOT", ""),
    ("SLT.DATASET.COCO.ANNOTATION", ""),
    ("SLT.DATASET.COCO.PROB", 1.0),
    ("SLT.DATASET.COCO.ALLOW_EVAL_SPLIT", False),
    ("SLT.DATASET.YTBVOS.ROOT", ""),
    ("SLT.DATASET.YTBVOS.PROB", 1.0),
    ("SLT.DATASET.YTBVOS.ALLOW_EVAL_SPLIT", False),
    ("SLT.DATASET.MIN_VISIBLE", -1),
    ("SLT.SPATIAL_AUG.ENABLED", False),
    ("SLT.SPATIAL_AUG.SHIFT", 0.1),
    ("SLT.SPATIAL_AUG.SCALE", 0.2),
    ("SLT.SPATIAL_AUG.BLUR", 0.2),
    ("SLT.SPATIAL_AUG.COLOR", 0.5),
)
"""Every key :func:`register_slt_cfg` adds, with its default (documented in the module docstring)."""


def register_slt_cfg(cfg: CfgNode) -> CfgNode:
    """Add :data:`SLT_KEYS` to ``cfg`` (PySOT's global ``pysot.core.config.cfg``, unfrozen); returns ``cfg``.

    Missing nodes are created as plain ``CfgNode`` (unknown keys below them are rejected at merge time); keys
    already present keep their value, so calling it again after a merge changes nothing. A frozen cfg raises
    ``AttributeError`` (yacs' own refusal).
    """
    for dotted, default in SLT_KEYS:
        *path, leaf = dotted.split(".")
        node = cfg
        for name in path:
            if name not in node:
                setattr(node, name, CfgNode())
            node = node[name]
        if leaf not in node:
            setattr(node, leaf, list(default) if isinstance(default, list) else default)
    return cfg


def resolve_device(cfg: CfgNode, override: str | None = None) -> torch.device:
    """The compute device: ``override`` if given, else ``cfg.SLT.DEVICE`` if set, else ``cuda`` when ``cfg.CUDA``
    is True and CUDA is available, else ``cpu``."""
    if override:
        return torch.device(override)
    if cfg.SLT.DEVICE:
        return torch.device(cfg.SLT.DEVICE)
    return torch.device("cuda" if cfg.CUDA and torch.cuda.is_available() else "cpu")
