"""The TrDiMP network: built offline, and its forward passes in the parts SLT-TrDiMP's tracker and actor use.

Everything runs through the host network's modules (``extract_backbone_features``,
``classifier.extract_classification_feat``, ``classifier.transformer.encoder/decoder``,
``classifier.get_filter``, ``classifier.classify``, ``bb_regressor.get_modulation/get_iou_feat/predict_iou``)
and the host's label and box functions; the template model is returned to the caller, never kept on the network.
Where the weights come from: :func:`pretrained_weights_path` (training), :func:`slt_checkpoint_path` and
:class:`TrDiMPWeights` (evaluation); loading is :mod:`slt_pytracking.ltr_weights`'.

Conventions: crops (B, 3, S, S) with 0-255 values, S = 352; boxes inside a crop are the IoU-Net's ``xywh`` crop
pixels; score maps are 23 x 23, candidates flattened row-major (``y * 23 + x``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from slt.checkpoint import load_state_dict_checked
from slt_pytracking import require_patched_host
from slt_pytracking.imagenet import normalise
from slt_pytracking.ltr_weights import evaluation_checkpoint, load_state, loaded_once, pretrained_weights_file
from slt_pytracking.prroi_standin import use_roi_align_standin

require_patched_host()

import ltr.data.bounding_box_utils as bbutils  # noqa: E402  (host imports after the patch check)
import ltr.data.processing_utils as prutils  # noqa: E402
from ltr import model_constructor  # noqa: E402
from ltr.models.tracking import dimpnet  # noqa: E402
from pytracking.features.net_wrappers import NetWithBackbone  # noqa: E402

logger = logging.getLogger(__name__)

WEIGHTS_ENV = "SLT_TRDIMP_WEIGHTS"
"""Pretrained TrDiMP weights SLT training starts from (the released ``trdimp_net.pth.tar``)."""
WEIGHTS_FILE = "trdimp_net.pth.tar"
CHECKPOINT_ENV = "SLT_TRDIMP_CHECKPOINT"
"""SLT-TrDiMP weights the evaluation parameters load (a file, or a folder of ``*_ep*.pth.tar``)."""
STANDIN_ENV = "SLT_PRROI_STANDIN"
"""Set to 1 to evaluate on a CPU with the RoIAlign stand-in for PreciseRoIPooling (numbers are not TrDiMP's)."""

NETWORK_DEFAULTS: dict[str, Any] = {
    "filter_size": 4, "optim_iter": 5, "optim_init_step": 0.9, "optim_init_reg": 0.1, "clf_feat_norm": True,
    "clf_feat_blocks": 0, "final_conv": True, "out_feature_dim": 512, "init_gauss_sigma": 0.25 / 6 * 22,
    "num_dist_bins": 100, "bin_displacement": 0.1, "mask_init_factor": 3.0, "target_mask_act": "sigmoid",
    "score_act": "relu", "frozen_backbone_layers": ("conv1", "bn1", "layer1", "layer2"),
}
"""TrDiMP architecture (``ltr/train_settings/dimp/transformer_dimp.py``; docs/method.md#hyper-parameters); SLT-TrDiMP keeps it."""


@model_constructor
def trdimp_offline(**kwargs: Any) -> nn.Module:
    """The host TrDiMP network (``dimpnet50``) with random weights and no ImageNet download (B18), on the CPU.

    ``kwargs`` override :data:`NETWORK_DEFAULTS`. An LTR ``model_constructor``: checkpoints written by the LTR
    trainer rebuild it offline.
    """
    arch = {**NETWORK_DEFAULTS, **kwargs}
    arch["frozen_backbone_layers"] = list(arch["frozen_backbone_layers"])
    return dimpnet.dimpnet50(backbone_pretrained=False, **arch)


def network_kwargs(settings: Any) -> dict[str, Any]:
    """The :func:`trdimp_offline` arguments read from ``settings`` (defaults where unset)."""
    return {name: getattr(settings, name, default) for name, default in NETWORK_DEFAULTS.items()}


def freeze_iounet(net: nn.Module) -> None:
    """Set ``requires_grad=False`` on the IoU-Net (``bb_regressor``), which then never trains: what official
    SLT-TrDiMP does as a side effect of its first exploration (docs/method.md#b7; ``bb_ce`` still reaches
    backbone layer3). The recipe calls it before building the optimizer when ``settings.freeze_iounet``."""
    logger.warning("freeze_iounet: the IoU-Net (bb_regressor) is frozen for the whole training, as official "
                   "SLT-TrDiMP does (docs/method.md#b7)")
    for p in net.bb_regressor.parameters():
        p.requires_grad_(False)


def network_input(crops: Tensor) -> Tensor:
    """``(B, 3, S, S)`` crops with 0-255 values -> network input, as the host's ``NetWithBackbone.preprocess_image``
    (``x / 255``, then ImageNet mean/std normalisation)."""
    return normalise(crops.float() / 255)


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
    feats = net.extract_backbone_features(network_input(crops.reshape(-1, *crops.shape[2:])))
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
    feats = net.extract_backbone_features(network_input(crops))
    x = net.extract_classification_feat(feats)
    _, decoded = net.classifier.transformer.decoder(x.unsqueeze(0), memory=template.memory, pos=template.labels,
                                                    query_pos=None)
    scores = net.classifier.classify(template.filter, decoded.unsqueeze(0))
    return scores.squeeze(0), feats


def transformer_labels(net: nn.Module, boxes: Tensor, image_sample_size: int, sigma: float) -> Tensor:
    """``(K, N, 4)`` IoU-Net boxes -> ``(K, N, 22, 22)`` Gaussian transformer labels (the host's
    ``gaussian_label_function`` with ``sigma`` (TrDiMP's: 0.1) and ``end_pad_if_even=False``) on the feature grid of
    ``image_sample_size`` px crops (stride 16)."""
    feature = image_sample_size // 16
    labels = prutils.gaussian_label_function(boxes.reshape(-1, 4).cpu(), sigma,
                                             net.classifier.filter_size, torch.tensor([feature, feature]).float(),
                                             torch.tensor([image_sample_size] * 2).float(),
                                             end_pad_if_even=False)
    return labels.reshape(*boxes.shape[:-1], *labels.shape[-2:])


def optimise_boxes(net: nn.Module, modulation: Sequence[Tensor], iou_feats: Sequence[Tensor], boxes: Tensor,
                   iterations: int, step_length: float, step_decay: float) -> tuple[Tensor, Tensor]:
    """Gradient ascent of the IoU-Net prediction on ``(B, P, 4)`` IoU-Net ``xywh`` boxes (relative space):
    ``iterations`` steps, the first of ``step_length``, each next one ``step_decay`` times the last.

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
        step = step_length
        sz_norm = output[:, :1, 2:].clone()
        output_rel = bbutils.rect_to_rel(output, sz_norm)
        iou = None
        with torch.enable_grad():
            for _ in range(iterations):
                rel = output_rel.clone().detach().requires_grad_(True)
                iou = net.bb_regressor.predict_iou(modulation, feats, bbutils.rel_to_rect(rel, sz_norm))
                if isinstance(iou, (list, tuple)):
                    iou = iou[0]
                (grad,) = torch.autograd.grad(iou, rel, grad_outputs=torch.ones_like(iou))
                output_rel = (rel + step * grad).detach()
                step *= step_decay
        refined = bbutils.rel_to_rect(output_rel, sz_norm)
        return refined.cpu(), iou.detach().cpu()


def proposals_around(gt: Tensor, offsets: Tensor) -> Tensor:
    """``(M, 4)`` IoU-Net ``xywh`` boxes and ``(M, P, 4)`` recorded offsets -> ``(M, P, 4)`` proposal boxes.

    The host's ``sample_box_gmm`` mapping: ``rel_to_rect(offsets + rect_to_rel(gt, gt_wh), gt_wh)``.
    """
    sz_norm = gt[:, None, 2:]
    return bbutils.rel_to_rect(offsets + bbutils.rect_to_rel(gt[:, None], sz_norm), sz_norm)


def pretrained_weights_path(env: Any) -> Path:
    """Pretrained TrDiMP weights for SLT training: ``$SLT_TRDIMP_WEIGHTS``, else
    ``<settings.env.pretrained_networks>/trdimp_net.pth.tar``; FileNotFoundError naming both otherwise."""
    return pretrained_weights_file(env, WEIGHTS_ENV, WEIGHTS_FILE, "TrDiMP", "the TransformerTrack release")


def slt_checkpoint_path() -> Path:
    """SLT-TrDiMP weights for evaluation: ``$SLT_TRDIMP_CHECKPOINT`` (file, or checkpoint folder: its last
    epoch), else ``<pytracking env network_path>/slt_trdimp.pth``; FileNotFoundError naming both otherwise."""
    return evaluation_checkpoint(CHECKPOINT_ENV, "slt_trdimp.pth", "SLT-TrDiMP",
                                 "<workspace>/checkpoints/ltr/slt/trdimp/DiMPnet_ep0040.pth.tar")


class TrDiMPWeights(NetWithBackbone):
    """``params.net`` for the stock TrDiMP tracker: loads ``net_path`` with
    :func:`~slt_pytracking.ltr_weights.load_state` (no unchecked unpickling) into a :func:`trdimp_offline`
    network (no ImageNet download), on the GPU when ``use_gpu`` and one is available; on a CPU only with
    ``SLT_PRROI_STANDIN=1`` (the RoIAlign stand-in)."""

    def load_network(self) -> None:
        """The network, loaded once per run for all sequences (:func:`~slt_pytracking.ltr_weights.loaded_once`)."""
        key = (self.use_gpu, os.environ.get(STANDIN_ENV, ""), repr(sorted(self.net_kwargs.items())))
        self.net = loaded_once(self.net_path, key, self._build)

    def _build(self) -> torch.nn.Module:
        state = load_state(self.net_path)
        net = trdimp_offline(**self.net_kwargs)
        load_state_dict_checked(net, state, source=str(self.net_path))
        logger.info("loaded TrDiMP weights from %s", self.net_path)
        if self.use_gpu and torch.cuda.is_available():
            net.to("cuda")
        elif os.environ.get(STANDIN_ENV, "") == "1":
            use_roi_align_standin(net)
        else:
            raise RuntimeError(f"TrDiMP tracks with PreciseRoIPooling, a CUDA-only extension, and no GPU is "
                               f"available; set {STANDIN_ENV}=1 to run on the CPU with the RoIAlign stand-in "
                               f"(pipeline checks only: the results are not TrDiMP's)")
        return net.eval()
