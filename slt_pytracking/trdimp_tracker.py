"""SLT-TrDiMP exploration: the stock TrDiMP tracker, simplified and batched (docs/method.md#policy).

:class:`SLTTrDiMP` extends the host's ``pytracking.tracker.trdimp.TrDiMP`` with the batched protocol of
:mod:`slt.rollout` (``batch_init`` / ``batch_track``); its inherited ``initialize`` / ``track`` are the stock
test-time tracker. Exploration is the *simplified* TrDiMP of the paper: the template model (13 augmented
template crops, transformer encoder memory, DiMP filter after ``net_opt_iter`` optimiser steps, IoU-Net
modulation vector) is built once per clip and never updated (no memory update, ``update_classifier`` off), no
advanced localisation, no dropout augmentation. With those parameters (:func:`stock_parameters`) the greedy
rows of :meth:`SLTTrDiMP.batch_track` take the stock tracker's decisions frame after frame.

The network runs through :mod:`slt_pytracking.trdimp_net` (the host modules in parts), the crops through the
host's crop and augmentation functions; this module holds the tracker state. The template model lives in the
tracker, never on the network. The tracker builds its policy shaping once (:attr:`SLTTrDiMP.shaping`, a
``meanmax`` :class:`slt.policy.Shaping`) and owns it; the actor's update receives the same object.

Conventions. Tracker state as the stock tracker keeps it: ``pos`` (B, 2) target centre ``(y, x)`` in
pixel-index coordinates (``y + (h - 1) / 2``), ``target_sz`` (B, 2) ``(h, w)``, float32 on the CPU. Boxes
returned to the rollout are ``xywh`` image pixels, ``x = cx - (w - 1) / 2`` (the stock output). Boxes inside a
352 px crop are the IoU-Net's ``xywh`` crop pixels (the rollout's ``gt_in_crop`` of the regions returned here).
Score maps are 23 x 23, candidates flattened row-major (``y * 23 + x``).

Randomness: the sampled rows' actions, the IoU-Net refinement jitter and the IoU-Net training proposals draw
from the ``random`` of :meth:`SLTTrDiMP.batch_track` -- with a :class:`slt.policy.ClipRandom` (what
:func:`slt.rollout.explore` passes by default) keyed by clip, so a clip explores alike in one process or on any
rank of a torchrun job. The template augmentations' random shifts come from the tracker's
:class:`RandomSource` (``batch_init`` receives no randomness).

Autograd: exploration runs under ``torch.inference_mode()`` (:func:`slt.rollout.explore`); only the IoU-Net
box refinement leaves it, and it differentiates with respect to the box tensors alone (``torch.autograd.grad``:
no parameter gradient is accumulated and no ``requires_grad`` flag of the network is touched, see B7 in
docs/trdimp.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from slt import policy
from slt.crop import to_uint8
from slt.policy import ClipRandom, Randomness, Shaping
from slt.rollout import TrackStep
from slt_pytracking import require_patched_host
from slt_pytracking.trdimp_net import optimise_boxes, search_scores, template_model, transformer_labels

require_patched_host()

import ltr.data.processing_utils as prutils  # noqa: E402  (host imports after the patch check)
from pytracking.features import augmentation  # noqa: E402
from pytracking.features.preprocessing import numpy_to_torch, sample_patch_multiscale, \
    sample_patch_transformed  # noqa: E402
from pytracking.tracker.trdimp import TrDiMP  # noqa: E402
from pytracking.utils import TrackerParams  # noqa: E402


@dataclass(frozen=True)
class TrDiMPExplorationConfig:
    """Exploration-tracker parameters (docs/method.md#hyper-parameters; names as the host's ``TrackerParams``).

    ``round_crops``: feed the network the uint8-rounded search crops (what the rollout records and the update
    sees) instead of the host's float crops. Off by default: the greedy rows then equal the stock tracker; the
    update recomputes the logits on crops that differ by at most half a grey level.
    """

    image_sample_size: int = 352
    search_area_scale: float = 6.0
    border_mode: str = "inside_major"
    patch_max_scale_change: float = 1.5
    net_opt_iter: int = 5
    fliplr: bool = True
    rotate: tuple[float, ...] = (10, -10, 45, -45)
    blur: tuple[tuple[float, float], ...] = ((3, 1), (1, 3), (2, 2))
    relativeshift: tuple[tuple[float, float], ...] = ((0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6))
    augmentation_expansion_factor: float = 2.0
    random_shift_factor: float = 1.0 / 3.0
    score_norm_meanmax: tuple[float, float] = (-7.0, 7.0)
    target_inside_ratio: float = 0.2
    transformer_label_sigma: float = 0.1
    iounet_k: int = 3
    num_init_random_boxes: int = 9
    box_jitter_pos: float = 0.1
    box_jitter_sz: float = 0.5
    maximal_aspect_ratio: float = 6.0
    box_refinement_iter: int = 10
    box_refinement_step_length: float = 2.5e-3
    box_refinement_step_decay: float = 1.0
    proposal_boxes: int = 128
    proposal_sigma: tuple[tuple[float, float], ...] = ((0.05, 0.05), (0.5, 0.5))
    gt_sigma: tuple[float, float] = (0.05, 0.05)
    round_crops: bool = False

    @property
    def augmentation(self) -> dict[str, Any]:
        """The host's ``params.augmentation`` dict (no ``'dropout'``: exploration has no dropout augmentation)."""
        return {"fliplr": self.fliplr, "rotate": list(self.rotate), "blur": [tuple(b) for b in self.blur],
                "relativeshift": [tuple(s) for s in self.relativeshift]}

    def shaping(self) -> Shaping:
        """The SLT-TrDiMP policy (docs/method.md#policy): per row, the 23 x 23 scores' mean mapped to
        ``score_norm_meanmax[0]`` and their max to ``score_norm_meanmax[1]``; the argmax is the stock tracker's."""
        return Shaping(kind="meanmax", meanmax=tuple(self.score_norm_meanmax))

    @property
    def num_random_shifts(self) -> int:
        """How many random shifts the template augmentations draw (flip, blurs, rotations)."""
        if self.random_shift_factor <= 0:
            return 0
        return int(self.fliplr) + len(self.blur) + len(self.rotate)


def stock_parameters(config: TrDiMPExplorationConfig = TrDiMPExplorationConfig(), net: Any = None) -> TrackerParams:
    """``TrackerParams`` making the stock ``TrDiMP`` tracker the exploration tracker's greedy policy.

    The test-time ``trdimp.py`` parameters with SLT's simplifications (docs/method.md#hyper-parameters): no classifier or
    memory update, no advanced localisation, no dropout augmentation, ``net_opt_iter`` optimiser steps.
    ``net``: a ``NetWithBackbone``-like wrapper (``extract_backbone`` and attribute forwarding).
    """
    params = TrackerParams()
    params.debug = 0
    params.visualization = False
    params.use_gpu = torch.cuda.is_available()
    params.image_sample_size = config.image_sample_size
    params.search_area_scale = config.search_area_scale
    params.border_mode = config.border_mode
    params.patch_max_scale_change = config.patch_max_scale_change
    params.sample_memory_size = 50
    params.learning_rate = 0.01
    params.init_samples_minimum_weight = 0.25
    params.train_skipping = 20
    params.update_classifier = False
    params.net_opt_iter = config.net_opt_iter
    params.net_opt_update_iter = 2
    params.net_opt_hn_iter = 1
    params.transformer_skipping = 5
    params.transformer_memory_size = 20
    params.window_output = False
    params.use_augmentation = True
    params.augmentation = config.augmentation
    params.augmentation_expansion_factor = config.augmentation_expansion_factor
    params.random_shift_factor = config.random_shift_factor
    params.score_preprocess = "softmax"  # monotone: same argmax as the raw scores
    params.advanced_localization = False
    params.target_inside_ratio = config.target_inside_ratio
    params.box_refinement_space = "relative"
    params.iounet_augmentation = False
    params.iounet_k = config.iounet_k
    params.num_init_random_boxes = config.num_init_random_boxes
    params.box_jitter_pos = config.box_jitter_pos
    params.box_jitter_sz = config.box_jitter_sz
    params.maximal_aspect_ratio = config.maximal_aspect_ratio
    params.box_refinement_iter = config.box_refinement_iter
    params.box_refinement_step_length = config.box_refinement_step_length
    params.box_refinement_step_decay = config.box_refinement_step_decay
    if net is not None:
        params.net = net
    return params


class RandomSource(Protocol):
    """Where the exploration tracker's random numbers come from (uniform ``[0, 1)``, float32, CPU).

    ``init_shifts(clips, count)`` -> (clips, count, 2): the random shifts of the augmented template crops, in
    the stock order (flip, blurs, rotations); ``box_jitter(clips, count, random)`` -> (clips, count, 4): the
    random initial boxes of the IoU-Net refinement of one frame (``random``: the randomness ``batch_track``
    received). Both are per clip and shared by the clip's greedy and sampled rows, so the trajectories differ
    only through the sampled candidates.
    """

    def init_shifts(self, clips: int, count: int) -> Tensor: ...

    def box_jitter(self, clips: int, count: int, random: Randomness) -> Tensor: ...


class TorchRandom:
    """Default :class:`RandomSource`: template shifts from the global torch generator (as the stock tracker),
    refinement jitter from the step's randomness: clip ``i``'s stream of a :class:`~slt.policy.ClipRandom`
    (``random.uniform(count, 4)``), else the given generator (None: the global one)."""

    def init_shifts(self, clips: int, count: int) -> Tensor:
        return torch.rand(clips, count, 2)

    def box_jitter(self, clips: int, count: int, random: Randomness) -> Tensor:
        if isinstance(random, ClipRandom):
            return random.uniform(count, 4)
        device = random.device if random is not None else "cpu"
        return torch.rand(clips, count, 4, generator=random, device=device).cpu()


def iounet_box(pos: Tensor, size: Tensor, sample_pos: Tensor, sample_scale: Tensor, sample_sz: Tensor) -> Tensor:
    """Target ``(B, 2)`` centre (y, x) and size (h, w) in the image -> ``(B, 4)`` IoU-Net ``xywh`` in the crop
    centred at ``sample_pos`` (B, 2) with scale ``sample_scale`` (B,) and side ``sample_sz`` (2,) (the host's
    ``get_iounet_box``, batched)."""
    scale = sample_scale[:, None]
    centre = (pos - sample_pos) / scale + (sample_sz - 1) / 2
    box_sz = size / scale
    corner = centre - (box_sz - 1) / 2
    return torch.cat((corner.flip(-1), box_sz.flip(-1)), dim=-1)


def search_area_scale(size: Tensor, config: TrDiMPExplorationConfig) -> Tensor:
    """``(B, 2)`` target sizes -> ``(B,)`` crop scales ``sqrt(prod(size * search_area_scale)) / image_sample_size``
    (the stock tracker's ``target_scale``, with its float32/float64 steps)."""
    area = torch.prod(size * config.search_area_scale, dim=-1)
    side = torch.tensor([config.image_sample_size] * 2, dtype=torch.float32).prod().sqrt()
    return torch.sqrt(area.double()).float() / side


class SLTTrDiMP(TrDiMP):
    """Batched simplified TrDiMP (``copies * N`` rows, copy-major: row ``c * N + i`` follows clip i).

    Args:
        net: the host ``DiMPnet`` (the training network: exploration reads it, never modifies it).
        config: :class:`TrDiMPExplorationConfig`.
        random: :class:`RandomSource` (default :class:`TorchRandom`).

    The device is the network's. Call ``batch_init`` / ``batch_track`` under ``torch.inference_mode()``
    (:func:`slt.rollout.explore` does). Differences from the official SLT-TrDiMP exploration (docs/trdimp.md):
    the crop scale follows the stock tracker (the official batch code re-derives the base target size from the
    crop every frame), the refinement jitter is drawn per clip and shared by its rows, and the target-found
    logic is per row (B10). ``shaping``: the policy (:meth:`TrDiMPExplorationConfig.shaping`), built once here;
    the actor receives this object.
    """

    def __init__(self, net: nn.Module, config: TrDiMPExplorationConfig = TrDiMPExplorationConfig(),
                 random: RandomSource | None = None) -> None:
        super().__init__(stock_parameters(config))
        self.network = net
        self.config = config
        self.random = random or TorchRandom()
        self.shaping = config.shaping()
        self.sample_sz = torch.tensor([config.image_sample_size] * 2, dtype=torch.float32)
        self.copies = 1

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    # ----------------------------------------------------------------------------------------- batched API
    def batch_init(self, template_images: Sequence[np.ndarray], template_boxes: Tensor, init_boxes: Tensor,
                   copies: int = 2) -> Tensor:
        """Build the template model of N clips and start ``copies * N`` trajectories.

        ``template_images``: N HxWx3 uint8 RGB; ``template_boxes`` (N, 4) xywh locate the targets in them;
        the state starts at ``init_boxes`` (N, 4) xywh (the ground truth of each clip's first frame).
        Returns the ``(N, K, 3, S, S)`` uint8 augmented template crops (K = 13, identity first).
        """
        cfg = self.config
        device = self.device
        clips = len(template_images)
        shifts = self.random.init_shifts(clips, cfg.num_random_shifts)
        crops, boxes = [], []
        for image, box, shift in zip(template_images, template_boxes.cpu(), shifts):
            pos, size = centre_size(box[None])
            scale = search_area_scale(size, cfg)
            transforms = self._init_transforms(shift)
            sample_pos = pos[0].round()
            expansion = self._expansion_size()
            crops.append(sample_patch_transformed(numpy_to_torch(image), sample_pos, scale[0], expansion, transforms))
            base = iounet_box(pos, size, sample_pos[None], scale, self.sample_sz)[0]
            boxes.append(torch.stack([base + torch.tensor([t.shift[1], t.shift[0], 0.0, 0.0]) for t in transforms]))
        crops = torch.stack(crops, dim=1).to(device)  # (K, N, 3, S, S)
        if cfg.round_crops:
            crops = crops.round()
        boxes = torch.stack(boxes, dim=1)  # (K, N, 4)
        labels = transformer_labels(self.network, boxes, cfg.image_sample_size, cfg.transformer_label_sigma)
        template = template_model(self.network, crops, boxes.to(device), labels.to(device), cfg.net_opt_iter)
        rows = torch.arange(clips, device=device).repeat(copies)
        self.template = template.index(rows)
        self.template_boxes = boxes.transpose(0, 1).repeat(copies, 1, 1).to(device)  # (B, K, 4)
        self.pos, self.target_sz = (t.repeat(copies, 1) for t in centre_size(init_boxes.cpu().float()))
        self.target_scale = search_area_scale(self.target_sz, cfg)
        self.base_target_sz = self.target_sz / self.target_scale[:, None]
        self.pos_iounet = self.pos.clone()
        self.has_pos_iounet = torch.zeros(self.pos.shape[0], dtype=torch.bool)
        self.feature_sz = torch.tensor(labels.shape[-2:], dtype=torch.float32)
        ksz = self.network.classifier.filter_size
        self.kernel_size = torch.tensor([ksz, ksz] if isinstance(ksz, (int, float)) else ksz, dtype=torch.float32)
        self.copies = copies
        return to_uint8(crops.transpose(0, 1))

    def batch_track(self, frames: Sequence[np.ndarray], action_mode: str = "half",
                    random: Randomness = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row; ``random`` draws the sampled
        rows' actions, the refinement jitter and the proposals (see the module doc).

        Returns boxes (B, 4) xywh, actions (B,) in ``[0, 529)``, the 352 px search crops (B, 3, S, S) 0-255
        values, their regions (B, 4) ``x0 y0 side side`` in image pixels, and per-row extras for the update:
        ``proposal_offsets`` (B, P, 4) IoU-Net proposals relative to the ground truth (``rect_to_rel`` space),
        ``proposal_density`` and ``gt_density`` (B, P), ``template_boxes`` (B, K, 4).
        """
        cfg = self.config
        device = self.device
        images = [numpy_to_torch(frame) for frame in frames]
        centre = self.pos + ((self.feature_sz + self.kernel_size) % 2) * self.target_scale[:, None] * \
            self.sample_sz / (2 * self.feature_sz)
        crops, coords = [], []
        for row in range(self.pos.shape[0]):
            patch, coord = sample_patch_multiscale(images[row % len(images)], centre[row],
                                                   self.target_scale[row:row + 1] * torch.ones(1), self.sample_sz,
                                                   mode=cfg.border_mode, max_scale_change=cfg.patch_max_scale_change)
            crops.append(patch)
            coords.append(coord)
        crops = torch.cat(crops).to(device)
        coords = torch.cat(coords).float()
        sample_pos = 0.5 * (coords[:, :2] + coords[:, 2:] - 1)
        sample_scale = ((coords[:, 2:] - coords[:, :2]) / self.sample_sz).prod(dim=1).sqrt()
        net_crops = crops.round() if cfg.round_crops else crops
        scores, feats = search_scores(self.network, self.template, net_crops)
        logits = self.shaping.logits(scores.reshape(scores.shape[0], -1))
        actions = policy.select_actions(logits, action_mode, random)

        score_sz = torch.tensor(scores.shape[-2:], dtype=torch.float32)
        index = actions.cpu()
        disp = torch.stack((torch.div(index, scores.shape[-1], rounding_mode="floor"), index % scores.shape[-1]),
                           dim=1).float() - (score_sz - 1) / 2
        output_sz = score_sz - (self.kernel_size + 1) % 2
        new_pos = sample_pos + disp * (self.sample_sz / output_sz) * sample_scale[:, None]
        self._update_state(new_pos, torch.tensor([f.shape[:2] for f in frames], dtype=torch.float32)
                           .repeat(self.copies, 1))
        self._refine(feats, sample_pos, sample_scale, random)
        self.pos = torch.where(self.has_pos_iounet[:, None], self.pos_iounet, self.pos)

        boxes = torch.cat((self.pos.flip(-1) - (self.target_sz.flip(-1) - 1) / 2, self.target_sz.flip(-1)), dim=1)
        side = (sample_scale * self.sample_sz[0])[:, None]
        regions = torch.cat((sample_pos.flip(-1) + 0.5 - side / 2, side, side), dim=1)
        return TrackStep(boxes=boxes.to(device), actions=actions, crops=net_crops, regions=regions.to(device),
                         extras={**self._proposals(random),
                                 "template_boxes": self.template_boxes})

    # ------------------------------------------------------------------------------------------ helpers
    def _expansion_size(self) -> Tensor:
        """Side of the template image sample the augmentations are cut from (the host's ``aug_expansion_sz``)."""
        factor = self.config.augmentation_expansion_factor
        if factor is None or factor == 1:
            return self.sample_sz.clone()
        size = (self.sample_sz * factor).long()
        size += (size - self.sample_sz.long()) % 2
        return size.float()

    def _init_transforms(self, shifts: Tensor) -> list:
        """The stock tracker's template augmentations (identity first), with random shifts from ``shifts``
        (count, 2) uniform draws in the stock order."""
        cfg = self.config
        factor = cfg.augmentation_expansion_factor
        out_sz = None if factor is None or factor == 1 else self.sample_sz.long().tolist()
        draws = iter(shifts)
        zero = torch.zeros(2)

        def random_shift() -> list[int] | None:
            if cfg.random_shift_factor <= 0:
                return None
            return ((next(draws) - 0.5) * self.sample_sz * cfg.random_shift_factor + zero).long().tolist()

        transforms = [augmentation.Identity(out_sz, zero.long().tolist())]
        transforms += [augmentation.Translation((torch.tensor(s, dtype=torch.float32) * self.sample_sz / 2).long()
                                                .tolist(), out_sz, zero.long().tolist()) for s in cfg.relativeshift]
        if cfg.fliplr:
            transforms.append(augmentation.FlipHorizontal(out_sz, random_shift()))
        transforms += [augmentation.Blur(sigma, out_sz, random_shift()) for sigma in cfg.blur]
        transforms += [augmentation.Rotate(angle, out_sz, random_shift()) for angle in cfg.rotate]
        return transforms

    def _update_state(self, new_pos: Tensor, image_sz: Tensor) -> None:
        """Move every row to ``new_pos`` (B, 2), kept inside the image by ``target_inside_ratio`` of the size."""
        inside_offset = (self.config.target_inside_ratio - 0.5) * self.target_sz
        self.pos = torch.max(torch.min(new_pos, image_sz - inside_offset), inside_offset)

    def _refine(self, feats: dict[str, Tensor], sample_pos: Tensor, sample_scale: Tensor,
                random: Randomness) -> None:
        """IoU-Net box refinement of every row (the stock ``refine_target_box``, relative box space).

        The initial box (the current state) and ``num_init_random_boxes`` jittered boxes are moved up the IoU
        prediction by ``box_refinement_iter`` gradient steps on their coordinates; boxes with an aspect ratio
        beyond ``maximal_aspect_ratio`` are dropped and the top ``iounet_k`` by predicted IoU averaged. A row
        whose boxes are all dropped keeps its state (and, like the stock tracker, its last IoU-Net position).
        """
        cfg = self.config
        rows = self.pos.shape[0]
        init_box = iounet_box(self.pos, self.target_sz, sample_pos, sample_scale, self.sample_sz)
        boxes = init_box[:, None]
        if cfg.num_init_random_boxes > 0:
            jitter = self.random.box_jitter(rows // self.copies, cfg.num_init_random_boxes, random)
            jitter = jitter.repeat(self.copies, 1, 1)
            square = init_box[:, 2:].prod(dim=-1).sqrt()
            factor = square[:, None] * torch.cat([cfg.box_jitter_pos * torch.ones(2),
                                                  cfg.box_jitter_sz * torch.ones(2)])
            min_edge = init_box[:, 2:].min(dim=-1).values / 3
            rand_bb = (jitter - 0.5) * factor[:, None]
            new_sz = torch.maximum(init_box[:, None, 2:] + rand_bb[..., 2:], min_edge[:, None, None])
            new_centre = (init_box[:, None, :2] + init_box[:, None, 2:] / 2) + rand_bb[..., :2]
            boxes = torch.cat((boxes, torch.cat((new_centre - new_sz / 2, new_sz), dim=-1)), dim=1)
        iou_feats = self.network.bb_regressor.get_iou_feat(self.network.get_backbone_bbreg_feat(feats))
        out_boxes, out_iou = optimise_boxes(self.network, self.template.modulation, iou_feats, boxes,
                                            cfg.box_refinement_iter, cfg.box_refinement_step_length,
                                            cfg.box_refinement_step_decay)
        out_boxes[..., 2:] = out_boxes[..., 2:].clamp(min=1)
        aspect = out_boxes[..., 2] / out_boxes[..., 3]
        keep = (aspect < cfg.maximal_aspect_ratio) & (aspect > 1 / cfg.maximal_aspect_ratio)
        count = keep.sum(dim=1)
        top = min(cfg.iounet_k, out_boxes.shape[1])
        order = torch.topk(out_iou.masked_fill(~keep, -math.inf), top, dim=1).indices  # kept boxes first
        chosen = torch.gather(out_boxes, 1, order[..., None].expand(-1, -1, 4))
        used = torch.arange(top)[None] < count.clamp(max=top)[:, None]
        predicted = (chosen * used[..., None]).sum(dim=1) / used.sum(dim=1).clamp(min=1)[:, None]
        new_pos = (predicted[:, :2] + predicted[:, 2:] / 2).flip(-1)
        new_pos = (new_pos - (self.sample_sz - 1) / 2) * sample_scale[:, None] + sample_pos
        new_sz = predicted[:, 2:].flip(-1) * sample_scale[:, None]
        new_scale = torch.sqrt(new_sz.prod(dim=-1) / self.base_target_sz.prod(dim=-1))
        found = count > 0
        self.pos_iounet = torch.where(found[:, None], new_pos, self.pos_iounet)
        self.has_pos_iounet |= found
        self.pos = torch.where(found[:, None], new_pos, self.pos)
        self.target_sz = torch.where(found[:, None], new_sz, self.target_sz)
        self.target_scale = torch.where(found, new_scale, self.target_scale)

    def _proposals(self, random: Randomness) -> dict[str, Tensor]:
        """IoU-Net training proposals of every row, drawn before the ground truth is known.

        The host's ``sample_box_gmm`` draws offsets from a GMM in ``rect_to_rel`` space around the target box
        and evaluates both densities on the offsets alone; the actor maps the recorded offsets around the ground
        truth in the crop (``rel_to_rect(offsets + rect_to_rel(gt, gt_wh), gt_wh)``), which is the same proposal
        distribution. Offsets (B, P, 4), densities (B, P), on the network device. With a
        :class:`~slt.policy.ClipRandom`, clip ``i``'s stream draws the components and normals of all its rows.
        """
        cfg = self.config
        rows = self.pos.shape[0]
        centre_std = torch.tensor([s[0] for s in cfg.proposal_sigma])
        size_std = torch.tensor([s[1] for s in cfg.proposal_sigma])
        std = torch.stack([centre_std, centre_std, size_std, size_std])  # (4, components)
        if isinstance(random, ClipRandom):  # (N, copies, P, ...) per clip -> copy-major rows
            component = random.integers(std.shape[1], self.copies, cfg.proposal_boxes).transpose(0, 1)
            noise = random.normal(self.copies, cfg.proposal_boxes, 4).transpose(0, 1)
            component, noise = component.reshape(rows, -1), noise.reshape(rows, -1, 4)
        else:
            device = random.device if random is not None else torch.device("cpu")
            component = torch.randint(std.shape[1], (rows, cfg.proposal_boxes), generator=random, device=device).cpu()
            noise = torch.randn(rows, cfg.proposal_boxes, 4, generator=random, device=device).cpu()
        offsets = std.t()[component] * noise
        proposal_density = prutils.gmm_density_centered(offsets, std.view(1, 1, *std.shape))
        gt_std = torch.tensor([cfg.gt_sigma[0], cfg.gt_sigma[0], cfg.gt_sigma[1], cfg.gt_sigma[1]])
        gt_density = prutils.gauss_density_centered(offsets, gt_std).prod(-1)
        return {name: value.to(self.device) for name, value in
                (("proposal_offsets", offsets), ("proposal_density", proposal_density), ("gt_density", gt_density))}


def centre_size(boxes: Tensor) -> tuple[Tensor, Tensor]:
    """``(B, 4)`` xywh -> pixel-index centres ``(y, x)`` and sizes ``(h, w)`` (B, 2) float32, as the stock tracker."""
    boxes = boxes.double()
    pos = torch.stack((boxes[:, 1] + (boxes[:, 3] - 1) / 2, boxes[:, 0] + (boxes[:, 2] - 1) / 2), dim=1)
    return pos.float(), boxes[:, [3, 2]].float()
