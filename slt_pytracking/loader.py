"""Training data for SLT on an LTR host: the host's own datasets, sampled into clips, in an ``LTRLoader``.

Tracker-agnostic (SLT-TransT and SLT-TrDiMP read the same clips). A clip is one sample of
:class:`slt.sampling.SequenceSampler` (template frame + T search frames, RGB uint8, boxes ``xywh`` pixels);
a batch is :func:`slt.sampling.list_collate` of N clips: a dict of Python lists, nothing stacked, every
clip's ``key`` ``(seed, epoch, index)`` kept (exploration randomness is keyed by it).
"""

from __future__ import annotations

import functools
import logging
import os
import random
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from slt.distributed import DistContext, StepShardSampler, init_from_env
from slt.sampling import SequenceSampler, list_collate
from slt_pytracking import require_patched_host

require_patched_host()

import ltr.data.image_loader as host_image_loader  # noqa: E402  (host imports after the patch check)
import ltr.dataset as host_datasets  # noqa: E402
from ltr.data import LTRLoader  # noqa: E402

logger = logging.getLogger(__name__)

DATASETS: dict[str, tuple[str, str, str]] = {
    "lasot": ("Lasot", "lasot_dir", "LaSOT root (the folder of class folders)"),
    "got10k": ("Got10k", "got10k_dir", "GOT-10k 'train' folder (holding list.txt)"),
    "trackingnet": ("TrackingNet", "trackingnet_dir", "TrackingNet root (holding TRAIN_0, TRAIN_1, ...)"),
}
"""Dataset name -> (``ltr.dataset`` class, ``settings.env`` attribute with its root, what that folder is)."""


@functools.lru_cache(maxsize=1)
def image_loader() -> Callable[[str], np.ndarray]:
    """The host's ``jpeg4py_loader`` when libjpeg-turbo loads, else its ``opencv_loader`` (both RGB uint8).

    Without the ``libturbojpeg`` shared library, the host's default loader prints an error and returns None
    for every frame; the OpenCV loader decodes the same images, more slowly.
    """
    try:
        import jpeg4py._cffi

        jpeg4py._cffi.initialize()
    except (ImportError, OSError) as error:
        logger.warning("jpeg4py cannot decode (%s): reading frames with OpenCV (install libturbojpeg for speed)",
                       error)
        return host_image_loader.opencv_loader
    return host_image_loader.jpeg4py_loader


def require_folder(env: Any, attribute: str, what: str) -> str:
    """``env.<attribute>`` (an LTR ``EnvironmentSettings`` path) if it names a folder, else FileNotFoundError."""
    path = getattr(env, attribute, None)
    if not path or not os.path.isdir(path):
        raise FileNotFoundError(f"settings.env.{attribute} = {path!r} is not a folder: set {attribute} to the "
                                f"{what} in ltr/admin/local.py")
    return path


def require_workspace(env: Any) -> None:
    """FileNotFoundError naming ``local.py`` unless ``env`` (LTR ``EnvironmentSettings``) sets the workspace."""
    if not getattr(env, "workspace_dir", None):
        raise FileNotFoundError("settings.env.workspace_dir is empty: set workspace_dir (checkpoints go to "
                                "<workspace_dir>/checkpoints) and tensorboard_dir in ltr/admin/local.py")
    if not getattr(env, "tensorboard_dir", None):
        raise FileNotFoundError("settings.env.tensorboard_dir is empty: set it in ltr/admin/local.py")


