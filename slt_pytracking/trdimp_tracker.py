"""SLT-TrDiMP exploration: the stock TrDiMP tracker, simplified and batched (SLT_REFERENCE 2.0, 2.2, 5.2).

:class:`SLTTrDiMP` extends the host's ``pytracking.tracker.trdimp.TrDiMP`` with the batched protocol of
:mod:`slt.rollout` (``batch_init`` / ``batch_track``); its inherited ``initialize`` / ``track`` are the stock
test-time tracker. Exploration is the *simplified* TrDiMP of the paper: the template model (13 augmented
template crops, transformer encoder memory, DiMP filter after ``net_opt_iter`` optimiser steps, IoU-Net
modulation vector) is built once per clip and never updated (no memory update, ``update_classifier`` off), no
advanced localisation, no dropout augmentation. With those parameters (:func:`stock_parameters`) the greedy
rows of :meth:`SLTTrDiMP.batch_track` take the stock tracker's decisions frame after frame.

Everything runs through the host network's modules (``extract_backbone_features``,
``classifier.extract_classification_feat``, ``classifier.transformer.encoder/decoder``,
``classifier.get_filter``, ``classifier.classify``, ``bb_regressor.get_modulation/get_iou_feat/predict_iou``)
and the host's crop, augmentation and label functions; the template model lives in the tracker, never on the
network.

Conventions. Tracker state as the stock tracker keeps it: ``pos`` (B, 2) target centre ``(y, x)`` in
pixel-index coordinates (``y + (h - 1) / 2``), ``target_sz`` (B, 2) ``(h, w)``, float32 on the CPU. Boxes
returned to the rollout are ``xywh`` image pixels, ``x = cx - (w - 1) / 2`` (the stock output). Boxes inside a
352 px crop are the IoU-Net's ``xywh`` crop pixels (the rollout's ``gt_in_crop`` of the regions returned here).
Score maps are 23 x 23, candidates flattened row-major (``y * 23 + x``).

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
from slt.rollout import TrackStep
from slt_pytracking import require_patched_host

require_patched_host()

import ltr.data.bounding_box_utils as bbutils  # noqa: E402  (host imports after the patch check)
import ltr.data.processing_utils as prutils  # noqa: E402
from ltr import model_constructor  # noqa: E402
from ltr.models.tracking import dimpnet  # noqa: E402
from pytracking.features import augmentation  # noqa: E402
from pytracking.features.preprocessing import numpy_to_torch, sample_patch_multiscale, \
    sample_patch_transformed  # noqa: E402
from pytracking.tracker.trdimp import TrDiMP  # noqa: E402
from pytracking.utils import TrackerParams  # noqa: E402


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

NETWORK_DEFAULTS: dict[str, Any] = {
    "filter_size": 4, "optim_iter": 5, "optim_init_step": 0.9, "optim_init_reg": 0.1, "clf_feat_norm": True,
    "clf_feat_blocks": 0, "final_conv": True, "out_feature_dim": 512, "init_gauss_sigma": 0.25 / 6 * 22,
    "num_dist_bins": 100, "bin_displacement": 0.1, "mask_init_factor": 3.0, "target_mask_act": "sigmoid",
    "score_act": "relu", "frozen_backbone_layers": ("conv1", "bn1", "layer1", "layer2"),
}
"""TrDiMP architecture (``ltr/train_settings/dimp/transformer_dimp.py``; SLT_REFERENCE 5.1); SLT-TrDiMP keeps it."""


@model_constructor
def trdimp_offline(**kwargs: Any) -> nn.Module:
    """The host TrDiMP network (``dimpnet50``) with random weights and no ImageNet download (B18), on the CPU.

    ``kwargs`` override :data:`NETWORK_DEFAULTS`. An LTR ``model_constructor``: checkpoints written by the LTR
    trainer rebuild it offline.
    """
    arch = {**NETWORK_DEFAULTS, **kwargs}
    arch["frozen_backbone_layers"] = list(arch["frozen_backbone_layers"])
    return dimpnet.dimpnet50(backbone_pretrained=False, **arch)


@dataclass(frozen=True)
class ExplorationConfig:
    """Exploration-tracker parameters (SLT_REFERENCE 5.2; names as the host's ``TrackerParams``).

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

    @property
    def num_random_shifts(self) -> int:
        """How many random shifts the template augmentations draw (flip, blurs, rotations)."""
        if self.random_shift_factor <= 0:
            return 0
        return int(self.fliplr) + len(self.blur) + len(self.rotate)


def stock_parameters(config: ExplorationConfig = ExplorationConfig(), net: Any = None) -> TrackerParams:
    """``TrackerParams`` making the stock ``TrDiMP`` tracker the exploration tracker's greedy policy.

    The test-time ``trdimp.py`` parameters with SLT's simplifications (SLT_REFERENCE 5.2): no classifier or
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
    the stock order (flip, blurs, rotations); ``box_jitter(clips, count, generator)`` -> (clips, count, 4): the
    random initial boxes of the IoU-Net refinement of one frame. Both are per clip and shared by the clip's
    greedy and sampled rows, so the two trajectories differ only through the sampled candidates.
    """

    def init_shifts(self, clips: int, count: int) -> Tensor: ...

    def box_jitter(self, clips: int, count: int, generator: torch.Generator | None) -> Tensor: ...


class TorchRandom:
    """Default :class:`RandomSource`: template shifts from the global torch generator (as the stock tracker),
    refinement jitter from the exploration generator of the step (reproducible per batch)."""

    def init_shifts(self, clips: int, count: int) -> Tensor:
        return torch.rand(clips, count, 2)

    def box_jitter(self, clips: int, count: int, generator: torch.Generator | None) -> Tensor:
        device = generator.device if generator is not None else "cpu"
        return torch.rand(clips, count, 4, generator=generator, device=device).cpu()


def normalise(crops: Tensor) -> Tensor:
    """``(B, 3, S, S)`` crops with 0-255 values -> network input, as the host's ``NetWithBackbone.preprocess_image``."""
    x = crops.float() / 255
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def iounet_box(pos: Tensor, size: Tensor, sample_pos: Tensor, sample_scale: Tensor, sample_sz: Tensor) -> Tensor:
    """Target ``(B, 2)`` centre (y, x) and size (h, w) in the image -> ``(B, 4)`` IoU-Net ``xywh`` in the crop
    centred at ``sample_pos`` (B, 2) with scale ``sample_scale`` (B,) and side ``sample_sz`` (2,) (the host's
    ``get_iounet_box``, batched)."""
    scale = sample_scale[:, None]
    centre = (pos - sample_pos) / scale + (sample_sz - 1) / 2
    box_sz = size / scale
    corner = centre - (box_sz - 1) / 2
    return torch.cat((corner.flip(-1), box_sz.flip(-1)), dim=-1)


def search_area_scale(size: Tensor, config: ExplorationConfig) -> Tensor:
    """``(B, 2)`` target sizes -> ``(B,)`` crop scales ``sqrt(prod(size * search_area_scale)) / image_sample_size``
    (the stock tracker's ``target_scale``, with its float32/float64 steps)."""
    area = torch.prod(size * config.search_area_scale, dim=-1)
    side = torch.tensor([config.image_sample_size] * 2, dtype=torch.float32).prod().sqrt()
    return torch.sqrt(area.double()).float() / side


class TemplateModel:
    """Per-row template model: encoder memory (L, B, C), transformer labels (K, B, 22, 22), DiMP filter
    (B, C, 4, 4), IoU-Net modulation vectors (two (B, 256, 1, 1)); all on the network device."""

    def __init__(self, memory: Tensor, labels: Tensor, filter: Tensor, modulation: tuple[Tensor, Tensor]) -> None:
        self.memory = memory
        self.labels = labels
        self.filter = filter
        self.modulation = modulation

    def index(self, rows: Tensor) -> "TemplateModel":
        return TemplateModel(self.memory[:, rows], self.labels[:, rows], self.filter[rows],
                             tuple(m[rows] for m in self.modulation))


def template_model(net: nn.Module, crops: Tensor, boxes: Tensor, labels: Tensor, num_iter: int) -> TemplateModel:
    """The TrDiMP template model of N clips from their K augmented template crops (differentiable).

    ``crops`` (K, N, 3, S, S) 0-255 values (K = 13: identity first), ``boxes`` (K, N, 4) IoU-Net ``xywh`` of the
    target in each crop, ``labels`` (K, N, 22, 22) transformer labels. Encoder memory of the K crops, each crop
    decoded against it, DiMP filter after ``num_iter`` optimiser steps (initialiser + steepest descent),
    IoU-Net modulation from the identity crop -- as ``DiMPnet.forward`` and the stock tracker's initialisation.
    """
    count, clips = crops.shape[:2]
    feats = net.extract_backbone_features(normalise(crops.reshape(-1, *crops.shape[2:])))
    x = net.extract_classification_feat(feats)
    x = x.reshape(count, clips, *x.shape[-3:])
    transformer = net.classifier.transformer
    memory, _ = transformer.encoder(x, pos=None)
    encoded = torch.stack([transformer.decoder(x[k:k + 1], memory=memory, pos=labels, query_pos=None)[1]
                           for k in range(count)])
    filter_, _, _ = net.classifier.get_filter(encoded, boxes, num_iter=num_iter, compute_losses=False)
    identity = [f[:clips] for f in net.get_backbone_bbreg_feat(feats)]
    modulation = net.bb_regressor.get_modulation(identity, boxes[0])
    return TemplateModel(memory, labels, filter_, tuple(modulation))


def search_scores(net: nn.Module, template: TemplateModel, crops: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """TrDiMP classification scores of ``(B, 3, S, S)`` search crops against per-row template models.

    Returns scores (B, 23, 23) (the final filter applied to the decoded search features) and the backbone
    features (for the IoU-Net) -- what the stock tracker computes per frame, batched.
    """
    feats = net.extract_backbone_features(normalise(crops))
    x = net.extract_classification_feat(feats)
    _, decoded = net.classifier.transformer.decoder(x.unsqueeze(0), memory=template.memory, pos=template.labels,
                                                    query_pos=None)
    scores = net.classifier.classify(template.filter, decoded.unsqueeze(0))
    return scores.squeeze(0), feats


def policy_logits(scores: Tensor, config: ExplorationConfig) -> Tensor:
    """``(B, H, W)`` TrDiMP scores -> ``(B, H * W)`` policy logits: row mean -> low, row max -> high
    (:func:`slt.policy.meanmax_logits`, ``score_norm_meanmax``). Used in exploration and in the update."""
    low, high = config.score_norm_meanmax
    return policy.meanmax_logits(scores.reshape(scores.shape[0], -1), low, high)


class SLTTrDiMP(TrDiMP):
    """Batched simplified TrDiMP (``copies * N`` rows, copy-major: row ``c * N + i`` follows clip i).

    Args:
        net: the host ``DiMPnet`` (the training network: exploration reads it, never modifies it).
        config: :class:`ExplorationConfig`.
        random: :class:`RandomSource` (default :class:`TorchRandom`).

    The device is the network's. Call ``batch_init`` / ``batch_track`` under ``torch.inference_mode()``
    (:func:`slt.rollout.explore` does). Differences from the official SLT-TrDiMP exploration (docs/trdimp.md):
    the crop scale follows the stock tracker (the official batch code re-derives the base target size from the
    crop every frame), the refinement jitter is drawn per clip and shared by its two rows, and the target-found
    logic is per row (B10).
    """

    def __init__(self, net: nn.Module, config: ExplorationConfig = ExplorationConfig(),
                 random: RandomSource | None = None) -> None:
        super().__init__(stock_parameters(config))
        self.network = net
        self.config = config
        self.random = random or TorchRandom()
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
        labels = transformer_labels(self.network, boxes, cfg)
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
                    generator: torch.Generator | None = None) -> TrackStep:
        """Track one frame per clip (``frames``: N HxWx3 uint8 RGB) for every row.

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
        logits = policy_logits(scores, cfg)
        actions = policy.select_actions(logits, action_mode, generator)

        score_sz = torch.tensor(scores.shape[-2:], dtype=torch.float32)
        index = actions.cpu()
        disp = torch.stack((torch.div(index, scores.shape[-1], rounding_mode="floor"), index % scores.shape[-1]),
                           dim=1).float() - (score_sz - 1) / 2
        output_sz = score_sz - (self.kernel_size + 1) % 2
        new_pos = sample_pos + disp * (self.sample_sz / output_sz) * sample_scale[:, None]
        self._update_state(new_pos, torch.tensor([f.shape[:2] for f in frames], dtype=torch.float32)
                           .repeat(self.copies, 1))
        self._refine(feats, sample_pos, sample_scale, generator)
        self.pos = torch.where(self.has_pos_iounet[:, None], self.pos_iounet, self.pos)

        boxes = torch.cat((self.pos.flip(-1) - (self.target_sz.flip(-1) - 1) / 2, self.target_sz.flip(-1)), dim=1)
        side = (sample_scale * self.sample_sz[0])[:, None]
        regions = torch.cat((sample_pos.flip(-1) + 0.5 - side / 2, side, side), dim=1)
        return TrackStep(boxes=boxes.to(device), actions=actions, crops=net_crops, regions=regions.to(device),
                         extras={**self._proposals(generator),
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
                generator: torch.Generator | None) -> None:
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
            jitter = self.random.box_jitter(rows // self.copies, cfg.num_init_random_boxes, generator)
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
        out_boxes, out_iou = optimise_boxes(self.network, self.template.modulation, iou_feats, boxes, cfg)
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

    def _proposals(self, generator: torch.Generator | None) -> dict[str, Tensor]:
        """IoU-Net training proposals of every row, drawn before the ground truth is known.

        The host's ``sample_box_gmm`` draws offsets from a GMM in ``rect_to_rel`` space around the target box
        and evaluates both densities on the offsets alone; the actor maps the recorded offsets around the ground
        truth in the crop (``rel_to_rect(offsets + rect_to_rel(gt, gt_wh), gt_wh)``), which is the same proposal
        distribution. Offsets (B, P, 4), densities (B, P), on the network device.
        """
        cfg = self.config
        rows = self.pos.shape[0]
        device = generator.device if generator is not None else torch.device("cpu")
        centre_std = torch.tensor([s[0] for s in cfg.proposal_sigma])
        size_std = torch.tensor([s[1] for s in cfg.proposal_sigma])
        std = torch.stack([centre_std, centre_std, size_std, size_std])  # (4, components)
        component = torch.randint(std.shape[1], (rows, cfg.proposal_boxes), generator=generator, device=device).cpu()
        noise = torch.randn(rows, cfg.proposal_boxes, 4, generator=generator, device=device).cpu()
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


def transformer_labels(net: nn.Module, boxes: Tensor, config: ExplorationConfig) -> Tensor:
    """``(K, N, 4)`` IoU-Net boxes -> ``(K, N, 22, 22)`` Gaussian transformer labels (the host's
    ``gaussian_label_function`` with TrDiMP's sigma 0.1 and ``end_pad_if_even=False``)."""
    feature = config.image_sample_size // 16
    labels = prutils.gaussian_label_function(boxes.reshape(-1, 4).cpu(), config.transformer_label_sigma,
                                             net.classifier.filter_size, torch.tensor([feature, feature]).float(),
                                             torch.tensor([config.image_sample_size] * 2).float(),
                                             end_pad_if_even=False)
    return labels.reshape(*boxes.shape[:-1], *labels.shape[-2:])


def optimise_boxes(net: nn.Module, modulation: Sequence[Tensor], iou_feats: Sequence[Tensor], boxes: Tensor,
                   config: ExplorationConfig) -> tuple[Tensor, Tensor]:
    """Gradient ascent of the IoU-Net prediction on ``(B, P, 4)`` IoU-Net ``xywh`` boxes (relative space).

    The only place exploration differentiates: it leaves ``torch.inference_mode`` and takes
    ``torch.autograd.grad`` with respect to the box tensor only (no parameter ``.grad`` is written, whatever
    the network's ``requires_grad`` flags). Returns the refined boxes (B, P, 4) and the IoU predicted for the
    boxes before the last step (B, P), both float32 on the CPU (as the stock ``optimize_boxes_relative``).
    """
    device = iou_feats[0].device
    with torch.inference_mode(False):
        feats = [f.clone() for f in iou_feats]
        modulation = [m.clone() for m in modulation]
        output = boxes.clone().to(device)
        step = config.box_refinement_step_length
        sz_norm = output[:, :1, 2:].clone()
        output_rel = bbutils.rect_to_rel(output, sz_norm)
        iou = None
        with torch.enable_grad():
            for _ in range(config.box_refinement_iter):
                rel = output_rel.clone().detach().requires_grad_(True)
                iou = net.bb_regressor.predict_iou(modulation, feats, bbutils.rel_to_rect(rel, sz_norm))
                if isinstance(iou, (list, tuple)):
                    iou = iou[0]
                (grad,) = torch.autograd.grad(iou, rel, grad_outputs=torch.ones_like(iou))
                output_rel = (rel + step * grad).detach()
                step *= config.box_refinement_step_decay
        refined = bbutils.rel_to_rect(output_rel, sz_norm)
        return refined.cpu(), iou.detach().cpu()
