"""Frame-level training (FLT) of the reference SiamRPN: template/search pairs around jittered ground truth.

This is how PySOT trains SiamRPN++ and what SLT fine-tunes from: a pair of frames of one video (or, with
probability ``neg_prob``, of two videos: a negative pair whose search crop holds no target), the search crop
shifted and rescaled around the target, PySOT anchor targets, ``cls_weight * BCE + loc_weight * L1``.
Crops are cut on the compute device with :func:`slt.crop.crop_batch`, the same op the trackers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from slt.crop import FrameBatch, crop_batch, frame_means
from slt.reference.anchors import AnchorTargets, anchor_targets, generate_anchors
from slt.reference.losses import box_loss, classification_loss, crop_gt_to_centre
from slt.reference.model import ReferenceSiamRPN
from slt.reference.tracker import TrackerParams
from slt.rollout import gt_in_crop
from slt.sampling import ClipError
from slt.siamrpn import siamfc_context_side


class PairSampler(torch.utils.data.Dataset):
    """Template/search frame pairs from datasets in the PyTracking protocol, deterministic per index.

    A sample: ``template_image``, ``search_image`` (HxWx3 uint8), ``template_box``, ``search_box`` ((4,) xywh),
    ``negative`` (bool: the search frame comes from another video, so nothing in it is the target).
    """

    def __init__(
        self,
        datasets: Sequence[Any],
        samples_per_epoch: int = 10000,
        frame_range: int = 50,
        neg_prob: float = 0.2,
        seed: int = 0,
        max_tries: int = 100,
    ) -> None:
        self.datasets = list(datasets)
        sizes = np.asarray([len(d) for d in self.datasets], dtype=np.float64)
        if sizes.sum() == 0:
            raise ClipError(f"datasets {[d.get_name() for d in self.datasets]} have no sequences")
        self.p_datasets = sizes / sizes.sum()
        self.samples_per_epoch = samples_per_epoch
        self.frame_range = frame_range
        self.neg_prob = neg_prob
        self.seed = seed
        self.epoch = 0
        self.max_tries = max_tries

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _frame(self, rng: np.random.Generator) -> tuple[Any, int, int, dict[str, Any]]:
        for _ in range(self.max_tries):
            dataset = self.datasets[int(rng.choice(len(self.datasets), p=self.p_datasets))]
            seq = int(rng.integers(dataset.get_num_sequences()))
            info = dataset.get_sequence_info(seq)
            visible = np.flatnonzero(np.asarray(info["visible"]))
            if visible.size:
                return dataset, seq, int(rng.choice(visible)), info
        raise ClipError(f"no visible frame found in {self.max_tries} draws")

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        dataset, seq, template_id, info = self._frame(rng)
        negative = bool(rng.random() < self.neg_prob)
        if negative:
            search_set, search_seq, search_id, search_info = self._frame(rng)
        else:
            visible = np.flatnonzero(np.asarray(info["visible"]))
            near = visible[np.abs(visible - template_id) <= self.frame_range]
            search_set, search_seq, search_id, search_info = dataset, seq, int(rng.choice(near)), info
        template, t_anno, _ = dataset.get_frames(seq, [template_id], info)
        search, s_anno, _ = search_set.get_frames(search_seq, [search_id], search_info)
        return {
            "template_image": template[0],
            "template_box": np.asarray(t_anno["bbox"][0], dtype=np.float32),
            "search_image": search[0],
            "search_box": np.asarray(s_anno["bbox"][0], dtype=np.float32),
            "negative": negative,
        }


@dataclass(frozen=True)
class FLTConfig:
    """Jitter and loss weights (PySOT's DATASET and TRAIN blocks, scaled to the reference crops).

    ``search_shift``: largest shift of the search crop centre, as a fraction of the search crop side;
    ``search_scale`` / ``template_scale``: largest relative change of the crop side; ``template_shift``:
    fraction of the template crop side.
    """

    template_shift: float = 0.03
    template_scale: float = 0.05
    search_shift: float = 0.25
    search_scale: float = 0.18
    cls_weight: float = 1.0
    loc_weight: float = 1.2


class FLTActor:
    """``actor(batch) -> (loss, stats)`` for a collated batch of :class:`PairSampler` samples."""

    def __init__(
        self,
        model: ReferenceSiamRPN,
        params: TrackerParams = TrackerParams(),
        config: FLTConfig = FLTConfig(),
    ) -> None:
        self.model = model
        self.params = params
        self.config = config
        net = model.config
        self.device = next(model.parameters()).device
        self.anchors = generate_anchors(net.anchors, net.score_size).to(self.device)

    def _jitter(self, boxes: Tensor, out_scale: float, shift: float, scale: float) -> Tensor:
        """``(B, 4)`` xywh boxes -> ``(B, 4)`` square regions around them with a random shift and rescale."""
        side = siamfc_context_side(boxes[:, 2:], self.params.context_amount) * out_scale
        side = side * (1 + scale * (2 * self._rand(side.shape[0], 1) - 1))[:, 0]
        centre = boxes[:, :2] + boxes[:, 2:] / 2 + shift * side[:, None] * (2 * self._rand(side.shape[0], 2) - 1)
        return torch.cat((centre - side[:, None] / 2, side[:, None], side[:, None]), dim=1)

    def _rand(self, rows: int, cols: int) -> Tensor:
        return torch.rand((rows, cols), device=self.device)

    def __call__(self, batch: dict[str, list[Any]]) -> tuple[Tensor, dict[str, float]]:
        net, cfg = self.model.config, self.config
        template_boxes = torch.as_tensor(np.stack(batch["template_box"]), device=self.device)
        search_boxes = torch.as_tensor(np.stack(batch["search_box"]), device=self.device)
        ratio = net.search_size / net.exemplar_size
        z_regions = self._jitter(template_boxes, 1.0, cfg.template_shift, cfg.template_scale)
        x_regions = self._jitter(search_boxes, ratio, cfg.search_shift, cfg.search_scale)
        z = crop_batch(FrameBatch.from_numpy(batch["template_image"], self.device), z_regions, net.exemplar_size,
                       frame_means(batch["template_image"], self.device))
        x = crop_batch(FrameBatch.from_numpy(batch["search_image"], self.device), x_regions, net.search_size,
                       frame_means(batch["search_image"], self.device))
        gt = crop_gt_to_centre(gt_in_crop(search_boxes, x_regions, net.search_size), net.search_size)
        negative = torch.as_tensor(batch["negative"], device=self.device)
        targets = anchor_targets(gt, self.anchors, negative=negative)
        cls, loc = self.model(z, x)
        return frame_level_loss(cls, loc, targets, cfg)


def frame_level_loss(
    cls: Tensor, loc: Tensor, targets: AnchorTargets, config: FLTConfig = FLTConfig(), mask: Tensor | None = None
) -> tuple[Tensor, dict[str, float]]:
    """FLT's objective: ``cls_weight * BCE(cls, anchor labels) + loc_weight * L1(loc, anchor deltas)``.

    ``cls`` (B, K) foreground logits, ``loc`` (B, K, 4) anchor deltas, ``targets`` PySOT anchor targets of the
    B search crops; ``mask`` (B,) bool, False on padded samples (no label and no box term). Returns the loss
    and its ``loss``, ``loss_cls``, ``loss_loc`` values.
    """
    labels = targets.labels if mask is None else targets.labels.masked_fill(~mask[:, None], -1.0)
    loss_cls = classification_loss(cls, labels)
    loss_loc = box_loss(loc, targets, mask)
    loss = config.cls_weight * loss_cls + config.loc_weight * loss_loc
    return loss, {"loss": loss.item(), "loss_cls": loss_cls.item(), "loss_loc": loss_loc.item()}
