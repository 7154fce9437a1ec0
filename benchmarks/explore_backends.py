"""Trackers measured by ``explore.py``: our batched exploration, its floor, and an official-style loop.

A backend owns one network and offers ``explore`` (ours, :func:`slt.rollout.explore`), ``floor`` (the
network's forward on the same crops, template computed once), ``official_explore`` (the official code's
structure: a Python loop over trajectories with OpenCV crops, per-frame template recomputation, numpy score
shaping, float32 records) and the two full SLT steps for the memory measurement.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import torch

from slt import policy
from slt.crop import crop_opencv
from slt.data.synthetic import SyntheticConfig, generate_video
from slt.reference.actor import ReferenceSLTActor
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import ReferenceTracker
from slt.rollout import Rollout, explore, gt_in_crop
from slt.siamrpn import REFERENCE, decode_deltas, siamfc_context_side
from slt.update import UpdateConfig, slt_update
from slt.boxes import box_iou_xywh

from backend import Backend


def synthetic_clips(num_seq: int, num_frames: int, height: int, width: int, seed: int) -> dict[str, list[Any]]:
    """A collated batch of ``num_seq`` synthetic clips of ``num_frames`` frames of ``height x width``."""
    config = SyntheticConfig(height=height, width=width, num_frames=num_frames)
    videos = [generate_video(seed * 1000 + k, config) for k in range(num_seq)]
    return {
        "template_images": [v.frames[0] for v in videos],
        "template_annos": [v.boxes[0] for v in videos],
        "search_images": [v.frames for v in videos],
        "search_annos": [v.boxes for v in videos],
        "key": [(seed, 0, k) for k in range(num_seq)],
    }


class ReferenceBackend(Backend):
    """The reference SiamRPN (random weights)."""

    def __init__(self, device: torch.device) -> None:
        torch.manual_seed(0)
        self.device = device
        self.model = ReferenceSiamRPN().to(device).eval()
        self.tracker = ReferenceTracker(self.model)
        self.actor = ReferenceSLTActor(self.tracker)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-5)
        self.config = UpdateConfig(chunk_size=64)

    def explore(self, batch: dict[str, list[Any]]) -> Rollout:
        return explore(self.tracker, batch)

    def floor(self, batch: dict[str, list[Any]]) -> Callable[[], None]:
        with torch.inference_mode():
            boxes = torch.as_tensor(np.stack(batch["template_annos"]))
            self.tracker.batch_init(batch["template_images"], boxes, torch.as_tensor(
                np.stack([a[0] for a in batch["search_annos"]])), copies=2)
            crops = [self.tracker.batch_track([c[t] for c in batch["search_images"]], "half").crops
                     for t in range(1, len(batch["search_images"][0]))]
            features = self.tracker.template_features

        def forward() -> None:
            with torch.inference_mode():
                for frame_crops in crops:
                    self.model.track(frame_crops, features)

        return forward

    def official_explore(self, batch: dict[str, list[Any]]) -> Rollout:
        return OfficialStyleExplorer(self.tracker).run(batch)

    def step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.model.parameters(), self.optimizer, self.explore(batch), self.config)

    def official_step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.model.parameters(), self.optimizer, self.official_explore(batch), self.config)


class OfficialStyleExplorer:
    """The official exploration's structure around our network and policy: per-trajectory OpenCV crops copied to
    the device one by one, the template branch recomputed every frame, numpy shaping, float32 records."""

    def __init__(self, tracker: ReferenceTracker) -> None:
        self.tracker = tracker
        self.model = tracker.model
        self.window = tracker.shaping.window.cpu().numpy()
        self.anchors = tracker.anchors

    def run(self, batch: dict[str, list[Any]]) -> Rollout:
        p, model, device = self.tracker.params, self.model, self.tracker.device
        clips = len(batch["search_images"])
        num_frames = len(batch["search_images"][0])
        exemplar, search = self.tracker.exemplar_size, self.tracker.search_size
        rows = list(range(clips)) * 2
        gts = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)
        z_crops = []
        for k in rows:
            box = batch["template_annos"][k]
            side = float(siamfc_context_side(torch.as_tensor(box[2:]), p.context_amount))
            z_crops.append(torch.from_numpy(crop_opencv(batch["template_images"][k], box[:2] + box[2:] / 2 - 0.5,
                                                        side, exemplar)).permute(2, 0, 1).float().to(device))
        z = torch.stack(z_crops)
        centre = [gts[k, 0, :2].numpy() + gts[k, 0, 2:].numpy() / 2 for k in rows]
        size = [gts[k, 0, 2:].numpy().copy() for k in rows]
        boxes, actions, crops, regions, penalties = [], [], [], [], []
        with torch.no_grad():
            for t in range(1, num_frames):
                x_crops, frame_regions = [], []
                for r, k in enumerate(rows):
                    side_x = float(siamfc_context_side(torch.as_tensor(size[r]), p.context_amount)) * search / exemplar
                    frame = batch["search_images"][k][t]
                    x_crops.append(torch.from_numpy(crop_opencv(frame, centre[r] - 0.5, side_x, search))
                                   .permute(2, 0, 1).float().to(device))
                    frame_regions.append([*(centre[r] - side_x / 2), side_x, side_x])
                x = torch.stack(x_crops)
                cls, loc = model(z, x)
                fg = torch.sigmoid(cls).cpu().numpy()
                pred = decode_deltas(loc.transpose(1, 2), self.anchors, REFERENCE.max_log_delta).cpu().numpy()
                step_boxes, step_actions, step_pen = [], [], []
                for r in range(len(rows)):
                    side_z = float(siamfc_context_side(torch.as_tensor(size[r]), p.context_amount))
                    scale_z = exemplar / side_z
                    pen = policy.scale_ratio_penalty(torch.from_numpy(pred[r][None, :, 2:]),
                                                     torch.from_numpy(size[r][None] * scale_z), p.penalty_k)[0].numpy()
                    score = (1 - p.window_influence) * fg[r] * pen + p.window_influence * self.window
                    q = score * (1 - 2 * p.sig_eps) + p.sig_eps
                    logits = torch.from_numpy(np.log(q / (1 - q)) * p.temperature)
                    a = int(logits.argmax()) if r < clips else int(torch.distributions.Categorical(logits=logits).sample())
                    chosen = pred[r][a] / scale_z
                    lr = pen[a] * fg[r][a] * p.size_lr
                    centre[r] = centre[r] + chosen[:2]
                    size[r] = size[r] * (1 - lr) + chosen[2:] * lr
                    step_boxes.append(np.concatenate([centre[r] - size[r] / 2, size[r]]))
                    step_actions.append(a)
                    step_pen.append(pen)
                boxes.append(torch.as_tensor(np.stack(step_boxes), dtype=torch.float32))
                actions.append(torch.as_tensor(step_actions))
                crops.append(x[clips:].cpu())
                regions.append(torch.as_tensor(frame_regions, dtype=torch.float32)[clips:])
                penalties.append(torch.as_tensor(np.stack(step_pen[clips:]), dtype=torch.float32))
        traj = torch.stack(boxes, dim=1).view(2, clips, num_frames - 1, 4)
        iou = box_iou_xywh(traj, gts[None, :, 1:])
        return Rollout(
            boxes=traj, iou=iou, lengths=torch.full((clips,), num_frames - 1),
            actions=torch.stack(actions)[:, clips:], crops=torch.stack(crops),
            gt_in_crop=torch.stack([gt_in_crop(gts[:, t + 1], regions[t], search) for t in range(num_frames - 1)]),
            extras={"penalty": torch.stack(penalties)}, templates=z[:clips].cpu(),
            static_iou=box_iou_xywh(gts[:, :1], gts[:, 1:]),
        )


BACKENDS: dict[str, type[Backend]] = {"reference": ReferenceBackend}

if os.environ.get("PYSOT_ROOT") or os.environ.get("TRANST_ROOT"):
    from host_backends import HOST_BACKENDS  # noqa: E402  (imports the host trees: only when named)

    BACKENDS.update(HOST_BACKENDS)

if os.environ.get("OSTRACK_ROOT"):
    from ostrack_backend import OSTRACK_BACKENDS  # noqa: E402  (imports the OSTrack tree: only when named)

    BACKENDS.update(OSTRACK_BACKENDS)
