"""A real SLT run of PySOT's AlexNet SiamRPN on synthetic GOT-10k videos, for a healthy-run picture from a host.

SLT fine-tunes a trained tracker, and no trained SiamRPN can be downloaded here, so the run has two stages on the
same synthetic training videos (``slt make-data --layout got10k``), on the checkout named by ``PYSOT_ROOT``:

1. FLT warm start from random weights: PySOT's frame-level objective (labels from the host's ``AnchorTarget``;
   its two-class cross-entropy, averaged over positives and negatives apart, as the binary cross-entropy of the
   target-minus-background logit in :func:`slt.reference.losses.classification_loss`, since the host's
   ``select_cross_entropy_loss`` calls ``.cuda()``; the host's ``weight_l1_loss``; weights 1 and 1.2 as PySOT's) on
   template / search pairs cut with the host tracker's ``get_subwindow``; the search crop is shifted by up to
   64 px and scaled by up to e^0.18 (PySOT's search augmentation), frames at most ``--flt-gap`` apart, SGD.
2. SLT through the user's command, ``python -m slt_pysot.train --cfg experiments/slt_siamrpn_alex/config.yaml
   --opts TRAIN.PRETRAINED <stage 1> ...`` (a subprocess, as a user runs it).

The stock tracker (the host's ``SiamRPNTracker``) then tracks held-out synthetic videos from the stage-1 weights
and from every SLT epoch's ``checkpoint_e<N>.pth``; those mean IoUs join the run's per-step history (read from its
newest checkpoint) in ``OUT/history.json`` and in the picture ``OUT/healthy_run_pysot.png``
(:func:`slt.plots.training_curves`). ``OUT/summary.json`` has the reward and greedy-mIoU statistics the guide quotes.

    PYSOT_ROOT=/path/to/pysot OMP_NUM_THREADS=2 python benchmarks/pysot_healthy_run.py --out /tmp/pysot_run
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

if not os.environ.get("PYSOT_ROOT"):
    sys.exit("pysot_healthy_run.py: set PYSOT_ROOT to a PySOT checkout (STVIR/pysot)")
sys.path.insert(0, os.environ["PYSOT_ROOT"])
from pysot.core.config import cfg  # noqa: E402  (PYSOT_ROOT first)
from pysot.datasets.anchor_target import AnchorTarget  # noqa: E402
from pysot.tracker.siamrpn_tracker import SiamRPNTracker  # noqa: E402
from pysot.utils.bbox import Corner  # noqa: E402

from slt.checkpoint import load_checkpoint  # noqa: E402
from slt.data import Got10k  # noqa: E402
from slt.data.synthetic import write_dataset  # noqa: E402
from slt.metrics import iou_xywh  # noqa: E402
from slt.plots import training_curves  # noqa: E402
from slt.reference.losses import classification_loss  # noqa: E402
from slt_pysot.config import register_slt_cfg  # noqa: E402
from slt_pysot.model_builder import SLTModelBuilder  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "slt_siamrpn_alex" / "config.yaml"
logger = logging.getLogger("pysot_healthy_run")


def load_videos(root: Path) -> list[tuple[list[np.ndarray], np.ndarray, np.ndarray]]:
    """Every video of a GOT-10k folder in memory: (BGR frames (H, W, 3) uint8, boxes (n, 4) xywh px, visible (n,))."""
    data = Got10k(root)
    videos = []
    for seq in range(len(data)):
        info = data.get_sequence_info(seq)
        frames = [cv2.imread(data.frame_path(seq, k)) for k in range(data.num_frames(seq))]
        videos.append((frames, info["bbox"].numpy().astype(np.float64), info["visible"].numpy()))
    return videos


def context_size(box: np.ndarray) -> float:
    """SiamRPN's template side in image pixels: sqrt((w + p)(h + p)), p = (w + h) / 2 (CONTEXT_AMOUNT 0.5)."""
    pad = cfg.TRACK.CONTEXT_AMOUNT * (box[2] + box[3])
    return math.sqrt((box[2] + pad) * (box[3] + pad))