def build_dataset(env: Any, name: str, loader: Callable[[str], np.ndarray] | None = None, **kwargs: Any) -> Any:
    """The host dataset ``name`` (a key of :data:`DATASETS`) rooted at its ``settings.env`` folder.

    ``kwargs`` go to the host class, e.g. ``split='vottrain'`` (GOT-10k; ``split=None`` reads all of list.txt,
    needed for anything but the full official dataset), ``split='train'`` (LaSOT), ``set_ids=[0, 1, 2, 3]``
    (TrackingNet).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    class_name, attribute, what = DATASETS[name]
    root = require_folder(env, attribute, what)
    split_hint = (f"the split {kwargs.get('split')!r} lists the official {class_name} videos; for other data (a "
                  f"subset, synthetic videos) build the dataset without it (split=None)")
    try:
        dataset = getattr(host_datasets, class_name)(root, image_loader=loader or image_loader(), **kwargs)
    except IndexError as error:  # GOT-10k: the split file's indices run past the folder's list.txt
        raise ValueError(f"{class_name} at {root}: {split_hint} ({error})") from error
    if name == "trackingnet":
        dataset.seq_to_class_map = _ClassMap(dataset.seq_to_class_map)
    if name == "lasot":
        missing = [seq for seq in dataset.sequence_list
                   if not os.path.isdir(os.path.join(root, seq.rsplit("-", 1)[0], seq))]
        if missing:
            hint = split_hint if kwargs.get("split") else (
                "PyTracking's Lasot takes every entry of the root as a class and every vid_ids number in each: give "
                "numbers each class folder has, and keep only class folders there (slt make-data's "
                "slt_synthetic.json counts as a class)")
            raise FileNotFoundError(f"{class_name} at {root}: {len(missing)} of {len(dataset.sequence_list)} "
                                    f"sequences are not there (e.g. {missing[0]}); {hint}")
    logger.info("%s: %d sequences from %s", class_name, dataset.get_num_sequences(), root)
    return dataset


class _ClassMap(dict):
    """TrackingNet's sequence -> class map (``ltr/data_specs/trackingnet_classmap.txt``); a sequence it does not
    list (synthetic videos, ``slt make-data --layout trackingnet``) is ``'Unknown'``, the class the host's own
    per-class index already files it under, instead of a KeyError when its frames are read."""

    def __missing__(self, key: str) -> str:
        return "Unknown"


def sequence_loader(name: str, sampler: SequenceSampler, num_seq: int, num_workers: int = 0,
                    training: bool = True, indices: Sampler[int] | None = None) -> LTRLoader:
    """An ``LTRLoader`` yielding batches of ``num_seq`` clips (dicts of lists, see module doc).

    ``indices``: the sample indices to read, in order (a :class:`slt.distributed.StepShardSampler`: this rank's
    share of every step); None: all of ``sampler``'s in order. ``shuffle=False`` (the sampler draws at random
    itself), ``drop_last=True``, ``stack_dim=0`` (read by the host's statistics only).
    """
    return LTRLoader(name, sampler, training=training, batch_size=num_seq, shuffle=False, sampler=indices,
                     num_workers=num_workers, collate_fn=list_collate, drop_last=True, stack_dim=0)


def training_loader(settings: Any, datasets: Sequence[Any],
                    p_datasets: Sequence[float]) -> tuple[DistContext, LTRLoader]:
    """Seed the run, join the torchrun process group if there is one, and build the training loader of clips.

    Reads ``settings.seed``, ``device``, ``num_seq`` (N, the global batch), ``samples_per_epoch``,
    ``num_frames``, ``max_gap``, ``frame_sample_mode``, ``max_interval``, ``interval_prob``, ``num_workers``;
    sets ``settings.device`` to this rank's device. Every rank builds the same sampler (seed ``settings.seed``)
    and reads its ``1 / world_size`` share of each step's ``num_seq`` clips
    (:class:`slt.distributed.StepShardSampler`), so the ranks of a torchrun job together read the clips one
    process reads; an epoch is ``samples_per_epoch // num_seq`` steps.
    """
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    context = init_from_env(settings.device)
    settings.device = context.device
    world = context.world_size
    if settings.num_seq % world:
        raise ValueError(f"num_seq ({settings.num_seq}) must split evenly over {world} ranks")
    sampler = SequenceSampler(datasets, p_datasets, samples_per_epoch=settings.samples_per_epoch,
                              num_frames=settings.num_frames, max_gap=settings.max_gap,
                              frame_sample_mode=settings.frame_sample_mode, max_interval=settings.max_interval,
                              interval_prob=settings.interval_prob, seed=settings.seed)
    shard = StepShardSampler(0, settings.samples_per_epoch // settings.num_seq, settings.num_seq, context)
    return context, sequence_loader("train", sampler, settings.num_seq // world, settings.num_workers,
                                    indices=shard)
