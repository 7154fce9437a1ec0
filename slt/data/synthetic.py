"""Synthetic tracking videos: the embedded default dataset (no downloads).

Each video has one textured target moving over a cluttered background, with the situations where training on the
tracker's own trajectories matters: similar-looking distractors that may cross the target, occluders passing in
front of it, fast motion and sudden jumps, scale and aspect change, motion blur, illumination change and out-of-view
episodes. Everything is drawn with numpy + OpenCV from one ``numpy.random.Generator``, so the same seed and config
give identical bytes; a 160x160 video of 100 frames takes a few tens of milliseconds.

Scene, back to front: background (smooth colour field + random shapes + grain, drifting with a slow camera pan);
distractors drawn behind the target; the target; distractors drawn in front; occluders; then illumination gain and
motion blur over the whole frame. Frame 0 always shows the target fully (inside the image, nothing in front).

Visibility: ``inside`` = fraction of the target's area inside the image, ``visible fraction`` = fraction inside and
not hidden by occluders or front distractors. ``visible`` = visible fraction >= ``min_visible_fraction``;
``out_of_view`` = inside < ``min_visible_fraction``; ``occlusion`` = hidden part of the in-image area;
``cover`` = ceil(8 * visible fraction) (GOT-10k's 0..8 scale, 8 = fully visible).

:func:`write_dataset` writes videos in the raw GOT-10k, LaSOT, TrackingNet or VOT layout read by :mod:`slt.data`.
VOT ground truth: the generator's box on every frame where some of the target is inside the image, and ``0,0,0,0``
on frames where it is entirely outside. vot-toolkit 0.9 reads ``0,0,0,0`` as an empty rectangle, "target known to
be absent", which its long-term analysis scores (an empty prediction counts as correct), whereas it reads
``nan,nan,nan,nan`` as an unknown state and drops the frame from every analysis. Partial visibility goes to the
per-frame ``occlusion.tag`` and ``out-of-view.tag`` files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from slt.data.image import write_jpeg

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the files :func:`write_dataset` writes; stored in ``slt_synthetic.json``."""

FAMILIES = ("stripes", "checker", "rings", "dots", "blobs")
"""Texture families; a video's ``object_class`` is its target's family."""

LAYOUTS = ("got10k", "lasot", "trackingnet", "vot")

TRACKINGNET_CHUNKS = 12
"""Synthetic TrackingNet videos go round-robin into ``TRAIN_0`` .. ``TRAIN_11`` (all written, empty or not, as the
recipes read fixed chunks: SLT-TransT ``TRAIN_0-3``, SLT-TrDiMP ``TRAIN_6-11``)."""

OCCLUSION_TAG_THRESHOLD = 0.1
"""VOT ``occlusion.tag`` is 1 where more than this fraction of the in-image target is hidden."""

_TEX = 48  # texture side (px) of targets and distractors
_ACCEL_CORRELATION = 0.7  # AR(1) coefficient of the random acceleration: smooth, not white, motion
_BACKGROUND_PAD = 16  # background margin (px) for the camera pan
JPEG_QUALITY = 95
"""Quality of the frames :func:`write_dataset` writes: mean absolute error about 1.5 grey levels."""


@dataclass
class SyntheticConfig:
    """Knobs of :func:`generate_video`. Sizes are fractions of the frame's shorter side unless stated.

    Attributes:
        height, width: frame size in pixels.
        num_frames: frames per video (T).
        target_size: range of the target's initial side sqrt(w*h), sampled uniformly.
        size_limits: range the side stays within while it changes (random walk reflected at the limits).
        init_aspect: range of the initial aspect ratio w/h, sampled log-uniformly.
        max_aspect: w/h stays within [1/max_aspect, max_aspect].
        scale_rate: std of the per-frame change of log(side) (0 = constant size).
        aspect_rate: std of the per-frame change of log(w/h) (0 = constant aspect).
        max_speed: speed cap (px/frame) of the smooth random motion of targets and distractors.
        accel_std: std (px/frame^2) of the random acceleration, low-pass filtered (AR(1), coefficient 0.7).
        jump_prob: per-frame probability that a fast jump starts: 2-3 frames at ``jump_speed`` in a random direction.
        jump_speed: speed (px/frame) during a jump.
        num_distractors: inclusive range of the number of distractors per video, sampled uniformly. A distractor
            has the target's texture family, shape and (jittered) colours but its own random texture instance and
            size, moves independently, drifts towards the target when far from it (so it crosses the target's
            path), and is drawn behind or in front of the target (in front: it occludes it).
        distractor_attraction: strength (1/frame^2) of that drift towards the target.
        occluder_prob: probability of each of ``max_occluders`` occluder passes in a video. An occluder is an opaque
            textured bar spanning the frame or a blob, moving straight through the target's position at a random
            frame >= 1.
        max_occluders: number of occluder passes drawn with ``occluder_prob`` each.
        out_of_view_prob: probability that a video (of 10 frames or more) has an out-of-view episode, starting
            between 20 % and 60 % of the video: the target leaves through the nearest border (half the time
            entirely, otherwise with 5-25 % of it left inside), stays out 3-15 frames, and comes back (episodes may
            be cut short by the end of the video).
        min_visible_fraction: a frame is visible when at least this fraction of the target is inside the image and
            unoccluded; out of view when less than this fraction is inside.
        blur_prob: per-frame probability that a motion-blur episode (1-3 frames, whole frame, along the target's
            motion) starts.
        max_blur: longest blur kernel in pixels (kernels are 3..max_blur).
        illumination_amplitude: global gain varies smoothly (one sinusoid) within 1 +- this amplitude.
        camera_drift: std (px/frame) of the background pan velocity changes (0 = static background).
        background_shapes: number of random rectangles, circles and lines on the background.
    """

    height: int = 160
    width: int = 160
    num_frames: int = 100
    target_size: tuple[float, float] = (0.12, 0.3)
    size_limits: tuple[float, float] = (0.06, 0.45)
    init_aspect: tuple[float, float] = (0.5, 2.0)
    max_aspect: float = 3.0
    scale_rate: float = 0.02
    aspect_rate: float = 0.015
    max_speed: float = 4.0
    accel_std: float = 0.8
    jump_prob: float = 0.02
    jump_speed: float = 12.0
    num_distractors: tuple[int, int] = (0, 3)
    distractor_attraction: float = 0.01
    occluder_prob: float = 0.4
    max_occluders: int = 2
    out_of_view_prob: float = 0.3
    min_visible_fraction: float = 0.3
    blur_prob: float = 0.03
    max_blur: int = 9
    illumination_amplitude: float = 0.25
    camera_drift: float = 0.3
    background_shapes: int = 12

    def __post_init__(self) -> None:
        if self.height < 32 or self.width < 32 or self.num_frames < 1:
            raise ValueError(f"SyntheticConfig: need height, width >= 32 and num_frames >= 1, got {self}")
        lo, hi = self.target_size
        if not 0 < lo <= hi <= self.size_limits[1] or self.size_limits[0] > lo:
            raise ValueError(f"SyntheticConfig: target_size {self.target_size} must lie within size_limits "
                             f"{self.size_limits}")
        if not 0 <= self.num_distractors[0] <= self.num_distractors[1]:
            raise ValueError(f"SyntheticConfig: bad num_distractors {self.num_distractors}")