def training_pair(tracker: SiamRPNTracker, anchors: AnchorTarget, video, gap: int, rng: np.random.Generator):
    """One FLT sample: template (3, 127, 127) and search (3, 255, 255) float BGR crops, the host's anchor labels
    ``cls`` (A, 17, 17), ``delta`` (4, A, 17, 17), ``delta_weight`` (A, 17, 17) of the target in the search crop."""
    frames, boxes, visible = video
    usable = np.flatnonzero(visible)
    i = rng.choice(usable)
    near = usable[np.abs(usable - i) <= gap]
    j = rng.choice(near)
    zbox, xbox = boxes[i], boxes[j]
    z_side = context_size(zbox)
    zc = zbox[:2] + zbox[2:] / 2
    template = tracker.get_subwindow(frames[i], zc, cfg.TRAIN.EXEMPLAR_SIZE, round(z_side),
                                     frames[i].mean(axis=(0, 1)))
    x_side = context_size(xbox) * cfg.TRAIN.SEARCH_SIZE / cfg.TRAIN.EXEMPLAR_SIZE * math.exp(rng.uniform(-0.18, 0.18))
    scale = cfg.TRAIN.SEARCH_SIZE / x_side
    xc = xbox[:2] + xbox[2:] / 2
    centre = xc + rng.uniform(-64, 64, size=2) / scale
    search = tracker.get_subwindow(frames[j], centre, cfg.TRAIN.SEARCH_SIZE, round(x_side),
                                   frames[j].mean(axis=(0, 1)))
    cx, cy = (xc - centre) * scale + cfg.TRAIN.SEARCH_SIZE / 2
    w, h = xbox[2:] * scale
    cls, delta, delta_weight, _ = anchors(Corner(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                                          cfg.TRAIN.OUTPUT_SIZE)
    return template[0], search[0], cls, delta, delta_weight


def flt_warm_start(model: SLTModelBuilder, videos, steps: int, batch: int, lr: float, gap: int, seed: int) -> list:
    """Stage 1 (see the module docstring); returns the per-step total losses."""
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # AnchorTarget subsamples positives / negatives with NumPy's global RNG
    tracker = SiamRPNTracker(model)
    anchors = AnchorTarget()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05)
    losses = []
    model.train()
    for step in range(steps):
        pairs = [training_pair(tracker, anchors, videos[rng.integers(len(videos))], gap, rng) for _ in range(batch)]
        template, search, cls, delta, weight = (torch.stack([torch.as_tensor(p[k]) for p in pairs])
                                                for k in range(5))
        outputs = model({"template": template, "search": search, "label_loc": delta, "label_loc_weight": weight})
        two_class = outputs["cls"].view(batch, 2, -1)  # channel block 0 = background, 1 = target
        cls_loss = classification_loss(two_class[:, 1] - two_class[:, 0], cls.view(batch, -1).float())
        loss = cls_loss + 1.2 * outputs["loc_loss"]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            logger.info("FLT step %d/%d: loss %.4f (mean of the last 100: %.4f)", step + 1, steps, losses[-1],
                        float(np.mean(losses[-100:])))
    model.eval()
    return losses


