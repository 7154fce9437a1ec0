"""PySOT and TransT backends of ``explore.py``, on host checkouts named by PYSOT_ROOT / TRANST_ROOT.

Importing this module puts those trees on ``sys.path`` (the ``--memory-child`` subprocesses of ``explore.py``
inherit the variables and import it again). Each backend builds its network with random weights and offers:

* ``explore``: :func:`slt.rollout.explore` with the adapter's batched tracker (crop backend ``'torch'``);
* ``floor``: the network's own forward on the search crops that ``explore`` produced, template features computed
  once -- nothing else;
* ``official_explore``: the official SLT exploration's structure (SLTtrack's ``SltSiamRPNTracker.batch_track`` /
  ``SLTTransT.batch_track``): a Python loop over the 2N trajectories calling the host's ``get_subwindow`` (OpenCV,
  one image at a time, each crop a separate float32 tensor moved to the device), per-row box updates, float32
  records; see the classes for what differs between PySOT and TransT;
* ``step`` / ``official_step``: :func:`slt.update.slt_update` on either rollout (the memory measurement).

Synthetic frames are used as they come: PySOT reads them as BGR, TransT as RGB (their colours are random).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from backend import Backend
from slt import policy
from slt.boxes import box_iou_xywh
from slt.data.synthetic import SyntheticConfig, generate_video
from slt.rollout import BatchTracker, Rollout, Samples, explore, gt_in_crop
from slt.update import UpdateConfig, slt_update

REPO = Path(__file__).resolve().parent.parent
ROOT_VARIABLES = ("PYSOT_ROOT", "TRANST_ROOT")

for _variable in ROOT_VARIABLES:
    if os.environ.get(_variable) and os.environ[_variable] not in sys.path:
        sys.path.insert(0, os.environ[_variable])


def _import_problem(variable: str, modules: tuple[str, ...]) -> str | None:
    """Why ``modules`` cannot be imported from the tree named by ``variable``, or None."""
    if not os.environ.get(variable):
        return f"{variable} is not set"
    try:
        for module in modules:
            importlib.import_module(module)
    except Exception as error:  # an unpatched or incomplete host tree fails in many ways
        return f"{variable}={os.environ[variable]}: {type(error).__name__}: {error}"
    return None


def tracked_crops(tracker: BatchTracker, batch: dict[str, list[Any]]) -> list[Tensor]:
    """The ``(2N, 3, S, S)`` search crops of every tracked frame of ``batch``, as :func:`slt.rollout.explore`
    makes them (``batch_init`` with two copies, then ``batch_track`` frame by frame, ``'half'`` actions)."""
    gts = torch.as_tensor(np.stack(batch["search_annos"]), dtype=torch.float32)
    boxes = torch.as_tensor(np.stack(batch["template_annos"]), dtype=torch.float32)
    with torch.inference_mode():
        tracker.batch_init(batch["template_images"], boxes, gts[:, 0], copies=2)
        return [tracker.batch_track([clip[t] for clip in batch["search_images"]], "half").crops
                for t in range(1, len(batch["search_images"][0]))]


def sampled_rollout(boxes: list[np.ndarray], actions: list[int], crops: list[Tensor], regions: list[np.ndarray],
                    gts: np.ndarray, crop_size: int, extras: dict[str, list[Tensor]], templates: Tensor) -> Rollout:
    """A :class:`~slt.rollout.Rollout` from the per-frame records of an official-style loop over 2N rows.

    Per tracked frame (L of them): ``boxes`` (2N, 4) xywh and ``regions`` (2N, 4) ``x0 y0 side side`` numpy,
    ``actions`` (N,) of the sampled rows, ``crops`` (N, 3, S, S) float32 as recorded, ``extras`` name -> (N, ...)
    per frame; ``gts`` (N, T, 4) xywh; ``templates`` (N, ...). Records are kept as they are (float32).
    """
    clips, num_frames = gts.shape[:2]
    gt = torch.as_tensor(gts, dtype=torch.float32)
    traj = torch.as_tensor(np.stack(boxes, axis=1), dtype=torch.float32).view(2, clips, num_frames - 1, 4)
    kept = [torch.as_tensor(r[clips:], dtype=torch.float32) for r in regions]
    return Rollout(
        boxes=traj, iou=box_iou_xywh(traj, gt[None, :, 1:]), lengths=torch.full((clips,), num_frames - 1),
        actions=torch.as_tensor(np.asarray(actions)).view(num_frames - 1, clips), crops=torch.stack(crops),
        gt_in_crop=torch.stack([gt_in_crop(gt[:, t + 1], kept[t], crop_size) for t in range(num_frames - 1)]),
        extras={k: torch.stack(v) for k, v in extras.items()}, templates=templates,
        static_iou=box_iou_xywh(gt[:, :1], gt[:, 1:]),
    )


# ------------------------------------------------------------------------------------------------------ PySOT
@functools.lru_cache(maxsize=None)
def _pysot_defaults() -> Any:
    """PySOT's default cfg plus SLT's keys, captured before any yaml is merged."""
    from pysot.core.config import cfg

    importlib.import_module("slt_pysot.tracker")  # registers SLT's keys
    return cfg.clone()


def calibrate_batchnorm(model: nn.Module, seed: int = 0, pairs: int = 4) -> None:
    """Set every BatchNorm's running statistics to those of one probe batch (one forward in training mode with
    cumulative averaging, then eval mode): ``pairs`` synthetic frames of the search-crop size as search crops,
    the same frames resized to the template size as templates.

    A randomly initialised PySOT ResNet-50 keeps BatchNorm's default statistics (mean 0, variance 1), so in eval
    mode nothing normalises its features: they grow by orders of magnitude through the 50 layers, the RPN's box
    deltas reach 1e7 and ``exp`` overflows (the tracker then refuses the non-finite logits). With statistics
    calibrated on images like the benchmark's every layer sees inputs of about unit scale, as in a trained
    network, and the update's small steps keep it so.
    """
    from pysot.core.config import cfg

    exemplar, instance = cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE
    frames = generate_video(seed, SyntheticConfig(height=instance, width=instance, num_frames=pairs)).frames
    templates = np.stack([cv2.resize(frame, (exemplar, exemplar), interpolation=cv2.INTER_AREA) for frame in frames])
    device = next(model.parameters()).device
    data = {"template": torch.from_numpy(templates).permute(0, 3, 1, 2).float().contiguous().to(device),
            "search": torch.from_numpy(frames).permute(0, 3, 1, 2).float().contiguous().to(device)}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    with torch.no_grad():
        model(data)
    model.eval()
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


def recorded_targets_actor(model: nn.Module) -> Any:
    """:class:`slt_pysot.actor.SLTSiamRPNActor` that reads the anchor targets from the rollout's records
    (``extras['label_loc']`` (M, 4, A, s, s), ``extras['label_loc_weight']`` (M, A, s, s)), as the official
    update uses the targets its exploration built."""
    from slt_pysot.actor import SLTSiamRPNActor

    class RecordedTargetsActor(SLTSiamRPNActor):
        def anchor_targets(self, samples: Samples) -> tuple[Tensor, Tensor]:
            return samples.extras["label_loc"], samples.extras["label_loc_weight"]

    return RecordedTargetsActor(model)


class PySOTBackend(Backend):
    """SLT-SiamRPN on the PySOT host (``CONFIG``), random weights, built through :mod:`slt_pysot`.

    PySOT keeps its configuration in a global cfg; this backend restores its own (``CONFIG`` merged on the
    defaults) at the start of every method, so several PySOT backends can live in one process.
    """

    CONFIG: Path
    CALIBRATE_BN = False
    """Calibrate BatchNorm statistics on synthetic crops after building (:func:`calibrate_batchnorm`)."""
    CHUNK_SIZE: int | None = None
    """Samples per backward pass of the update; None: the config's ``SLT.CHUNK_SIZE``."""

    @classmethod
    def unavailable(cls) -> str | None:
        return _import_problem("PYSOT_ROOT", ("pysot", "slt_pysot.tracker", "slt_pysot.actor"))

    def __init__(self, device: torch.device) -> None:
        from pysot.core.config import cfg
        from pysot.datasets.anchor_target import AnchorTarget
        from slt_pysot.actor import SLTSiamRPNActor
        from slt_pysot.model_builder import SLTModelBuilder
        from slt_pysot.tracker import SLTSiamRPNTracker
        from slt_pysot.train import build_optimizer

        self.device = device
        defaults = _pysot_defaults()
        cfg.clear()
        cfg.update(defaults.clone())
        cfg.merge_from_file(str(self.CONFIG))
        cfg.CUDA = device.type == "cuda"
        self.cfg = cfg.clone()
        torch.manual_seed(0)
        self.model = SLTModelBuilder().to(device).eval()
        if self.CALIBRATE_BN:
            calibrate_batchnorm(self.model)
        self.tracker = SLTSiamRPNTracker(self.model, crop="torch")
        self.actor = SLTSiamRPNActor(self.tracker)
        self.official_actor = recorded_targets_actor(self.model)
        self.anchor_target = AnchorTarget()
        self.optimizer = build_optimizer(self.model)
        chunk = cfg.SLT.CHUNK_SIZE if self.CHUNK_SIZE is None else self.CHUNK_SIZE
        self.update = UpdateConfig(chunk_size=chunk, chunk_norm=cfg.SLT.CHUNK_NORM,
                                   grad_clip=cfg.TRAIN.GRAD_CLIP, return_fn=cfg.SLT.REWARD, baseline=cfg.SLT.BASELINE)

    def _use_cfg(self) -> Any:
        """Make this backend's configuration PySOT's global cfg; returns it."""
        from pysot.core.config import cfg

        cfg.clear()
        cfg.update(self.cfg.clone())
        return cfg

    def explore(self, batch: dict[str, list[Any]]) -> Rollout:
        self._use_cfg()
        return explore(self.tracker, batch)

    def floor(self, batch: dict[str, list[Any]]) -> Callable[[], None]:
        self._use_cfg()
        crops = tracked_crops(self.tracker, batch)
        features = self.model.zf

        def forward() -> None:
            self._use_cfg()
            with torch.inference_mode():
                self.model.zf = features
                for frame_crops in crops:
                    self.model.track(frame_crops)

        return forward

    def official_explore(self, batch: dict[str, list[Any]]) -> Rollout:
        """SLTtrack's PySOT exploration: per row ``get_subwindow`` crops (and anchor targets from PySOT's
        ``AnchorTarget``), the full training forward on the 2N template and search crops every frame, per-row
        numpy score shaping (``_convert_bbox``, scale/ratio penalty, window, stable inverse sigmoid, temperature),
        a ``Categorical`` sample on the sampled rows, ``_bbox_clip``; all under ``torch.no_grad()``; float32
        records (search crops, anchor targets) of the sampled rows."""
        cfg = self._use_cfg()
        tracker, clips = self.tracker, len(batch["search_images"])
        num_frames = len(batch["search_images"][0])
        exemplar, instance, context = cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE, cfg.TRACK.CONTEXT_AMOUNT
        wi, eps, temp = cfg.TRACK.WINDOW_INFLUENCE, cfg.TRAIN.SIG_EPS, cfg.TRAIN.TEMP
        rows = list(range(clips)) * 2
        gts = np.stack(batch["search_annos"]).astype(np.float64)

        def side(size: np.ndarray) -> float:
            pad = context * (size[0] + size[1])
            return float(np.sqrt((size[0] + pad) * (size[1] + pad)))

        average = [np.mean(batch["template_images"][k], axis=(0, 1)) for k in rows]
        z_crops = []
        for r, k in enumerate(rows):
            box = np.asarray(batch["template_annos"][k], np.float64)
            z_crops.append(tracker.get_subwindow(batch["template_images"][k], box[:2] + (box[2:] - 1) / 2,
                                                 exemplar, round(side(box[2:])), average[r]))
        z = torch.cat(z_crops).to(self.device)
        centre = [gts[k, 0, :2] + (gts[k, 0, 2:] - 1) / 2 for k in rows]
        size = [gts[k, 0, 2:].copy() for k in rows]
        boxes, actions, crops, regions = [], [], [], []
        extras: dict[str, list[Tensor]] = {"penalty": [], "label_cls": [], "label_loc": [], "label_loc_weight": []}
        with torch.no_grad():
            for t in range(1, num_frames):
                x_crops, frame_regions, labels = [], [], []
                for r, k in enumerate(rows):
                    frame, s_x = batch["search_images"][k][t], round(side(size[r]) * instance / exemplar)
                    x_crops.append(tracker.get_subwindow(frame, centre[r], instance, s_x, average[r]))
                    region = np.array([*np.floor(centre[r] - (s_x + 1) / 2 + 0.5), s_x, s_x])
                    frame_regions.append(region)
                    labels.append(self._anchor_targets(gts[k, t], region))
                x = torch.cat(x_crops).to(self.device)
                outputs = self.model({"template": z, "search": x})
                cls = outputs["cls"].cpu().numpy()
                step_boxes, step_pen = [], []
                for r in range(len(rows)):
                    blocks = cls[r].reshape(2, -1)
                    score = 1.0 / (1.0 + np.exp(blocks[0] - blocks[1]))
                    pred = tracker._convert_bbox(outputs["loc"][r:r + 1], tracker.anchors)
                    scale_z = exemplar / side(size[r])
                    penalty = policy.scale_ratio_penalty(torch.from_numpy(pred[2:].T[None].astype(np.float64)),
                                                         torch.from_numpy(size[r][None] * scale_z),
                                                         cfg.TRACK.PENALTY_K)[0].numpy()
                    final = penalty * score * (1 - wi) + tracker.window * wi
                    q = final * (1 - 2 * eps) + eps
                    logits = torch.from_numpy(np.log(q / (1 - q)) * temp)
                    sampled = r >= clips
                    a = int(torch.distributions.Categorical(logits=logits).sample() if sampled else logits.argmax())
                    bbox = pred[:, a] / scale_z
                    lr = penalty[a] * score[a] * cfg.TRACK.LR
                    cx, cy, w, h = tracker._bbox_clip(bbox[0] + centre[r][0], bbox[1] + centre[r][1],
                                                      size[r][0] * (1 - lr) + bbox[2] * lr,
                                                      size[r][1] * (1 - lr) + bbox[3] * lr,
                                                      batch["search_images"][rows[r]][t].shape[:2])
                    centre[r], size[r] = np.array([cx, cy]), np.array([w, h])
                    step_boxes.append([cx - w / 2, cy - h / 2, w, h])
                    step_pen.append(penalty)
                    if sampled:
                        actions.append(a)
                boxes.append(np.array(step_boxes))
                regions.append(np.stack(frame_regions))
                crops.append(x[clips:])
                extras["penalty"].append(torch.tensor(np.stack(step_pen[clips:]), dtype=torch.float32))
                for name, column in zip(("label_cls", "label_loc", "label_loc_weight"), zip(*labels[clips:])):
                    extras[name].append(torch.from_numpy(np.stack(column)))
        return sampled_rollout(boxes, actions, crops, regions, gts, instance, extras, z[:clips])

    def _anchor_targets(self, gt: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PySOT ``AnchorTarget`` of ground truth ``gt`` (4,) xywh in the crop of ``region`` (4,): ``label_cls``
        (A, s, s) int64, ``label_loc`` (4, A, s, s) and ``label_loc_weight`` (A, s, s) float32."""
        from pysot.core.config import cfg
        from slt.siamrpn import crop_gt_to_corners

        out = cfg.TRAIN.OUTPUT_SIZE
        anchors = len(cfg.ANCHOR.RATIOS) * len(cfg.ANCHOR.SCALES)
        if not (np.isfinite(gt).all() and gt[2] > 0 and gt[3] > 0):
            return (np.zeros((anchors, out, out), np.int64), np.zeros((4, anchors, out, out), np.float32),
                    np.zeros((anchors, out, out), np.float32))
        scale = cfg.TRACK.INSTANCE_SIZE / region[2]
        in_crop = np.concatenate(((gt[:2] - region[:2]) * scale, gt[2:] * scale))
        label_cls, label_loc, weight, _ = self.anchor_target(crop_gt_to_corners(in_crop[None])[0], out)
        return label_cls, label_loc, weight

    def step(self, batch: dict[str, list[Any]]) -> None:
        self._use_cfg()
        slt_update(self.actor, self.model.parameters(), self.optimizer, self.explore(batch), self.update)

    def official_step(self, batch: dict[str, list[Any]]) -> None:
        self._use_cfg()
        slt_update(self.official_actor, self.model.parameters(), self.optimizer, self.official_explore(batch),
                   self.update)


class PySOTAlexBackend(PySOTBackend):
    """AlexNet SiamRPN (dwxcorr), our ``experiments/slt_siamrpn_alex`` (PySOT's network, score size 17)."""

    CONFIG = REPO / "experiments" / "slt_siamrpn_alex" / "config.yaml"


class PySOTResNet50Backend(PySOTBackend):
    """SiamRPN++ ResNet-50 (layers 2-4), ``experiments/slt_siamrpnpp``; BatchNorm statistics calibrated
    (:func:`calibrate_batchnorm`).

    The update backpropagates into layers 2-4 (``RL_TRAIN_BACKBONE``): about 190 MB of activations per sample on
    the CPU, so the config's chunk of 64 samples would need some 12 GB; chunks of 8 keep the step within a small
    machine and weigh ours and the official-style step alike.
    """

    CONFIG = REPO / "experiments" / "slt_siamrpnpp" / "config.yaml"
    CALIBRATE_BN = True
    CHUNK_SIZE = 8


# ------------------------------------------------------------------------------------------------------ TransT
class TransTBackend(Backend):
    """SLT-TransT on the patched TransT host: the full TransT network (:func:`slt_pytracking.transt_net.transt_offline`,
    random weights), :class:`~slt_pytracking.transt_tracker.SLTTransT` with ``'torch'`` crops, the SLT-TransT actor
    and optimizer groups of ``slt_pytracking.train_settings.transt``.

    The update runs in chunks of ``CHUNK_SIZE`` samples, not the recipe's two clips (2(T-1) samples): a TransT
    backward holds about 0.55 GB of activations per sample on the CPU, so two clips of T=24 would need some 25 GB.
    Chunks are summed as the recipe does (``chunk_norm='sum'``, gradient clip 100).
    """

    CHUNK_SIZE = 4

    @classmethod
    def unavailable(cls) -> str | None:
        return _import_problem("TRANST_ROOT", ("ltr", "slt_pytracking.transt_tracker", "slt_pytracking.transt_actor",
                                               "slt_pytracking.transt_net"))

    def __init__(self, device: torch.device) -> None:
        from slt_pytracking.transt_actor import SLTTransTActor, transt_box_objective
        from slt_pytracking.transt_net import transt_offline
        from slt_pytracking.transt_tracker import SLTTransT, TransTExplorationConfig

        self.device = device
        torch.manual_seed(0)
        self.net = transt_offline().to(device).eval()
        self.tracker = SLTTransT(self.net, TransTExplorationConfig(crop_backend="torch"))
        self.actor = SLTTransTActor(self.net, transt_box_objective(), self.tracker.shaping, slt_loss_weight=15.0)
        self.actor.to(device)
        groups = [{"params": [p for n, p in self.net.named_parameters() if "backbone" not in n and p.requires_grad]},
                  {"params": [p for n, p in self.net.named_parameters() if "backbone" in n and p.requires_grad],
                   "lr": 1e-6}]
        self.optimizer = torch.optim.AdamW(groups, lr=1e-5, weight_decay=1e-4)
        self.update = UpdateConfig(chunk_size=self.CHUNK_SIZE, chunk_norm="sum", grad_clip=100.0)

    def explore(self, batch: dict[str, list[Any]]) -> Rollout:
        return explore(self.tracker, batch)

    def floor(self, batch: dict[str, list[Any]]) -> Callable[[], None]:
        from slt_pytracking.transt_net import fuse

        crops = tracked_crops(self.tracker, batch)
        template = self.tracker.template

        def forward() -> None:
            with torch.inference_mode():
                for frame_crops in crops:
                    fuse(self.net, template, frame_crops)

        return forward

    def official_explore(self, batch: dict[str, list[Any]]) -> Rollout:
        """SLTtrack's ``SLTTransT`` exploration: per row ``get_subwindow`` crops normalised one by one, the host
        network's ``template`` once on the 2N template crops and ``track`` on the 2N search crops every frame,
        all with autograd ON (official bug B8: the template features keep their graph for the whole clip, every
        frame builds and drops one), torch score shaping and ``Categorical`` over the batch, per-row box updates
        with ``_bbox_clip``; float32 records of the sampled rows (the search crops are kept in 0-255 values, the
        input our actor expects; the official keeps them normalised, the same size)."""
        import torchvision.transforms.functional as tvisf

        from slt_pytracking.imagenet import IMAGENET_MEAN, IMAGENET_STD

        config, tracker, net = self.tracker.config, self.tracker, self.net
        tracker.params.use_gpu = self.device.type == "cuda"
        clips, num_frames = len(batch["search_images"]), len(batch["search_images"][0])
        rows = list(range(clips)) * 2
        gts = np.stack(batch["search_annos"]).astype(np.float64)
        window = torch.from_numpy(np.outer(np.hanning(config.score_size), np.hanning(config.score_size)).ravel())

        def side(size: np.ndarray, factor: float) -> float:
            context = (factor - 1) * (size[0] + size[1]) * 0.5
            return float(np.ceil(np.sqrt((size[0] + context) * (size[1] + context))))

        def normalised(crop: Tensor) -> Tensor:
            x = crop.float().mul(1.0 / 255.0).clamp(0.0, 1.0)
            x[0] = tvisf.normalize(x[0], list(IMAGENET_MEAN), list(IMAGENET_STD), False)
            return x

        average = [np.mean(batch["template_images"][k], axis=(0, 1)) for k in rows]
        z_crops = []
        for r, k in enumerate(rows):
            box = np.asarray(batch["template_annos"][k], np.float64)
            z_crops.append(tracker.get_subwindow(batch["template_images"][k], box[:2] + box[2:] / 2,
                                                 config.template_size, side(box[2:], config.template_factor),
                                                 average[r]).to(self.device))
        z = torch.cat(z_crops)
        net.template(torch.cat([normalised(c) for c in z_crops]))
        centre = [gts[k, 0, :2] + gts[k, 0, 2:] / 2 for k in rows]
        size = [gts[k, 0, 2:].copy() for k in rows]
        boxes, actions, crops, regions = [], [], [], []
        for t in range(1, num_frames):
            raw, inputs, frame_regions = [], [], []
            s_x = [side(size[r], config.search_factor) for r in range(len(rows))]
            for r, k in enumerate(rows):
                crop = tracker.get_subwindow(batch["search_images"][k][t], centre[r], config.search_size,
                                             round(s_x[r]), average[r]).to(self.device)
                raw.append(crop)
                inputs.append(normalised(crop))
                frame_regions.append(np.array([*np.floor(centre[r] - (round(s_x[r]) + 1) / 2 + 0.5),
                                               round(s_x[r]), round(s_x[r])]))
            outputs = net.track(torch.cat(inputs))
            cls = outputs["pred_logits"]
            score = torch.sigmoid(cls[:, :, 0] - cls[:, :, 1])
            pscore = score * (1 - config.window_influence) + window.to(score) * config.window_influence
            q = pscore * (1 - 2 * config.sig_eps) + config.sig_eps
            probs = torch.softmax(torch.log(q / (1 - q)) * config.temperature, dim=1)
            selected = torch.cat((probs[:clips].argmax(1), torch.distributions.Categorical(probs[clips:]).sample()))
            pred = outputs["pred_boxes"].data.cpu().numpy()[np.arange(len(rows)), selected.cpu().numpy()]
            step_boxes = []
            for r, k in enumerate(rows):
                bbox = pred[r] * s_x[r]
                cx, cy, w, h = tracker._bbox_clip(bbox[0] + centre[r][0] - s_x[r] / 2,
                                                  bbox[1] + centre[r][1] - s_x[r] / 2, bbox[2], bbox[3],
                                                  batch["search_images"][k][t].shape[:2])
                centre[r], size[r] = np.array([cx, cy]), np.array([w, h])
                step_boxes.append([cx - w / 2, cy - h / 2, w, h])
            boxes.append(np.array(step_boxes))
            actions.extend(selected[clips:].tolist())
            regions.append(np.stack(frame_regions))
            crops.append(torch.cat(raw)[clips:])
        return sampled_rollout(boxes, actions, crops, regions, gts, config.search_size, {}, z[:clips])

    def step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.net.parameters(), self.optimizer, self.explore(batch), self.update)

    def official_step(self, batch: dict[str, list[Any]]) -> None:
        slt_update(self.actor, self.net.parameters(), self.optimizer, self.official_explore(batch), self.update)


HOST_BACKENDS: dict[str, type[Backend]] = {
    "pysot_alex": PySOTAlexBackend, "pysot_r50": PySOTResNet50Backend, "transt": TransTBackend,
}