@dataclass
class SyntheticVideo:
    """One generated video. T = number of frames, D = number of distractors.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        boxes: (T, 4) float32 xywh, pixels, 0-based top-left: the full (unoccluded) target box clipped to the
            image; all zeros on frames where the target is entirely outside the image.
        visible: (T,) bool, see the module docstring.
        occlusion: (T,) float32 in [0, 1], hidden fraction of the target's in-image area.
        out_of_view: (T,) bool, less than ``min_visible_fraction`` of the target inside the image.
        cut_by_image: (T,) bool, the full target box extends beyond the image.
        cover: (T,) int64 in 0..8, ceil(8 * visible fraction).
        object_class: the target's texture family (one of :data:`FAMILIES`).
        distractor_boxes: (T, D, 4) float32 xywh of the distractors, not clipped.
    """

    frames: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    occlusion: np.ndarray
    out_of_view: np.ndarray
    cut_by_image: np.ndarray
    cover: np.ndarray
    object_class: str
    distractor_boxes: np.ndarray


@dataclass
class _Sprite:
    """A textured object: premultiplied RGBA texture and its per-frame pose (centre, size, angle)."""

    texture: np.ndarray  # (h, w, 4) float32, RGB premultiplied by alpha, alpha in [0, 1]
    centers: np.ndarray  # (T, 2) x, y in pixels (continuous coordinates)
    sizes: np.ndarray  # (T, 2) w, h in pixels
    angle: float = 0.0  # radians, constant
    first_frame: int = 0  # not drawn before this frame


def generate_video(seed: int, config: SyntheticConfig | None = None) -> SyntheticVideo:
    """Generate one video; deterministic in ``(seed, config)``."""
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    height, width, num_frames = cfg.height, cfg.width, cfg.num_frames

    family = str(rng.choice(FAMILIES))
    shape = str(rng.choice(("ellipse", "rect", "rounded")))
    colors = _color_pair(rng)
    target = _Sprite(_sprite_texture(rng, family, shape, colors), *_target_track(rng, cfg))

    n_distractors = int(rng.integers(cfg.num_distractors[0], cfg.num_distractors[1] + 1))
    back, front = [], []
    for _ in range(n_distractors):
        jitter = np.clip(colors + rng.normal(0.0, 20.0, colors.shape), 0, 255)
        sprite = _Sprite(_sprite_texture(rng, family, shape, jitter), *_distractor_track(rng, cfg, target))
        overlaps_at_start = _boxes_overlap(_xywh(sprite)[0], _xywh(target)[0])
        (front if rng.random() < 0.5 and not overlaps_at_start else back).append(sprite)
    occluders = [_occluder(rng, cfg, target) for _ in range(cfg.max_occluders) if rng.random() < cfg.occluder_prob]
    distractors = back + front

    background = _background(rng, cfg)
    offsets = _camera_path(rng, cfg)
    gains = _illumination(rng, cfg)
    blur_kernels = _blur_schedule(rng, cfg, target.centers)

    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    fractions = np.empty((num_frames, 3), dtype=np.float64)  # inside, occlusion, visible
    for t in range(num_frames):
        ox, oy = offsets[t]
        frame = background[oy:oy + height, ox:ox + width].copy()
        for sprite in back:
            _draw(frame, sprite, t)
        target_roi = _draw(frame, target, t, full=True)
        cover_mask = np.zeros(target_roi[2].shape, dtype=np.float32)
        for sprite in front + occluders:
            if t >= sprite.first_frame:
                _accumulate_cover(cover_mask, target_roi, _draw(frame, sprite, t))
        fractions[t] = _fractions(target_roi, cover_mask, height, width)
        if blur_kernels[t] is not None:
            frame = cv2.filter2D(frame, -1, blur_kernels[t], borderType=cv2.BORDER_REFLECT)
        frames[t] = cv2.convertScaleAbs(frame, alpha=float(gains[t]))  # gain, round, saturate to uint8

    inside, occlusion, visible_fraction = fractions.T
    full_boxes = _xywh(target)
    cut_by_image = ((full_boxes[:, :2] < 0) | (full_boxes[:, :2] + full_boxes[:, 2:] > [width, height])).any(axis=1)
    distractor_boxes = np.zeros((num_frames, n_distractors, 4), dtype=np.float32)
    for d, sprite in enumerate(distractors):
        distractor_boxes[:, d] = _xywh(sprite)
    logger.debug("video seed=%d: class=%s distractors=%d occluders=%d", seed, family, n_distractors, len(occluders))
    return SyntheticVideo(
        frames=frames,
        boxes=_clip_boxes(full_boxes, width, height),
        visible=visible_fraction >= cfg.min_visible_fraction,
        occlusion=occlusion.astype(np.float32),
        out_of_view=inside < cfg.min_visible_fraction,
        cut_by_image=cut_by_image,
        cover=np.clip(np.ceil(8.0 * visible_fraction - 1e-6), 0, 8).astype(np.int64),
        object_class=family,
        distractor_boxes=distractor_boxes,
    )