def greedy_miou(model: SLTModelBuilder, videos) -> float:
    """Mean over videos of the stock tracker's mean IoU over visible frames after the first (one pass)."""
    model.eval()
    tracker = SiamRPNTracker(model)
    scores = []
    with torch.no_grad():
        for frames, boxes, visible in videos:
            tracker.init(frames[0], boxes[0].tolist())
            pred = np.array([tracker.track(frame)["bbox"] for frame in frames[1:]])
            scores.append(float(iou_xywh(pred[visible[1:]], boxes[1:][visible[1:]]).mean()))
    return float(np.mean(scores))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (data, weights, run, picture)")
    parser.add_argument("--train-videos", type=int, default=40)
    parser.add_argument("--val-videos", type=int, default=12)
    parser.add_argument("--frames", type=int, default=60, help="frames per synthetic video")
    parser.add_argument("--flt-steps", type=int, default=600)
    parser.add_argument("--flt-batch", type=int, default=8)
    parser.add_argument("--flt-lr", type=float, default=0.01)
    parser.add_argument("--flt-gap", type=int, default=30, help="largest template-search frame distance")
    parser.add_argument("--slt-opts", nargs="*", default=["TRAIN.NUM_SEQ", "4", "TRAIN.NUM_FRAMES", "8",
                                                          "DATASET.VIDEOS_PER_EPOCH", "160", "TRAIN.EPOCH", "5"],
                        help="--opts of the SLT command after TRAIN.PRETRAINED and the data root")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    train_root = args.out / "data" / "train"
    val_root = args.out / "val" / "train"
    if not train_root.is_dir():
        write_dataset(args.out / "data", "got10k", args.train_videos, args.frames, seed=args.seed, progress=False)
        write_dataset(args.out / "val", "got10k", args.val_videos, args.frames, seed=args.seed + 1000, progress=False)
    register_slt_cfg(cfg)
    cfg.merge_from_file(str(CONFIG))
    cfg.merge_from_list(args.slt_opts)  # this process tracks with the SLT run's settings
    cfg.CUDA = False
    steps_per_epoch = cfg.DATASET.VIDEOS_PER_EPOCH // cfg.TRAIN.NUM_SEQ
    torch.manual_seed(args.seed)
    model = SLTModelBuilder()
    val = load_videos(val_root)
    flt_path = args.out / "flt_warm_start.pth"
    if not flt_path.is_file():
        start = time.process_time()
        losses = flt_warm_start(model, load_videos(train_root), args.flt_steps, args.flt_batch, args.flt_lr,
                                args.flt_gap, args.seed)
        flt = {"steps": args.flt_steps, "batch": args.flt_batch, "cpu_seconds": time.process_time() - start,
               "loss_first_last_100": [float(np.mean(losses[:100])), float(np.mean(losses[-100:]))]}
        flt_path.with_suffix(".json").write_text(json.dumps(flt, indent=1))
        torch.save({"state_dict": model.state_dict()}, flt_path)
    summary = {"flt_warm_start": json.loads(flt_path.with_suffix(".json").read_text())}
    model.load_state_dict(torch.load(flt_path, weights_only=True)["state_dict"])
    val_points = {0: greedy_miou(model, val)}
    logger.info("greedy mIoU of the FLT warm start on %d held-out videos: %.4f", len(val), val_points[0])

    snapshot = args.out / "snapshot"
    command = [sys.executable, "-m", "slt_pysot.train", "--cfg", str(CONFIG), "--seed", str(args.seed), "--opts",
               "TRAIN.PRETRAINED", str(flt_path), "SLT.DATASET.GOT10K.ROOT", str(train_root),
               "TRAIN.SNAPSHOT_DIR", str(snapshot), "SLT.KEEP_CHECKPOINTS", str(cfg.TRAIN.EPOCH), *args.slt_opts]
    logger.info("SLT: %s", " ".join(command))
    start = time.time()
    python_path = os.pathsep.join(filter(None, (os.environ["PYSOT_ROOT"], os.environ.get("PYTHONPATH"))))
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": python_path})
    summary["slt_wall_seconds"] = time.time() - start
    history = load_checkpoint(sorted((snapshot / "slt" / "checkpoints").glob("*.pth"))[-1])["history"]
    for epoch in range(1, cfg.TRAIN.EPOCH + 1):
        path = snapshot / f"checkpoint_e{epoch}.pth"
        state = load_checkpoint(path)
        model.load_state_dict(state["state_dict"])
        step = epoch * steps_per_epoch
        val_points[step] = greedy_miou(model, val)
        logger.info("%s (after step %d): held-out greedy mIoU %.4f", path.name, step, val_points[step])
    validation = sorted(val_points.items())
    (args.out / "history.json").write_text(json.dumps({"history": history, "validation": validation}, indent=1))
    reward = np.array([h["reward"] for h in history])
    greedy = np.array([h["greedy_miou"] for h in history])
    summary.update(steps=len(history), reward_mean=float(reward.mean()),
                   reward_5_95=[float(np.percentile(reward, 5)), float(np.percentile(reward, 95))],
                   reward_zero_fraction=float(np.mean(reward == 0)),
                   greedy_5_95=[float(np.percentile(greedy, 5)), float(np.percentile(greedy, 95))],
                   validation=validation)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    training_curves(history, args.out / "healthy_run_pysot.png", validation=validation)
    logger.info("summary: %s", json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
