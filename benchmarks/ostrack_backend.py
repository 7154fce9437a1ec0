"""The OSTrack backend of ``explore.py``, on the checkout named by OSTRACK_ROOT (botaoye/OSTrack 33b5e12).

Importing this module puts that tree on ``sys.path`` (no bytecode written into it). The network is the host's
``vitb_256_mae_ce_32x4_ep300`` (ViT-B, 92.5 M parameters) with random weights; the backend offers:

* ``explore``: :func:`slt.rollout.explore` with :class:`slt_ostrack.tracker.SLTOSTrack` (crop backend ``'torch'``:
  all 2N rows in one forward per frame, one forward per distinct (clip, state), crops on the device);
* ``floor``: the network's forward on the 2N search crops of every frame that ``explore`` produced -- nothing else;
* ``official_explore``: the structure of ARTrack's ``explore`` (the official-style loop of this layout): for each
  clip, the greedy run and then the sampled run, each frame a host ``sample_target`` crop, one batch-1 forward with
  the template re-fed, the Hann window, an argmax or a ``torch.multinomial`` draw, ``cal_bbox`` at the chosen cell,
  ``map_box_back`` and ``clip_box`` in Python; the sampled run's crops recorded;
* ``step`` / ``official_step``: :func:`slt.update.slt_update` on either rollout (the memory measurement).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from backend import Backend
from host_backends import sampled_rollout, tracked_crops
from slt.rollout import Rollout, explore
from slt.update import UpdateConfig, slt_update

CONFIG = "vitb_256_mae_ce_32x4_ep300"

if os.environ.get("OSTRACK_ROOT"):
    sys.dont_write_bytecode = True
    if os.environ["OSTRACK_ROOT"] not in sys.path:
        sys.path.insert(0, os.environ["OSTRACK_ROOT"])


class OSTrackBackend(Backend):
    """SLT-OSTrack on the OSTrack host (random weights, the host's AdamW groups of the shipped SLT config)."""

    CHUNK_SIZE = 4

    @classmethod
    def unavailable(cls) -> str | None:
        if not os.environ.get("OSTRACK_ROOT"):
            return "OSTRACK_ROOT is not set"
        try:
            import slt_ostrack.actor  # noqa: F401
            import slt_ostrack.tracker  # noqa: F401
        except Exception as error:  # an incomplete tree or a missing dependency fails in many ways
            return f"OSTRACK_ROOT={os.environ['OSTRACK_ROOT']}: {type(error).__name__}: {error}"
        return None

    def __init__(self, device: torch.device) -> None:
        from slt_ostrack.actor import SLTOSTrackActor
        from slt_ostrack.network import build_network, load_config
        from slt_ostrack.tracker import SLTOSTrack

        self.device = device
        self.cfg = load_config(Path(os.environ["OSTRACK_ROOT"]) / "experiments" / "ostrack" / f"{CONFIG}.yaml")
        torch.manual_seed(0)
        self.net = build_network(self.cfg).to(device).eval()
        self.tracker = SLTOSTrack(self.net, self.cfg, crop_backend="torch")
        self.actor = SLTOSTrackActor(self.net, self.cfg, self.tracker.shaping)
        head = [p for n, p in self.net.named_parameters() if "backbone" not in n and p.requires_grad]
        backbone = [p for n, p in self.net.named_parameters() if "backbone" in n and p.requires_grad]
        self.optimizer = torch.optim.AdamW([{"params": head}, {"params": backbone, "lr": 1e-6}], lr=1e-5,
                                           weight_decay=1e-4)
        self.update = UpdateConfig(chunk_size=self.CHUNK_SIZE, grad_clip=100.0)

    def explore(self, batch: dict[str, list[Any]]) -> Rollout:
        return explore(self.tracker, batch)

    def floor(self, batch: dict[str, list[Any]]) -> Callable[[], None]:
        crops = tracked_crops(self.tracker, batch)

        def forward() -> None:
            with torch.inference_mode():
                for frame_crops in crops:
                    self.tracker.forward(frame_crops)

        return forward

    def official_explore(self, batch: dict[str, list[Any]]) -> Rollout:
        from lib.test.utils.hann import hann2d
        from lib.train.data.processing_utils import sample_target
        from lib.utils.box_ops import clip_box
        from slt_ostrack import policy
        from slt_ostrack.tracker import boxes_in_template, normalise, template_mask

        cfg, net, device = self.cfg, self.net, self.device
        feat = cfg.TEST.SEARCH_SIZE // cfg.MODEL.BACKBONE.STRIDE
        search = cfg.TEST.SEARCH_SIZE
        window = hann2d(torch.tensor([feat, feat]).long(), centered=True).to(device)
        shape = self.tracker.shaping
        clips, num_frames = len(batch["search_images"]), len(batch["search_images"][0])
        gts = np.stack(batch["search_annos"]).astype(np.float64)
        # per (copy, clip): per tracked frame box, region; the sampled copy also its action, crop, mask
        boxes = np.zeros((2, clips, num_frames - 1, 4))
        regions = np.zeros((2, clips, num_frames - 1, 4))
        actions = torch.zeros(num_frames - 1, clips, dtype=torch.long)
        crops = torch.zeros(num_frames - 1, clips, 3, search, search, dtype=torch.uint8)
        masks, templates = [], []
        with torch.inference_mode():
            for i, (images, annos) in enumerate(zip(batch["search_images"], batch["search_annos"])):
                box = np.asarray(batch["template_annos"][i], np.float64)
                z, resize_z, _ = sample_target(batch["template_images"][i], box.tolist(), cfg.TEST.TEMPLATE_FACTOR,
                                               output_sz=cfg.TEST.TEMPLATE_SIZE)
                z_crop = torch.from_numpy(z).permute(2, 0, 1)[None].to(device)
                templates.append(z_crop[0].cpu())
                in_crop = boxes_in_template(torch.as_tensor(box[None]), torch.tensor([resize_z]),
                                            cfg.TEST.TEMPLATE_SIZE).to(device)
                mask = template_mask(cfg, 1, device, in_crop)
                masks.append(mask)
                template = normalise(z_crop)
                for copy in range(2):
                    state = np.asarray(annos[0], np.float64).tolist()
                    for t, image in enumerate(images[1:]):
                        x, resize, _ = sample_target(image, state, cfg.TEST.SEARCH_FACTOR, output_sz=search)
                        x_crop = torch.from_numpy(x).permute(2, 0, 1)[None].to(device)
                        out = net(template=template, search=normalise(x_crop), ce_template_mask=mask)
                        logits = policy.policy_logits(out["score_map"], window, shape)
                        action = (logits.argmax(-1) if copy == 0 else
                                  torch.multinomial(torch.softmax(logits, -1), 1)[:, 0])
                        cell = net.box_head.cal_bbox(policy.onehot_maps(action, feat), out["size_map"],
                                                     out["offset_map"])
                        cx, cy, w, h = (cell[0] * search / resize).tolist()
                        side = search / resize
                        half = 0.5 * side
                        px, py = state[0] + 0.5 * state[2], state[1] + 0.5 * state[3]
                        regions[copy, i, t] = [round(px - 0.5 * side), round(py - 0.5 * side), side, side]
                        cx, cy = cx + px - half, cy + py - half
                        state = clip_box([cx - 0.5 * w, cy - 0.5 * h, w, h], image.shape[0], image.shape[1],
                                         margin=10)
                        boxes[copy, i, t] = state
                        if copy == 1:
                            actions[t, i] = int(action)
                            crops[t, i] = x_crop[0].cpu()
        frame_boxes = [boxes[:, :, t].reshape(2 * clips, 4) for t in range(num_frames - 1)]
        frame_regions = [regions[:, :, t].reshape(2 * clips, 4) for t in range(num_frames - 1)]
        extras = {}
        if masks[0] is not None:
            stacked = torch.cat(masks).cpu()
            extras["template_mask"] = [stacked for _ in range(num_frames - 1)]
        return sampled_rollout(frame_boxes, actions.flatten().tolist(), list(crops), frame_regions, gts, search,
                               extras, torch.stack(templates))

    def step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.net.parameters(), self.optimizer, self.explore(batch), self.update,
                   device=self.device)

    def official_step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.net.parameters(), self.optimizer, self.official_explore(batch), self.update,
                   device=self.device)


OSTRACK_BACKENDS: dict[str, type[Backend]] = {"ostrack": OSTrackBackend}