# -- motion ------------------------------------------------------------------------------------------------------
def _target_track(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """Target centres (T, 2) and sizes (T, 2): smooth random motion, jumps, walls, optional out-of-view episode."""
    num_frames, dims = cfg.num_frames, np.array([cfg.width, cfg.height], dtype=np.float64)
    sizes = _size_track(rng, cfg)
    center = rng.uniform(sizes[0] / 2, dims - sizes[0] / 2)
    velocity = _random_unit(rng) * rng.uniform(0, cfg.max_speed)
    accel = np.zeros(2)
    centers = np.empty((num_frames, 2))
    centers[0] = center

    episode_start = -1
    if rng.random() < cfg.out_of_view_prob and num_frames >= 10:
        episode_start = int(rng.integers(max(1, int(0.2 * num_frames)), max(2, int(0.6 * num_frames))))
    phase, jump_left, jump_dir = "normal", 0, np.zeros(2)
    axis, sign, outside_frac, stay, speed, goal = 0, 1.0, 0.0, 0, 0.0, 0.0
    for t in range(1, num_frames):
        half = sizes[t] / 2
        accel = _ACCEL_CORRELATION * accel + math.sqrt(1 - _ACCEL_CORRELATION**2) * rng.normal(0, cfg.accel_std, 2)
        if phase == "normal" and t == episode_start:
            # leave through the nearest border until outside_frac of the target's extent is beyond it
            distances = np.array([center[0], dims[0] - center[0], center[1], dims[1] - center[1]])
            nearest = int(np.argmin(distances))
            axis, sign = nearest // 2, (-1.0 if nearest % 2 == 0 else 1.0)
            outside_frac = rng.uniform(1.1, 1.5) if rng.random() < 0.5 else rng.uniform(0.75, 0.95)
            distance = distances[nearest] + (outside_frac - 0.5) * sizes[t][axis]
            speed = max(cfg.max_speed, distance / int(rng.integers(6, 15)))
            stay = int(rng.integers(3, 16))
            phase = "exit"
        if phase == "normal":
            if jump_left == 0 and rng.random() < cfg.jump_prob:
                jump_left, jump_dir = int(rng.integers(2, 4)), _random_unit(rng)
            if jump_left > 0:
                velocity, jump_left = jump_dir * cfg.jump_speed, jump_left - 1
            else:
                velocity = _cap(velocity + accel, cfg.max_speed)
            center = center + velocity
            center, velocity = _reflect(center, velocity, half, dims - half)
        else:
            # the other axis keeps moving smoothly inside the image
            other = 1 - axis
            velocity[other] = np.clip(velocity[other] + accel[other], -cfg.max_speed, cfg.max_speed)
            center[other] = np.clip(center[other] + velocity[other], half[other], dims[other] - half[other])
            outside = dims[axis] / 2 + sign * (dims[axis] / 2 + (outside_frac - 0.5) * sizes[t][axis])
            if phase == "exit":
                center[axis] = _step_towards(center[axis], outside, speed)
                phase = "outside" if center[axis] == outside else phase
            elif phase == "outside":
                center[axis] = outside
                stay -= 1
                if stay == 0:
                    goal = dims[axis] / 2 + sign * rng.uniform(0.0, 0.8) * (dims[axis] / 2 - half[axis])
                    phase = "return"
            else:  # return
                center[axis] = _step_towards(center[axis], goal, speed)
                if center[axis] == goal:
                    velocity[axis] = -sign * min(speed, cfg.max_speed)
                    phase = "normal"
        centers[t] = center
    return centers, sizes


def _size_track(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(T, 2) w, h: log-side and log-aspect random walks reflected at their limits."""
    side = min(cfg.height, cfg.width)
    log_side_lim = np.log(np.array(cfg.size_limits) * side)
    log_aspect_lim = np.array([-1.0, 1.0]) * math.log(cfg.max_aspect)
    log_side = math.log(rng.uniform(*cfg.target_size) * side)
    log_aspect = rng.uniform(*np.log(cfg.init_aspect))
    steps = rng.normal(0.0, 1.0, (cfg.num_frames, 2)) * np.array([cfg.scale_rate, cfg.aspect_rate])
    sizes = np.empty((cfg.num_frames, 2))
    max_wh = 0.95 * np.array([cfg.width, cfg.height])
    for t in range(cfg.num_frames):
        if t > 0:
            log_side = _reflect_scalar(log_side + steps[t, 0], *log_side_lim)
            log_aspect = _reflect_scalar(log_aspect + steps[t, 1], *log_aspect_lim)
        s, r = math.exp(log_side), math.exp(log_aspect / 2)
        sizes[t] = np.minimum([s * r, s / r], max_wh)
    return sizes


def _distractor_track(
    rng: np.random.Generator, cfg: SyntheticConfig, target: _Sprite
) -> tuple[np.ndarray, np.ndarray]:
    """Distractor centres (T, 2) and constant sizes (T, 2): random motion plus a drift towards a far target."""
    dims = np.array([cfg.width, cfg.height], dtype=np.float64)
    side = math.sqrt(float(np.prod(target.sizes[0]))) * rng.uniform(0.7, 1.3)
    ratio = math.exp(rng.uniform(*np.log(cfg.init_aspect)) / 2)
    size = np.minimum([side * ratio, side / ratio], 0.95 * dims)
    half = size / 2
    attraction = rng.uniform(0.0, cfg.distractor_attraction)
    center = rng.uniform(half, dims - half)
    velocity = _random_unit(rng) * rng.uniform(0, cfg.max_speed)
    accel = np.zeros(2)
    centers = np.empty((cfg.num_frames, 2))
    centers[0] = center
    for t in range(1, cfg.num_frames):
        accel = _ACCEL_CORRELATION * accel + math.sqrt(1 - _ACCEL_CORRELATION**2) * rng.normal(0, cfg.accel_std, 2)
        to_target = target.centers[t - 1] - center
        if np.linalg.norm(to_target) > 2 * side:
            accel = accel + attraction * to_target
        velocity = _cap(velocity + accel, cfg.max_speed)
        center, velocity = _reflect(center + velocity, velocity, half, dims - half)
        centers[t] = center
    return centers, np.broadcast_to(size, (cfg.num_frames, 2)).copy()


def _occluder(rng: np.random.Generator, cfg: SyntheticConfig, target: _Sprite) -> _Sprite:
    """An opaque bar or blob moving straight through the target's centre at a random frame >= 1."""
    num_frames = cfg.num_frames
    t_cross = min(int(rng.integers(max(1, num_frames // 10), max(2, num_frames))), num_frames - 1)
    target_side = math.sqrt(float(np.prod(target.sizes[t_cross])))
    angle = rng.uniform(0, math.pi)
    colors = _color_pair(rng)
    family = str(rng.choice(FAMILIES))
    if rng.random() < 0.6:  # bar spanning the frame, moving across its long axis
        size = np.array([2.0 * max(cfg.width, cfg.height), rng.uniform(0.4, 1.2) * target_side])
        direction = np.array([-math.sin(angle), math.cos(angle)])
        texture = _sprite_texture(rng, family, "rect", colors, (16, 96))
        speed = rng.uniform(2.0, 5.0)
    else:
        size = rng.uniform(0.8, 1.6, 2) * target_side
        direction = _random_unit(rng)
        texture = _sprite_texture(rng, family, "ellipse", colors)
        speed = rng.uniform(2.0, 6.0)
    steps = (np.arange(num_frames) - t_cross)[:, None]
    centers = target.centers[t_cross] + steps * speed * direction
    return _Sprite(texture, centers, np.broadcast_to(size, (num_frames, 2)).copy(), angle=angle, first_frame=1)


def _random_unit(rng: np.random.Generator) -> np.ndarray:
    phi = rng.uniform(0, 2 * math.pi)
    return np.array([math.cos(phi), math.sin(phi)])


def _cap(velocity: np.ndarray, max_speed: float) -> np.ndarray:
    speed = float(np.linalg.norm(velocity))
    return velocity * (max_speed / speed) if speed > max_speed else velocity


def _reflect(
    center: np.ndarray, velocity: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounce off the walls: keep ``low <= center <= high`` per axis, flipping the velocity at a wall."""
    center, velocity = center.copy(), velocity.copy()
    for k in range(2):
        if center[k] < low[k]:
            center[k], velocity[k] = min(2 * low[k] - center[k], high[k]), abs(velocity[k])
        elif center[k] > high[k]:
            center[k], velocity[k] = max(2 * high[k] - center[k], low[k]), -abs(velocity[k])
    return center, velocity


def _reflect_scalar(value: float, low: float, high: float) -> float:
    if value < low:
        return min(2 * low - value, high)
    if value > high:
        return max(2 * high - value, low)
    return value


def _step_towards(value: float, goal: float, speed: float) -> float:
    return goal if abs(goal - value) <= speed else value + math.copysign(speed, goal - value)


# -- appearance --------------------------------------------------------------------------------------------------
def _color_pair(rng: np.random.Generator) -> np.ndarray:
    """(2, 3) float RGB colours at least 100 apart (Euclidean), so the texture has contrast."""
    first = rng.uniform(0, 255, 3)
    second = rng.uniform(0, 255, 3)
    gap = second - first
    norm = float(np.linalg.norm(gap))
    if norm < 100:
        direction = gap / norm if norm > 0 else np.ones(3) / math.sqrt(3)
        second = np.clip(first + 100 * direction, 0, 255)
        if np.linalg.norm(second - first) < 100:  # clipped at the cube's side: go the other way
            second = np.clip(first - 100 * direction, 0, 255)
    return np.stack([first, second])


def _pattern(rng: np.random.Generator, family: str, h: int, w: int) -> np.ndarray:
    """(h, w) float32 mixing weights in [0, 1] of the family's random pattern."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    u = xx * math.cos(theta) + yy * math.sin(theta)
    v = -xx * math.sin(theta) + yy * math.cos(theta)
    if family == "stripes":
        return 0.5 + 0.5 * np.sin(2 * math.pi * u / rng.uniform(6, 14) + rng.uniform(0, 2 * math.pi))
    if family == "checker":
        cell = rng.uniform(6, 14)
        return ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    if family == "rings":
        radius = np.hypot(xx - rng.uniform(0.3, 0.7) * w, yy - rng.uniform(0.3, 0.7) * h)
        return 0.5 + 0.5 * np.sin(2 * math.pi * radius / rng.uniform(5, 12))
    if family == "dots":
        canvas = np.zeros((h, w), dtype=np.float32)
        for _ in range(int(rng.integers(5, 12))):
            center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(canvas, center, int(rng.integers(2, 7)), 1.0, -1)
        return canvas
    if family == "blobs":
        low = rng.random((4, 4)).astype(np.float32)
        smooth = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
        return 1.0 / (1.0 + np.exp(-12.0 * (smooth - 0.5)))
    raise ValueError(f"unknown texture family {family!r}")


def _shape_alpha(shape: str, h: int, w: int) -> np.ndarray:
    """(h, w) float32 anti-aliased alpha of a shape touching all four sides of the texture."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    px, py = xx + 0.5 - w / 2, yy + 0.5 - h / 2  # pixel centres relative to the texture centre
    if shape == "rect":
        return np.ones((h, w), dtype=np.float32)
    if shape == "ellipse":
        dist = np.hypot(px / (w / 2), py / (h / 2))
        return np.clip((1.0 - dist) * min(w, h) / 2 + 0.5, 0.0, 1.0)
    if shape == "rounded":
        radius = 0.3 * min(w, h)
        qx, qy = np.abs(px) - (w / 2 - radius), np.abs(py) - (h / 2 - radius)
        dist = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - radius
        return np.clip(0.5 - dist, 0.0, 1.0)
    raise ValueError(f"unknown shape {shape!r}")


def _sprite_texture(
    rng: np.random.Generator, family: str, shape: str, colors: np.ndarray, hw: tuple[int, int] = (_TEX, _TEX)
) -> np.ndarray:
    """(h, w, 4) float32 premultiplied RGBA: the family's pattern in two colours, static grain, shape alpha."""
    h, w = hw
    weight = _pattern(rng, family, h, w)[..., None]
    rgb = colors[0] * (1 - weight) + colors[1] * weight + rng.normal(0.0, 2.0, (h, w, 3))
    rgb = cv2.GaussianBlur(np.clip(rgb, 0, 255).astype(np.float32), (3, 3), 0.7)  # anti-alias when downscaled
    alpha = _shape_alpha(shape, h, w)[..., None]
    return np.concatenate([rgb * alpha, alpha], axis=2).astype(np.float32)


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(H + 2 pad, W + 2 pad, 3) float32: smooth colour field, random shapes, grain."""
    h, w = cfg.height + 2 * _BACKGROUND_PAD, cfg.width + 2 * _BACKGROUND_PAD
    low = rng.uniform(30, 225, (4, 4, 3)).astype(np.float32)
    canvas = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    side = min(h, w)
    for _ in range(cfg.background_shapes):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        extent = int(rng.integers(side // 20, side // 5))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(canvas, (x, y), (x + extent, y + int(rng.integers(side // 20, side // 5))), color, -1)
        elif kind == 1:
            cv2.circle(canvas, (x, y), extent // 2, color, -1)
        else:
            cv2.line(canvas, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), color, int(rng.integers(1, 4)))
    canvas = cv2.GaussianBlur(canvas, (3, 3), 0.8) + rng.normal(0.0, 1.0, (h, w, 3)).astype(np.float32)
    return np.clip(canvas, 0, 255)


def _camera_path(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(T, 2) int background crop offsets: a slow random pan inside the padding, frame 0 centred."""
    offsets = np.empty((cfg.num_frames, 2), dtype=np.int64)
    position, velocity = np.full(2, float(_BACKGROUND_PAD)), np.zeros(2)
    for t in range(cfg.num_frames):
        if t > 0:
            velocity = np.clip(velocity + rng.normal(0.0, cfg.camera_drift, 2), -1.5, 1.5)
            position, velocity = _reflect(position + velocity, velocity, np.zeros(2), np.full(2, 2.0 * _BACKGROUND_PAD))
        offsets[t] = np.round(position)
    return offsets


def _illumination(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """(T,) float32 global gains: one slow sinusoid of amplitude ``illumination_amplitude`` around 1."""
    period = rng.uniform(0.5, 2.0) * max(cfg.num_frames, 2)
    phase = rng.uniform(0, 2 * math.pi)
    t = np.arange(cfg.num_frames)
    return (1.0 + cfg.illumination_amplitude * np.sin(2 * math.pi * t / period + phase)).astype(np.float32)


def _blur_schedule(rng: np.random.Generator, cfg: SyntheticConfig, centers: np.ndarray) -> list[np.ndarray | None]:
    """Per frame a normalised line kernel along the target's motion, or None (no blur; frame 0 never blurred)."""
    kernels: list[np.ndarray | None] = [None] * cfg.num_frames
    left, kernel = 0, None
    for t in range(1, cfg.num_frames):
        if left == 0 and cfg.max_blur >= 3 and rng.random() < cfg.blur_prob:
            left = int(rng.integers(1, 4))
            length = int(rng.integers(1, cfg.max_blur // 2 + 1)) * 2 + 1  # odd, 3..max_blur
            motion = centers[t] - centers[t - 1]
            phi = math.atan2(motion[1], motion[0]) if np.linalg.norm(motion) > 0.5 else rng.uniform(0, math.pi)
            kernel = np.zeros((length, length), dtype=np.float32)
            r = (length - 1) / 2
            dx, dy = r * math.cos(phi), r * math.sin(phi)
            cv2.line(kernel, (round(r - dx), round(r - dy)), (round(r + dx), round(r + dy)), 1.0, 1)
            kernel /= kernel.sum()
        if left > 0:
            kernels[t], left = kernel, left - 1
    return kernels


# -- rendering ---------------------------------------------------------------------------------------------------
_Layer = tuple[int, int, np.ndarray]  # (x0, y0, alpha (h, w)) of a drawn sprite, see _draw


def _xywh(sprite: _Sprite) -> np.ndarray:
    """Boxes of an unrotated sprite: (T, 4) xywh, not clipped."""
    return np.concatenate([sprite.centers - sprite.sizes / 2, sprite.sizes], axis=1)


def _boxes_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3])


def _clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip (T, 4) xywh boxes to the image -> (T, 4) float32; all zeros where nothing of a box is inside."""
    x1, y1 = np.maximum(boxes[:, 0], 0.0), np.maximum(boxes[:, 1], 0.0)
    x2, y2 = np.minimum(boxes[:, 0] + boxes[:, 2], width), np.minimum(boxes[:, 1] + boxes[:, 3], height)
    clipped = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    clipped[(x2 <= x1) | (y2 <= y1)] = 0.0
    return clipped.astype(np.float32)


def _draw(frame: np.ndarray, sprite: _Sprite, t: int, full: bool = False) -> _Layer:
    """Alpha-composite ``sprite`` at frame ``t`` onto ``frame`` (H, W, 3) float32, in place.

    Returns ``(x0, y0, alpha)``: the sprite's alpha (h, w) float32 with its top-left pixel at (x0, y0) in the frame.
    With ``full`` the alpha covers the whole sprite, also outside the image; otherwise only its in-image part.
    """
    height, width = frame.shape[:2]
    (cx, cy), (w, h) = sprite.centers[t], sprite.sizes[t]
    th, tw = sprite.texture.shape[:2]
    ca, sa = math.cos(sprite.angle), math.sin(sprite.angle)
    linear = np.array([[ca * w / tw, -sa * h / th], [sa * w / tw, ca * h / th]])
    # continuous coords: p = c + linear @ (q - texture centre); pixel centres sit at +0.5 in both spaces
    offset = linear @ np.array([0.5 - tw / 2, 0.5 - th / 2]) + np.array([cx - 0.5, cy - 0.5])
    ex, ey = abs(ca) * w / 2 + abs(sa) * h / 2, abs(sa) * w / 2 + abs(ca) * h / 2
    x0, y0, x1, y1 = math.floor(cx - ex), math.floor(cy - ey), math.ceil(cx + ex), math.ceil(cy + ey)
    if not full:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return x0, y0, np.zeros((0, 0), dtype=np.float32)
    matrix = np.hstack([linear, (offset - np.array([x0, y0]))[:, None]])
    warped = cv2.warpAffine(sprite.texture, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if fx1 > fx0 and fy1 > fy0:
        part = warped[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        roi = frame[fy0:fy1, fx0:fx1]
        # roi * (1 - alpha) + premultiplied rgb; OpenCV's per-channel ops are ~10x faster than numpy broadcasting
        transparency = cv2.cvtColor(np.ascontiguousarray(1.0 - part[..., 3]), cv2.COLOR_GRAY2RGB)
        roi[:] = cv2.add(cv2.multiply(roi, transparency), cv2.cvtColor(part, cv2.COLOR_RGBA2RGB))
    return x0, y0, warped[..., 3]


def _accumulate_cover(cover: np.ndarray, target: _Layer, layer: _Layer) -> None:
    """Add a front layer's alpha to ``cover`` (the target's ROI): cover = 1 - (1 - cover)(1 - alpha)."""
    tx, ty, _ = target
    lx, ly, alpha = layer
    x0, y0 = max(tx, lx), max(ty, ly)
    x1, y1 = min(tx + cover.shape[1], lx + alpha.shape[1]), min(ty + cover.shape[0], ly + alpha.shape[0])
    if x1 > x0 and y1 > y0:
        region = cover[y0 - ty:y1 - ty, x0 - tx:x1 - tx]
        region[:] = 1.0 - (1.0 - region) * (1.0 - alpha[y0 - ly:y1 - ly, x0 - lx:x1 - lx])


def _fractions(target: _Layer, cover: np.ndarray, height: int, width: int) -> np.ndarray:
    """(inside, occlusion, visible) fractions of the target at one frame, see the module docstring."""
    tx, ty, alpha = target
    area = float(alpha.sum())
    if area <= 0:
        return np.zeros(3)
    x0, y0 = max(-tx, 0), max(-ty, 0)
    x1, y1 = min(width - tx, alpha.shape[1]), min(height - ty, alpha.shape[0])
    if x1 <= x0 or y1 <= y0:
        return np.zeros(3)
    inner = alpha[y0:y1, x0:x1]
    inside = float(inner.sum())
    hidden = float((inner * cover[y0:y1, x0:x1]).sum())
    occlusion = hidden / inside if inside > 0 else 0.0
    return np.array([inside / area, occlusion, (inside - hidden) / area])


# -- writers -----------------------------------------------------------------------------------------------------
def write_dataset(
    out_dir: str | os.PathLike,
    layout: str,
    num_videos: int,
    num_frames: int,
    seed: int,
    config: SyntheticConfig | None = None,
    progress: bool = True,
) -> Path:
    """Generate ``num_videos`` videos of ``num_frames`` frames and write them in a raw dataset layout.

    ``layout``: ``'got10k'`` (``out_dir/train/``, read by :class:`slt.data.Got10k` and PyTracking's ``Got10k``),
    ``'lasot'`` (``out_dir/<class>/<class>-<k>/``, :class:`slt.data.Lasot`), ``'trackingnet'``
    (``out_dir/TRAIN_<i>/anno/<name>.txt`` and ``TRAIN_<i>/frames/<name>/<k>.jpg``, ``k`` 0-based: the real
    dataset's layout, read by :class:`slt.data.TrackingNet` and PyTracking's ``TrackingNet``; video ``k`` in chunk
    ``k % 12``, see :data:`TRACKINGNET_CHUNKS`) or ``'vot'`` (``out_dir/<name>/``, :class:`slt.data.VOTSequences`
    and vot-toolkit). ``num_frames`` overrides ``config.num_frames``. Video ``k``
    (0-based) uses seed ``seed * 100003 + k``. Also writes ``out_dir/slt_synthetic.json`` (format version and
    generation parameters). Returns the root the matching reader takes.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"write_dataset: layout must be one of {LAYOUTS}, got {layout!r}")
    cfg = dataclasses.replace(config or SyntheticConfig(), num_frames=num_frames)
    out_dir = Path(out_dir)
    root = out_dir / "train" if layout == "got10k" else out_dir
    root.mkdir(parents=True, exist_ok=True)
    if layout == "trackingnet":
        for chunk in range(TRACKINGNET_CHUNKS):
            for part in ("anno", "frames"):
                (root / f"TRAIN_{chunk}" / part).mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    per_class: dict[str, int] = {}
    for k in tqdm(range(num_videos), desc=f"synthetic {layout}", disable=not progress):
        video_seed = seed * 100003 + k
        video = generate_video(video_seed, cfg)
        if layout == "got10k":
            names.append(f"GOT-10k_Train_{k + 1:06d}")
            _write_got10k_sequence(root / names[-1], video, video_seed)
        elif layout == "lasot":
            per_class[video.object_class] = per_class.get(video.object_class, 0) + 1
            name = f"{video.object_class}-{per_class[video.object_class]}"
            _write_lasot_sequence(root / video.object_class / name, video)
        elif layout == "trackingnet":
            _write_trackingnet_sequence(root / f"TRAIN_{k % TRACKINGNET_CHUNKS}", f"synthetic_{k + 1:06d}", video)
        else:
            names.append(f"synthetic-{k + 1:04d}")
            _write_vot_sequence(root / names[-1], names[-1], video)
    if names:
        (root / "list.txt").write_text("".join(f"{name}\n" for name in names))
    params = {"format_version": FORMAT_VERSION, "layout": layout, "num_videos": num_videos,
              "num_frames": num_frames, "seed": seed, "config": dataclasses.asdict(cfg)}
    (out_dir / "slt_synthetic.json").write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %d synthetic %s videos to %s", num_videos, layout, root)
    return root


def is_written_dataset(
    out_dir: str | os.PathLike,
    layout: str,
    num_videos: int,
    num_frames: int,
    seed: int,
    config: SyntheticConfig | None = None,
) -> bool:
    """True when ``out_dir`` holds exactly what :func:`write_dataset` with these arguments writes, complete.

    Checks ``slt_synthetic.json`` (format version and every generation parameter), the number of videos, and per
    video its ground truth (``num_frames`` lines) and all ``num_frames`` frame files (non-empty). False for a
    different spec, an interrupted write, or a deleted or truncated file; never raises for a damaged folder.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"is_written_dataset: layout must be one of {LAYOUTS}, got {layout!r}")
    out_dir = Path(out_dir)
    cfg = dataclasses.replace(config or SyntheticConfig(), num_frames=num_frames)
    expected = {"format_version": FORMAT_VERSION, "layout": layout, "num_videos": num_videos,
                "num_frames": num_frames, "seed": seed, "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}
    try:
        recorded = json.loads((out_dir / "slt_synthetic.json").read_text())
    except (OSError, ValueError):
        return False
    if any(recorded.get(key) != value for key, value in expected.items()):
        return False
    if layout == "lasot":
        videos = [(folder, folder / "img") for folder in sorted(out_dir.glob("*/*-*")) if folder.is_dir()]
    elif layout == "trackingnet":
        annotations = sorted(out_dir.glob("TRAIN_*/anno/*.txt"))
        if len(annotations) != num_videos:
            return False
        return all(len(path.read_text().splitlines()) == num_frames
                   and all((path.parent.parent / "frames" / path.stem / f"{k}.jpg").is_file()
                           and (path.parent.parent / "frames" / path.stem / f"{k}.jpg").stat().st_size > 0
                           for k in range(num_frames))
                   for path in annotations)
    else:
        root = out_dir / "train" if layout == "got10k" else out_dir
        try:
            names = (root / "list.txt").read_text().split()
        except OSError:
            return False
        videos = [(root / name, root / name if layout == "got10k" else root / name / "color") for name in names]
    if len(videos) != num_videos:
        return False
    for folder, frames in videos:
        truth = folder / "groundtruth.txt"
        if not truth.is_file() or len(truth.read_text().splitlines()) != num_frames:
            return False
        for k in range(1, num_frames + 1):
            frame = frames / f"{k:08d}.jpg"
            if not frame.is_file() or frame.stat().st_size == 0:
                return False
    return True


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _box_lines(boxes: np.ndarray) -> str:
    return "".join(",".join(_fmt(float(v)) for v in box) + "\n" for box in boxes)


def _flag_lines(flags: np.ndarray) -> str:
    return "".join(f"{int(v)}\n" for v in flags)


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    """Frames as ``00000001.jpg ...`` (1-based, the GOT-10k, LaSOT and VOT naming)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        write_jpeg(folder / f"{i + 1:08d}.jpg", frame, quality=JPEG_QUALITY)


def _write_got10k_sequence(folder: Path, video: SyntheticVideo, video_seed: int) -> None:
    _write_frames(folder, video.frames)
    (folder / "groundtruth.txt").write_text(_box_lines(video.boxes))
    (folder / "absence.label").write_text(_flag_lines(~video.visible))
    (folder / "cover.label").write_text(_flag_lines(video.cover))
    (folder / "cut_by_image.label").write_text(_flag_lines(video.cut_by_image))
    height, width = video.frames.shape[1:3]
    seconds = len(video.frames) / 30
    # PyTracking's Got10k reads the five class lines by position (lines 6-10): keep this order
    (folder / "meta_info.ini").write_text(
        "[METAINFO]\n"
        f"url: synthetic://slt/{video_seed}\n"
        "begin: 00:00:00\n"
        f"end: {int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}\n"
        "anno_fps: 30Hz\n"
        f"object_class: {video.object_class}\n"
        "motion_class: moving\n"
        "major_class: synthetic\n"
        "root_class: synthetic\n"
        "motion_adverb: randomly\n"
        f"resolution: ({width}, {height})\n"
    )


def _write_lasot_sequence(folder: Path, video: SyntheticVideo) -> None:
    _write_frames(folder / "img", video.frames)
    (folder / "groundtruth.txt").write_text(_box_lines(video.boxes))
    full_occlusion = ~video.visible & ~video.out_of_view
    (folder / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in full_occlusion) + "\n")
    (folder / "out_of_view.txt").write_text(",".join(str(int(v)) for v in video.out_of_view) + "\n")
    (folder / "nlp.txt").write_text(f"a {video.object_class} textured object moving among look-alikes\n")


def _write_trackingnet_sequence(chunk: Path, name: str, video: SyntheticVideo) -> None:
    """TrackingNet names frames ``0.jpg, 1.jpg, ...`` (0-based, unpadded) and has no visibility flags."""
    folder = chunk / "frames" / name
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(video.frames):
        write_jpeg(folder / f"{i}.jpg", frame, quality=JPEG_QUALITY)
    (chunk / "anno" / f"{name}.txt").write_text(_box_lines(video.boxes))


def _write_vot_sequence(folder: Path, name: str, video: SyntheticVideo) -> None:
    _write_frames(folder / "color", video.frames)
    (folder / "sequence").write_text(f"channels.color=color/%08d.jpg\nfps=30\nformat=default\nname={name}\n")
    (folder / "groundtruth.txt").write_text(_box_lines(video.boxes))
    (folder / "anchor.value").write_text(_flag_lines(vot_anchors(video.visible)))
    (folder / "occlusion.tag").write_text(_flag_lines(video.occlusion > OCCLUSION_TAG_THRESHOLD))
    (folder / "out-of-view.tag").write_text(_flag_lines(video.out_of_view))


def vot_anchors(visible: np.ndarray, spacing: int = 50) -> np.ndarray:
    """``(T,) bool`` visibility -> ``(T,) bool`` VOT anchor frames (``anchor.value``, where the multistart
    experiment starts trackers): frame 0, then the first visible frame at or after every ``min(spacing, T // 5)``
    frames (VOT2020 spaces anchors about 50 frames apart; short videos get five). The one picker of this project:
    ``slt make-data --layout vot`` and ``slt vot-workspace``'s GOT-10k / LaSOT conversion both use it."""
    marks = np.zeros(len(visible), dtype=bool)
    marks[0] = True
    step = max(1, min(spacing, len(visible) // 5))
    for start in range(step, len(visible), step):
        found = np.flatnonzero(visible[start:])
        if found.size:
            marks[start + found[0]] = True
    return marks
