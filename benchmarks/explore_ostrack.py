"""SLT-OSTrack exploration speed: the batched tracker vs an official-style per-clip, per-frame loop.

The official-style loop is ARTrack's ``explore``: for each clip and each trajectory (greedy, sampled), for
each frame, a host ``sample_target`` crop, one batch-1 forward with the template re-fed, the window, an
argmax or a categorical draw, ``cal_bbox``, ``map_box_back``, ``clip_box``. Ours: :func:`slt.rollout.explore`
with :class:`slt_ostrack.tracker.SLTOSTrack` (all N x 2 rows in one forward per frame, crops on the device).
Same random-weight network (config ``vitb_256_mae_ce_32x4_ep300``), same clips, same thread count.

    OSTRACK_ROOT=/path/to/OSTrack python benchmarks/explore_ostrack.py [--seqs 8] [--frames 8] [--device cpu]

Measured (2 shared CPU cores, OMP_NUM_THREADS=1, N=8, T=8, 480 x 640 frames): ours 74.4 s, official-style
87.1 s, 1.17x -- the one-stream ViT-B forward (template re-fed every frame) dominates and batching it buys
little on a CPU; the 1.5x target is not met there.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("explore_ostrack")


def clips(count: int, frames: int, seed: int) -> dict[str, list]:
    """N clips of T noisy 480 x 640 frames with a moving box; boxes xywh."""
    rng = np.random.default_rng(seed)
    batch: dict[str, list] = {k: [] for k in ("search_images", "search_annos", "template_images",
                                              "template_annos", "key")}
    for i in range(count):
        x, y = rng.uniform(150, 400), rng.uniform(100, 300)
        images, boxes = [], []
        for _ in range(frames):
            image = rng.integers(0, 80, (480, 640, 3), dtype=np.uint8)
            image[int(y):int(y + 60), int(x):int(x + 80)] = (230, 200, 40)
            images.append(image)
            boxes.append([x, y, 80.0, 60.0])
            x, y = x + rng.uniform(-8, 8), y + rng.uniform(-8, 8)
        batch["search_images"].append(images)
        batch["search_annos"].append(np.array(boxes))
        batch["template_images"].append(images[0])
        batch["template_annos"].append(np.array(boxes[0]))
        batch["key"].append((0, 0, i))
    return batch


def official_style(net: torch.nn.Module, cfg, batch: dict[str, list], generator: torch.Generator) -> list:
    """Per clip, per trajectory, per frame: the ARTrack-style Python loop -> boxes per (clip, copy)."""
    from lib.test.utils.hann import hann2d
    from lib.train.data.processing_utils import sample_target
    from lib.utils.box_ops import clip_box
    from slt_ostrack import policy
    from slt_ostrack.tracker import normalise, template_mask

    feat = cfg.TEST.SEARCH_SIZE // cfg.MODEL.BACKBONE.STRIDE
    window = hann2d(torch.tensor([feat, feat]).long(), centered=True)
    shape = policy.shaping()
    mask = template_mask(cfg, 1, torch.device("cpu"))
    out_boxes = []
    for images, annos in zip(batch["search_images"], batch["search_annos"]):
        z = sample_target(images[0], annos[0].tolist(), cfg.TEST.TEMPLATE_FACTOR, output_sz=cfg.TEST.TEMPLATE_SIZE)[0]
        template = normalise(torch.from_numpy(z).permute(2, 0, 1)[None])
        for copy in range(2):
            state = annos[0].tolist()
            boxes = []
            for image in images[1:]:
                x, resize, _ = sample_target(image, state, cfg.TEST.SEARCH_FACTOR, output_sz=cfg.TEST.SEARCH_SIZE)
                out = net(template=template, search=normalise(torch.from_numpy(x).permute(2, 0, 1)[None]),
                          ce_template_mask=mask)
                logits = policy.policy_logits(out["score_map"], window, shape)
                action = (logits.argmax(-1) if copy == 0 else
                          torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[:, 0])
                box = net.box_head.cal_bbox(policy.onehot_maps(action, feat), out["size_map"], out["offset_map"])
                cx, cy, w, h = (box[0] * cfg.TEST.SEARCH_SIZE / resize).tolist()
                half = 0.5 * cfg.TEST.SEARCH_SIZE / resize
                px, py = state[0] + 0.5 * state[2], state[1] + 0.5 * state[3]
                cx, cy = cx + px - half, cy + py - half
                state = clip_box([cx - 0.5 * w, cy - 0.5 * h, w, h], image.shape[0], image.shape[1], margin=10)
                boxes.append(state)
            out_boxes.append(boxes)
    return out_boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = os.environ.get("OSTRACK_ROOT")
    if not root:
        sys.exit("set OSTRACK_ROOT to an OSTrack checkout")
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(Path(root).resolve()))
    from slt.policy import ClipRandom
    from slt.rollout import explore
    from slt_ostrack.network import build_network, load_config
    from slt_ostrack.tracker import SLTOSTrack

    cfg = load_config(Path(root) / "experiments" / "ostrack" / "vitb_256_mae_ce_32x4_ep300.yaml")
    torch.manual_seed(0)
    device = torch.device(args.device)
    net = build_network(cfg).eval().to(device)
    batch = clips(args.seqs, args.frames, seed=0)
    tracker = SLTOSTrack(net, cfg)
    with torch.inference_mode():
        explore(tracker, clips(2, 2, seed=1), ClipRandom([(1, 0, 0), (1, 0, 1)]))  # warm-up
        start = time.perf_counter()
        explore(tracker, batch, ClipRandom(batch["key"]))
        ours = time.perf_counter() - start
        if device.type != "cpu":
            sys.exit("the official-style loop runs on the CPU only (host crops, batch-1 forwards)")
        start = time.perf_counter()
        official_style(net, cfg, batch, torch.Generator().manual_seed(0))
        official = time.perf_counter() - start
    logger.info("N=%d T=%d threads=%d: ours %.2f s, official-style %.2f s, ratio %.2fx", args.seqs, args.frames,
                torch.get_num_threads(), ours, official, official / ours)


if __name__ == "__main__":
    main()
