"""The TransT network: built offline, its weights, and its forward passes in parts.

* :func:`transt_offline` builds the host TransT (ResNet-50 layer3 backbone, feature fusion, heads) with
  ``backbone_pretrained=False``: the host's ``transt_resnet50`` downloads ImageNet weights that the loaded
  checkpoint overwrites anyway (docs/method.md#b18). It is an LTR ``model_constructor``, so checkpoints written
  by the LTR trainer can be rebuilt by ``ltr.admin.loading.load_network`` offline too.
* :func:`template_features` / :func:`fuse`: the host ``TransT.template`` / ``TransT.track`` with the template
  branch computed once per template and kept by the caller, never cached on the network (docs/method.md#b17).
* :func:`pretrained_weights_path` (training) and :func:`slt_checkpoint_path` (evaluation) resolve paths from an
  environment variable or the host's ``local.py``, never from a placeholder; loading is
  :mod:`slt_pytracking.ltr_weights`' (``weights_only`` unless ``SLT_TRUST_CHECKPOINTS=1``).

Network outputs per row: ``pred_logits`` (K, 2) with class 0 = target, ``pred_boxes`` (K, 4) ``cx cy w h``
normalised to the search crop, K = 32 x 32 cells in row-major order.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from slt.checkpoint import CheckpointError, load_state_dict_checked
from slt_pytracking import require_patched_host
from slt_pytracking.imagenet import normalise
from slt_pytracking.ltr_weights import evaluation_checkpoint, load_state, loaded_once, pretrained_weights_file

require_patched_host()

from ltr import model_constructor  # noqa: E402  (host imports after the patch check)
from pytracking.features.net_wrappers import NetWithBackbone  # noqa: E402
from util.misc import nested_tensor_from_tensor_2  # noqa: E402

logger = logging.getLogger(__name__)

WEIGHTS_ENV = "SLT_TRANST_WEIGHTS"
"""Pretrained TransT weights SLT training starts from (the released ``transt.pth``)."""
CHECKPOINT_ENV = "SLT_TRANST_CHECKPOINT"
"""SLT-TransT weights the evaluation parameters load (a file, or a folder of ``*_ep*.pth.tar``)."""

NETWORK_DEFAULTS: dict[str, Any] = {"position_embedding": "sine", "hidden_dim": 256, "dropout": 0.1, "nheads": 8,
                                    "dim_feedforward": 2048, "featurefusion_layers": 4}
"""TransT architecture (``ltr/train_settings/transt/transt.py``); SLT-TransT keeps it."""


@model_constructor
def transt_offline(position_embedding: str = "sine", hidden_dim: int = 256, dropout: float = 0.1, nheads: int = 8,
                   dim_feedforward: int = 2048, featurefusion_layers: int = 4) -> nn.Module:
    """The host TransT network with randomly initialised weights (no download), on the CPU.

    The TransT modules are imported here, not at module level, so this module also imports in a
    TransformerTrack tree (which has no TransT model).
    """
    from ltr.models.backbone.transt_backbone import build_backbone
    from ltr.models.neck.featurefusion_network import build_featurefusion_network
    from ltr.models.tracking.transt import TransT

    arch = SimpleNamespace(position_embedding=position_embedding, hidden_dim=hidden_dim, dropout=dropout,
                           nheads=nheads, dim_feedforward=dim_feedforward, featurefusion_layers=featurefusion_layers)
    return TransT(build_backbone(arch, backbone_pretrained=False), build_featurefusion_network(arch), num_classes=1)


def network_kwargs(settings: Any) -> dict[str, Any]:
    """The architecture arguments of :func:`transt_offline` read from ``settings`` (defaults where unset)."""
    return {name: getattr(settings, name, default) for name, default in NETWORK_DEFAULTS.items()}


def network_kwargs_from_state(state: dict[str, Tensor], source: str) -> dict[str, Any]:
    """The :func:`transt_offline` arguments that fit a TransT state dict: width, feed-forward size, number of
    feature-fusion layers and position embedding (the number of heads is not visible in shapes: 8)."""
    pattern = re.compile(r"featurefusion_network\.encoder\.layers\.(\d+)\.")
    layers = {int(m.group(1)) for key in state if (m := pattern.match(key))}
    try:
        return {"hidden_dim": state["input_proj.weight"].shape[0],
                "dim_feedforward": state["featurefusion_network.encoder.layers.0.linear11.weight"].shape[0],
                "featurefusion_layers": len(layers),
                "position_embedding": "learned" if any(".row_embed." in key for key in state) else "sine"}
    except KeyError as error:
        raise CheckpointError(f"{source} does not hold a TransT state dict (no {error})") from error


class TemplateFeatures(NamedTuple):
    """Backbone features of template crops, ready for the feature-fusion network.

    ``src`` (B, C, 16, 16) after ``input_proj``; ``mask`` (B, 16, 16) bool padding mask; ``pos`` (B, C, 16, 16)
    position encoding.
    """

    src: Tensor
    mask: Tensor
    pos: Tensor

    def index(self, rows: Tensor) -> "TemplateFeatures":
        return TemplateFeatures(self.src[rows], self.mask[rows], self.pos[rows])


def network_input(crops: Tensor) -> Tensor:
    """``(B, 3, S, S)`` uint8 RGB crops -> float32 network input, exactly as the stock tracker:
    ``x * (1 / 255)`` clamped to [0, 1], then ImageNet mean/std normalisation."""
    return normalise(crops.float().mul(1.0 / 255.0).clamp(0.0, 1.0))


def template_features(net: nn.Module, crops: Tensor) -> TemplateFeatures:
    """``(B, 3, 128, 128)`` uint8 template crops -> :class:`TemplateFeatures` (differentiable)."""
    features, pos = net.backbone(nested_tensor_from_tensor_2(network_input(crops)))
    src, mask = features[-1].decompose()
    return TemplateFeatures(net.input_proj(src), mask, pos[-1])


def fuse(net: nn.Module, template: TemplateFeatures, crops: Tensor) -> tuple[Tensor, Tensor]:
    """TransT on ``(B, 3, 256, 256)`` uint8 search crops against per-row template features.

    Returns ``pred_logits`` (B, 1024, 2) and ``pred_boxes`` (B, 1024, 4) normalised ``cx cy w h`` -- what the
    host ``TransT.track`` / ``TransT.forward`` return, with the template branch computed once per template.
    """
    features, pos = net.backbone(nested_tensor_from_tensor_2(network_input(crops)))
    src, mask = features[-1].decompose()
    hs = net.featurefusion_network(template.src, template.mask, net.input_proj(src), mask, template.pos, pos[-1])
    return net.class_embed(hs)[-1], net.bbox_embed(hs).sigmoid()[-1]


def target_probability(pred_logits: Tensor, no_neg_logit: bool = False) -> Tensor:
    """``(B, K, 2)`` class logits -> ``(B, K)`` target probabilities, the scores the policy shapes:
    ``softmax(l)[..., 0]`` (the stock tracker's), or ``sigmoid(l[..., 0])`` with ``no_neg_logit``."""
    return torch.sigmoid(pred_logits[..., 0]) if no_neg_logit else torch.softmax(pred_logits, -1)[..., 0]


def pretrained_weights_path(env: Any) -> Path:
    """Pretrained TransT weights for SLT training: ``$SLT_TRANST_WEIGHTS``, else
    ``<settings.env.pretrained_networks>/transt.pth``; FileNotFoundError naming both otherwise."""
    return pretrained_weights_file(env, WEIGHTS_ENV, "transt.pth", "TransT", "the TransT release")


def slt_checkpoint_path() -> Path:
    """SLT-TransT weights for evaluation: ``$SLT_TRANST_CHECKPOINT`` (file, or checkpoint folder: its last
    epoch), else ``<pytracking env network_path>/slt_transt.pth``; FileNotFoundError naming both otherwise."""
    return evaluation_checkpoint(CHECKPOINT_ENV, "slt_transt.pth", "SLT-TransT",
                                 "<workspace>/checkpoints/ltr/slt/transt/TransT_ep0120.pth.tar")


class TransTWeights(NetWithBackbone):
    """``params.net`` for the stock TransT tracker: loads ``net_path`` with
    :func:`~slt_pytracking.ltr_weights.load_state` (no unchecked unpickling) into a :func:`transt_offline`
    network of the checkpoint's architecture (no ImageNet download), on the GPU when ``use_gpu`` and one is
    available."""

    def load_network(self) -> None:
        """The network, loaded once per run for all sequences (:func:`~slt_pytracking.ltr_weights.loaded_once`)."""
        self.net = loaded_once(self.net_path, (self.use_gpu, repr(sorted(self.net_kwargs.items()))), self._build)

    def _build(self) -> torch.nn.Module:
        state = load_state(self.net_path)
        net = transt_offline(**{**network_kwargs_from_state(state, str(self.net_path)), **self.net_kwargs})
        load_state_dict_checked(net, state, source=str(self.net_path))
        logger.info("loaded TransT weights from %s", self.net_path)
        if self.use_gpu and torch.cuda.is_available():
            net.to("cuda")
        return net.eval()
