"""Sequence-level sampling (SS) and sequence-level augmentation (SA) of training clips (docs/method.md#sampling).

A clip is one template frame plus ``num_frames`` search frames of one video; the tracker is initialised on
search frame 0 and tracks the rest. Frame ids are 0-based indices into the video.

* :func:`sequential_clip` (SS): consecutive *visible* frames.
* :func:`random_interval_clip` (SA, temporal): steps of 1..``max_interval`` visible frames, simulating faster
  and irregular motion.
* :class:`SequenceSampler`: a torch ``Dataset`` over datasets following the PyTracking dataset protocol
  (``get_num_sequences``, ``get_sequence_info(i)['visible']``, ``get_frames``, ``is_video_sequence``,
  ``get_name``) -- both :mod:`slt.data` readers and the host's own ``ltr.dataset`` classes.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch

from slt.data.splits import check_training_split

logger = logging.getLogger(__name__)

FRAME_SAMPLE_MODES = ("sequential", "random_interval")
TEMPLATE_MODES = ("near", "first_frame")
CHANNEL_ORDERS = ("rgb", "bgr")


class ClipError(ValueError):
    """A video cannot give a clip (no visible frame)."""


def _visible_ids(visible: Sequence[bool] | np.ndarray | torch.Tensor) -> np.ndarray:
    flags = visible.cpu().numpy() if isinstance(visible, torch.Tensor) else np.asarray(visible)
    return np.flatnonzero(flags.astype(bool))


def _pick(ids: np.ndarray, low: int, high: int, rng: np.random.Generator) -> int | None:
    """One id of ``ids`` in ``[low, high)``, uniformly, or None when there is none."""
    inside = ids[(ids >= low) & (ids < high)]
    return int(rng.choice(inside)) if inside.size else None


def _pad(ids: list[int], num_frames: int) -> list[int]:
    """Repeat the last id until the clip has ``num_frames`` frames (the video ended first)."""
    return ids + [ids[-1]] * (num_frames - len(ids))


def _template_and_first(
    vis: np.ndarray, room: int, length: int, max_gap: int, rng: np.random.Generator, template: int | None
) -> tuple[int, int]:
    """Template id: ``template`` if given, else a visible frame leaving ``room`` frames after it (any visible
    frame if none does). First search id: with a given template, any visible frame leaving ``room`` frames;
    otherwise the template itself when ``max_gap == -1``, else a visible frame in
    ``[template, min(template + max_gap, length - room))`` (the template when there is none)."""
    if template is not None:
        first = _pick(vis, 0, max(length - room, 1), rng)
        return template, int(vis[0]) if first is None else first
    template = _pick(vis, 0, max(length - room, 1), rng)
    if template is None:
        template = int(rng.choice(vis))
    if max_gap == -1:
        return template, template
    first = _pick(vis, template, min(template + max_gap, max(length - room, template + 1)), rng)
    return template, template if first is None else first


def sequential_clip(
    visible: Sequence[bool] | np.ndarray | torch.Tensor,
    num_frames: int,
    max_gap: int,
    rng: np.random.Generator,
    template: int | None = None,
) -> tuple[int, list[int]]:
    """SS clip: ``(template_id, frame_ids)`` with ``len(frame_ids) == num_frames``.

    The template is a visible frame in ``[0, len - num_frames)``; the clip starts at a visible frame within
    ``max_gap`` frames after it (``max_gap == -1``: at the template) and continues over the next *visible*
    frames, so ids are strictly increasing. When the video runs out of visible frames first, the last id is
    repeated (end duplication). Short videos (fewer than ``num_frames`` frames) take their template anywhere.
    A given ``template`` id is kept (PySOT's ``TEMPLATE_GAP: -1`` uses the video's first frame) and the clip
    starts at any visible frame that leaves room for it. A video with no visible frame raises
    :class:`ClipError` (official bug B4 dereferenced None here).
    """
    vis = _visible_ids(visible)
    if vis.size == 0:
        raise ClipError("the video has no visible frame")
    template, first = _template_and_first(vis, num_frames, len(visible), max_gap, rng, template)
    ids = vis[vis >= first][:num_frames].tolist()
    return template, _pad(ids, num_frames)


def random_interval_clip(
    visible: Sequence[bool] | np.ndarray | torch.Tensor,
    num_frames: int,
    max_interval: int,
    max_gap: int,
    rng: np.random.Generator,
    template: int | None = None,
) -> tuple[int, list[int]]:
    """SA clip: like :func:`sequential_clip` but each step skips forward 1..``max_interval`` visible frames.

    The step is drawn uniformly among the next ``max_interval`` visible frames, so two consecutive ids are
    at most ``max_interval`` visible frames apart (invisible frames in between are skipped). Differences from
    the official sampler (documented fixes): no zero steps (the official window includes the previous frame
    and duplicates frames, B2), ``max_gap == -1`` does not alias template and search lists (B3), and a short
    clip is padded by repeating its last id instead of inserting random later frames. The template leaves
    room for ``max_interval * (num_frames - 1)`` frames when the video allows it (the official shrinks this
    average interval until it fits).
    """
    if max_interval < 1:
        raise ValueError(f"max_interval must be >= 1, got {max_interval}")
    vis = _visible_ids(visible)
    if vis.size == 0:
        raise ClipError("the video has no visible frame")
    length = len(visible)
    interval = max_interval
    while interval > 1 and interval * (num_frames - 1) + 1 > length:
        interval -= 1
    template, first = _template_and_first(vis, interval * (num_frames - 1) + 1, length, max_gap, rng, template)
    ids = [first]
    while len(ids) < num_frames:
        ahead = vis[vis > ids[-1]][:max_interval]
        if ahead.size == 0:
            break
        ids.append(int(rng.choice(ahead)))
    return template, _pad(ids, num_frames)


# AlexNet's ImageNet RGB principal components (eigenvalues, unit eigenvectors as columns), for PCA colour jitter
_PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045])
_PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                        [-0.5808, -0.0045, -0.8140],
                        [-0.5836, -0.6948, 0.4203]])


class SpatialSequenceAugment:
    """Spatial sequence augmentation (official SLT-SiamAttn): continue a short clip with augmented copies of its
    last frame, so every one of the T frames is a different view with its own ground truth.

    One call transforms a frame ``(H, W, 3)`` uint8, its box ``(4,)`` xywh pixels and optionally its mask
    ``(H, W)`` alike: a crop box of size ``(W * sx, H * sy)`` with ``sx, sy`` uniform in ``1 +- scale`` (never
    smaller than the target) centred on the image centre, moved by up to ``shift`` times its size per axis but
    keeping the target inside, is warped back to ``(W, H)`` (bilinear, mean-colour padding; masks nearest,
    zero padding); then with probability ``color`` a PCA colour jitter (AlexNet's ImageNet components, standard
    deviation 0.1) and with probability ``blur`` a random line-blur kernel (odd size 5..45, weights split between
    its middle row and column) are applied to the image only. Defaults are the official 0.1 / 0.2 / 0.2 / 0.5.
    """

    def __init__(self, shift: float = 0.1, scale: float = 0.2, blur: float = 0.2, color: float = 0.5) -> None:
        for name, value in (("shift", shift), ("scale", scale), ("blur", blur), ("color", color)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SpatialSequenceAugment: {name} must be in [0, 1], got {value}")
        self.shift, self.scale, self.blur, self.color = shift, scale, blur, color

    def __call__(self, image: np.ndarray, box: np.ndarray, rng: np.random.Generator,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(image, box, mask)`` -> augmented ``(image (H, W, 3) uint8, box (4,) float32 xywh, mask or None)``."""
        import cv2

        height, width = image.shape[:2]
        x, y, w, h = (float(v) for v in box)
        crop_w = max(width * (1.0 + rng.uniform(-self.scale, self.scale)), w)
        crop_h = max(height * (1.0 + rng.uniform(-self.scale, self.scale)), h)
        x0 = (width - crop_w) / 2.0 + rng.uniform(-self.shift, self.shift) * crop_w
        y0 = (height - crop_h) / 2.0 + rng.uniform(-self.shift, self.shift) * crop_h
        x0 = float(np.clip(x0, x + w - crop_w, x))  # keep the target inside the crop
        y0 = float(np.clip(y0, y + h - crop_h, y))
        sx, sy = width / crop_w, height / crop_h
        warp = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])
        mean = tuple(float(v) for v in image.reshape(-1, image.shape[-1]).mean(axis=0))
        out = cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=mean)
        new_box = np.array([(x - x0) * sx, (y - y0) * sy, w * sx, h * sy], dtype=np.float32)
        new_mask = None
        if mask is not None:
            new_mask = cv2.warpAffine(np.ascontiguousarray(mask), warp, (width, height), flags=cv2.INTER_NEAREST,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if rng.random() < self.color:
            jitter = _PCA_EIGVEC @ (rng.normal(0.0, 0.1, 3) * _PCA_EIGVAL) * 255.0
            out = np.clip(out.astype(np.float64) + jitter, 0, 255).astype(np.uint8)
        if rng.random() < self.blur:
            size = int(rng.choice(np.arange(5, 46, 2)))
            kernel = np.zeros((size, size))
            split = rng.random()
            kernel[:, size // 2] += split / size
            kernel[size // 2, :] += (1.0 - split) / size
            out = cv2.filter2D(out, -1, kernel)
        return out, new_box, new_mask

    def continue_clip(self, frames: np.ndarray, boxes: np.ndarray, real: int, rng: np.random.Generator,
                      masks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Replace frames ``real..T-1`` of a clip (``(T, H, W, 3)``, boxes ``(T, 4)`` xywh, masks ``(T, H, W)``)
        by independently augmented copies of frame ``real - 1``; returns new arrays (inputs untouched)."""
        frames, boxes = frames.copy(), boxes.astype(np.float32).copy()
        masks = None if masks is None else masks.copy()
        last = real - 1
        for t in range(real, len(frames)):
            frames[t], boxes[t], mask = self(frames[last], boxes[last], rng,
                                             None if masks is None else masks[last])
            if masks is not None:
                masks[t] = mask
        return frames, boxes, masks


def list_collate(batch: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Transpose a list of sample dicts into a dict of lists (no stacking: videos differ in resolution).

    A key some samples lack (``search_masks`` of clips from datasets without masks) is None for those."""
    keys = list(dict.fromkeys(key for sample in batch for key in sample))
    return {key: [sample.get(key) for sample in batch] for key in keys}


class SequenceSampler(torch.utils.data.Dataset):
    """Training clips drawn from several datasets (SS and SA of docs/method.md#sampling).

    Args:
        datasets: objects following the PyTracking dataset protocol.
        p_datasets: sampling probability per dataset (None: proportional to ``len(dataset)``); normalised.
        samples_per_epoch: ``len(self)``.
        num_frames: T, frames per clip including the init frame.
        max_gap: largest gap between the template and the first clip frame (-1: the template starts the clip).
        frame_sample_mode: ``"sequential"`` (SS only) or ``"random_interval"`` (SS + SA).
        max_interval: largest step, in visible frames, of random-interval clips.
        interval_prob: probability that a clip is random-interval in ``"random_interval"`` mode (the
            official ``prob``; its docstring states the opposite, docs/method.md#b2).
        seed: base seed. Sample ``index`` of epoch ``e`` uses ``np.random.default_rng([seed, e, index])``, so
            a sample does not depend on worker count or order, and resuming at a step reproduces it.
        min_visible: a video qualifies when it has more than this many visible frames and at least
            ``num_frames + 1`` frames (None: the official ``2 * (num_frames + 1)``). Image datasets
            (``is_video_sequence() == False``) give static clips of one frame repeated and skip the test.
        max_tries: bound on rejection sampling of qualifying videos and on re-drawing a clip after a data
            fault (unreadable frame, bad annotation), each logged with the dataset, sequence and the reader's
            error (which names the file and line) and counted in ``faults``; past the bound the last error is
            raised (a video whose annotations cannot be read is skipped like one without enough frames).
        template_mode: ``"near"`` (PyTracking's: the template is a visible frame up to ``max_gap`` frames
            before the clip, or the clip's first frame when ``max_gap == -1``) or ``"first_frame"`` (PySOT's
            ``TEMPLATE_GAP: -1``: the video's first visible frame; the clip starts anywhere).
        channel_order: ``"rgb"`` (what :mod:`slt.data` readers and PyTracking give) or ``"bgr"`` (PySOT's
            networks); images are flipped once here, in the data loader.
        allow_eval_splits: names (``get_name()``) of datasets allowed to hold sequences of an official evaluation
            split (LaSOT/TrackingNet test, GOT-10k val/test); any other such dataset is refused with a ValueError
            naming it and the split (:func:`slt.data.splits.check_training_split`).

    A sample is a dict: ``template_images`` (H, W, 3) uint8 (RGB or BGR, see ``channel_order``), ``template_annos`` (4,) xywh float32,
    ``search_images`` (T, H, W, 3) uint8, ``search_annos`` (T, 4) xywh, ``search_visible`` (T,) bool,
    ``frame_ids`` (T,), ``dataset`` (name), ``sequence`` (sequence name), ``search_class`` (str or None),
    ``num_frames`` (T), ``search_masks`` (T, H, W) uint8 0/1 when the dataset gives masks (``anno['mask']``;
    continued frames carry their augmented masks), ``key`` ``(seed, epoch, index)``: what the clip's exploration
    randomness is keyed by (:class:`slt.policy.ClipRandom`).
    """

    def __init__(
        self,
        datasets: Sequence[Any],
        p_datasets: Sequence[float] | None = None,
        samples_per_epoch: int = 1000,
        num_frames: int = 24,
        max_gap: int = 300,
        frame_sample_mode: str = "random_interval",
        max_interval: int = 10,
        interval_prob: float = 0.3,
        seed: int = 0,
        min_visible: int | None = None,
        max_tries: int = 100,
        template_mode: str = "near",
        channel_order: str = "rgb",
        allow_eval_splits: Sequence[str] = (),
        spatial_augment: "SpatialSequenceAugment | None" = None,
    ) -> None:
        if template_mode not in TEMPLATE_MODES:
            raise ValueError(f"unknown template_mode {template_mode!r}; expected one of {TEMPLATE_MODES}")
        if channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"unknown channel_order {channel_order!r}; expected one of {CHANNEL_ORDERS}")
        if not datasets:
            raise ValueError("SequenceSampler needs at least one dataset")
        for dataset in datasets:
            name = dataset.get_name()
            check_training_split(dataset, allowed=name in allow_eval_splits,
                                 allow_key=f"SequenceSampler(allow_eval_splits=[{name!r}])")
        if frame_sample_mode not in FRAME_SAMPLE_MODES:
            raise ValueError(f"unknown frame_sample_mode {frame_sample_mode!r}; expected one of {FRAME_SAMPLE_MODES}")
        if p_datasets is None and not any(len(d) for d in datasets):
            raise ClipError(f"datasets {[d.get_name() for d in datasets]} have no sequences")
        weights = np.asarray(
            [len(d) for d in datasets] if p_datasets is None else p_datasets, dtype=np.float64
        )
        if weights.shape != (len(datasets),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"p_datasets must give one non-negative weight per dataset, got {p_datasets}")
        self.datasets = list(datasets)
        self.p_datasets = weights / weights.sum()
        self.samples_per_epoch = samples_per_epoch
        self.num_frames = num_frames
        self.max_gap = max_gap
        self.frame_sample_mode = frame_sample_mode
        self.max_interval = max_interval
        self.interval_prob = interval_prob
        self.seed = seed
        self.epoch = 0
        self.min_visible = 2 * (num_frames + 1) if min_visible is None else min_visible
        self.max_tries = max_tries
        self.template_mode = template_mode
        self.channel_order = channel_order
        self.spatial_augment = spatial_augment
        self.faults = 0

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose samples ``__getitem__`` returns (call before each epoch)."""
        self.epoch = epoch

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator behind sample ``index`` of the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self.rng_for(index)
        attempt = 1
        while True:
            dataset = self.datasets[int(rng.choice(len(self.datasets), p=self.p_datasets))]
            seq_id, info = self._pick_sequence(dataset, rng)
            try:
                return {**self._load_clip(dataset, seq_id, info, rng), "key": (self.seed, self.epoch, index)}
            except (OSError, ValueError) as error:
                self.faults += 1
                if attempt >= self.max_tries:
                    raise
                logger.warning(
                    "data fault %d/%d in %s sequence %s, drawing another clip: %s",
                    attempt, self.max_tries, dataset.get_name(), _sequence_name(dataset, seq_id), error,
                )
                attempt += 1

    def _pick_sequence(self, dataset: Any, rng: np.random.Generator) -> tuple[int, dict[str, Any]]:
        count = dataset.get_num_sequences()
        if count == 0:
            raise ClipError(f"dataset {dataset.get_name()!r} has no sequences")
        for _ in range(self.max_tries):
            seq_id = int(rng.integers(count))
            try:
                info = dataset.get_sequence_info(seq_id)
            except (OSError, ValueError) as error:  # bad annotations, missing frames: skip this video
                self.faults += 1
                logger.warning("data fault in %s sequence %s, drawing another: %s", dataset.get_name(),
                               _sequence_name(dataset, seq_id), error)
                continue
            if not dataset.is_video_sequence():
                return seq_id, info
            visible = info["visible"]
            long_enough = len(visible) >= self.num_frames + 1 or self.spatial_augment is not None
            if int(visible.sum()) > self.min_visible and long_enough:
                return seq_id, info
        raise ClipError(
            f"no sequence of dataset {dataset.get_name()!r} with more than {self.min_visible} visible frames and "
            f"at least {self.num_frames + 1} frames after {self.max_tries} draws; lower min_visible or num_frames"
        )

    def _clip_ids(self, dataset: Any, visible: Any, rng: np.random.Generator) -> tuple[int, list[int]]:
        if not dataset.is_video_sequence():
            return 0, [0] * self.num_frames
        template = int(_visible_ids(visible)[0]) if self.template_mode == "first_frame" else None
        if self.frame_sample_mode == "random_interval" and rng.random() < self.interval_prob:
            return random_interval_clip(visible, self.num_frames, self.max_interval, self.max_gap, rng, template)
        return sequential_clip(visible, self.num_frames, self.max_gap, rng, template)

    def _load_clip(self, dataset: Any, seq_id: int, info: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        template_id, frame_ids = self._clip_ids(dataset, info["visible"], rng)
        template, template_anno, meta = dataset.get_frames(seq_id, [template_id], info)
        frames, annos, _ = dataset.get_frames(seq_id, frame_ids, info)
        if len({frame.shape for frame in frames}) != 1:
            raise ValueError(f"frames of one clip differ in size: {sorted({f.shape for f in frames})}")
        order = slice(None, None, -1) if self.channel_order == "bgr" else slice(None)
        images = np.stack(frames)
        boxes = np.stack([_as_array(b) for b in annos["bbox"]])
        visible = np.asarray([bool(v) for v in annos["visible"]])
        masks = None
        if "mask" in annos:
            masks = np.stack([np.asarray(m.cpu().numpy() if isinstance(m, torch.Tensor) else m).astype(np.uint8)
                              for m in annos["mask"]])
        if self.spatial_augment is not None:
            real = _real_length(frame_ids)
            if real < len(frame_ids):
                images, boxes, masks = self.spatial_augment.continue_clip(images, boxes, real, rng, masks)
                visible[real:] = visible[real - 1]
        sample = {
            "template_images": np.ascontiguousarray(np.asarray(template[0])[..., order]),
            "template_annos": _as_array(template_anno["bbox"][0]),
            "search_images": np.ascontiguousarray(images[..., order]),
            "search_annos": boxes,
            "search_visible": visible,
            "frame_ids": np.asarray(frame_ids),
            "dataset": dataset.get_name(),
            "sequence": _sequence_name(dataset, seq_id),
            "search_class": meta.get("object_class_name") if meta else None,
            "num_frames": self.num_frames,
        }
        if masks is not None:
            sample["search_masks"] = masks
        return sample


def _real_length(frame_ids: Sequence[int]) -> int:
    """Frames before the end padding of :func:`_pad` (a run of repeats of the last id)."""
    real = len(frame_ids)
    while real > 1 and frame_ids[real - 2] == frame_ids[-1]:
        real -= 1
    return real


def _as_array(box: Any) -> np.ndarray:
    return (box.cpu().numpy() if isinstance(box, torch.Tensor) else np.asarray(box)).astype(np.float32)


def _sequence_name(dataset: Any, seq_id: int) -> str:
    get_name = getattr(dataset, "get_sequence_name", None)
    return get_name(seq_id) if get_name else str(seq_id)
