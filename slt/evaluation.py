"""One-pass evaluation (OPE) of a batched tracker on a dataset in the PyTracking protocol.

Videos are tracked in lock-step batches with ``batch_track(..., "argmax")`` (the greedy rows, i.e. the
test-time tracker's decisions) to use the CPU's vector units; a video shorter than the longest of its batch
repeats its last frame and those extra results are dropped. Scores: :func:`slt.metrics.evaluate_ope` under each
protocol asked for (``'lasot'`` by default: per-video success curves averaged, frame 0 included, invisible frames
failures, comparable with published LaSOT tables; see :data:`slt.metrics.PROTOCOLS`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from slt.metrics import PROTOCOLS, evaluate_ope
from slt.rollout import BatchTracker


def track_videos(
    tracker: BatchTracker, videos: Sequence[tuple[np.ndarray, np.ndarray]]
) -> list[np.ndarray]:
    """Track ``videos`` (``(T_i, H, W, 3)`` uint8 frames, ``(4,)`` xywh initial box) in one lock-step batch.

    Returns per video a ``(T_i, 4)`` xywh array; row 0 is the initial box.
    """
    lengths = [len(frames) for frames, _ in videos]
    init = torch.as_tensor(np.stack([box for _, box in videos]), dtype=torch.float32)
    first = [frames[0] for frames, _ in videos]
    results = [[box.astype(np.float32)] for _, box in videos]
    with torch.inference_mode():
        tracker.batch_init(first, init, init, copies=1)
        for t in range(1, max(lengths)):
            frames = [video[min(t, n - 1)] for (video, _), n in zip(videos, lengths)]
            boxes = tracker.batch_track(frames, "argmax").boxes.cpu().numpy()
            for k, n in enumerate(lengths):
                if t < n:
                    results[k].append(boxes[k])
    return [np.stack(r) for r in results]


def evaluate_dataset(
    tracker: BatchTracker,
    dataset: Any,
    max_videos: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "evaluate",
    protocols: Sequence[str] = ("lasot",),
) -> dict[str, Any]:
    """OPE of ``tracker`` on the first ``max_videos`` sequences of ``dataset``, scored under each of ``protocols``.

    Returns ``{protocol: evaluate_ope(..., protocol=protocol)}`` for each protocol, plus ``predictions`` (per video
    ``(T, 4)`` xywh) and ``names``. ``'got10k'`` clips boxes to each video's image size (its first frame's).
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"evaluate_dataset: protocols {list(protocols)}; expected some of {PROTOCOLS}")
    count = dataset.get_num_sequences() if max_videos is None else min(max_videos, dataset.get_num_sequences())
    predictions, gts, visibles, names, sizes = [], [], [], [], []
    bar = tqdm(total=count, desc=desc, disable=not progress, dynamic_ncols=True)
    for start in range(0, count, batch_size):
        videos = []
        for seq in range(start, min(start + batch_size, count)):
            info = dataset.get_sequence_info(seq)
            frames, _, _ = dataset.get_frames(seq, list(range(len(info["bbox"]))), info)
            gt = info["bbox"].numpy()
            videos.append((np.stack(frames), gt[0]))
            gts.append(gt)
            visibles.append(info["visible"].numpy())
            sizes.append((frames[0].shape[1], frames[0].shape[0]))
            names.append(dataset.get_sequence_name(seq))
        predictions.extend(track_videos(tracker, videos))
        bar.update(len(videos))
    bar.close()
    result: dict[str, Any] = {protocol: evaluate_ope(predictions, gts, visibles, protocol=protocol, image_sizes=sizes)
                              for protocol in protocols}
    result.update(predictions=predictions, names=names)
    return result
