"""The reference network: a small SiamRPN in the PySOT mould, sized for CPU training.

AlexNet-like backbone without padding (total stride 8), depthwise cross-correlation (PySOT's
``DepthwiseXCorr``) with a classification head (one foreground logit per anchor) and a box head (4 deltas per
anchor). With the default 64 px template and 128 px search crops the score map is 9 x 9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slt.reference.anchors import AnchorSpec

# Crops are raw 0-255 pixels; the network normalises them itself so recorded uint8 crops feed it directly.
PIXEL_MEAN = (123.7, 116.3, 103.5)
PIXEL_STD = (58.4, 57.1, 57.4)


@dataclass(frozen=True)
class NetConfig:
    """Sizes of the reference network; ``exemplar_size``/``search_size`` are the crop sides in pixels."""

    exemplar_size: int = 64
    search_size: int = 128
    channels: tuple[int, int, int] = (24, 48, 64)
    head_channels: int = 64
    anchors: AnchorSpec = AnchorSpec()

    @property
    def score_size(self) -> int:
        """Side of the score map: ``(search - exemplar) / stride + 1`` for this backbone and head."""
        return (self.search_size - self.exemplar_size) // self.anchors.stride + 1


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def xcorr_depthwise(search: Tensor, kernel: Tensor) -> Tensor:
    """Depthwise cross-correlation: ``(B, C, H, W)`` with per-row ``(B, C, h, w)`` kernels -> ``(B, C, H-h+1, W-w+1)``."""
    rows, channels = kernel.shape[:2]
    out = F.conv2d(search.reshape(1, rows * channels, *search.shape[2:]),
                   kernel.reshape(rows * channels, 1, *kernel.shape[2:]), groups=rows * channels)
    return out.reshape(rows, channels, *out.shape[2:])


class DepthwiseBranch(nn.Module):
    """PySOT ``DepthwiseXCorr``: adjust template and search features, correlate, then a 1x1 head."""

    def __init__(self, channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn(channels, hidden, 3)
        self.conv_search = _conv_bn(channels, hidden, 3)
        self.head = nn.Sequential(_conv_bn(hidden, hidden, 1), nn.Conv2d(hidden, out_channels, 1))

    def forward(self, template: Tensor, search: Tensor) -> Tensor:
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(template)))


class ReferenceSiamRPN(nn.Module):
    """Siamese RPN: ``template(z)`` once per sequence, ``track(x, z_feat)`` per frame.

    Inputs are crops ``(B, 3, s, s)`` of raw 0-255 pixel values (RGB). Outputs of :meth:`track`:
    ``cls`` ``(B, K)`` foreground logits and ``loc`` ``(B, K, 4)`` deltas, ``K = anchors * S * S`` in
    anchor-major order (see :mod:`slt.reference.anchors`).
    """

    def __init__(self, config: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        self.backbone = nn.Sequential(
            _conv_bn(3, c1, 5, 2),
            nn.MaxPool2d(3, 2),
            _conv_bn(c1, c2, 3),
            nn.MaxPool2d(2, 2),
            _conv_bn(c2, c3, 3, relu=False),
        )
        num = config.anchors.num
        self.cls = DepthwiseBranch(c3, config.head_channels, num)
        self.loc = DepthwiseBranch(c3, config.head_channels, 4 * num)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), persistent=False)
        # NHWC runs the CPU (oneDNN) convolutions 1.5-2x faster than NCHW here; on CUDA it suits tensor cores.
        self.to(memory_format=torch.channels_last)

    def features(self, crops: Tensor) -> Tensor:
        """``(B, 3, s, s)`` 0-255 crops (any dtype) -> backbone features."""
        x = (crops.float() - self.pixel_mean) / self.pixel_std
        return self.backbone(x.contiguous(memory_format=torch.channels_last))

    def template(self, crops: Tensor) -> Tensor:
        """Template features of ``(N, 3, exemplar, exemplar)`` crops."""
        return self.features(crops)

    def track(self, crops: Tensor, template_features: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3, search, search)`` crops and ``(B, ...)`` template features -> ``cls (B, K)``, ``loc (B, K, 4)``."""
        x = self.features(crops)
        cls = self.cls(template_features, x)
        loc = self.loc(template_features, x)
        rows, num = cls.shape[0], self.config.anchors.num
        cls = cls.reshape(rows, -1)
        loc = loc.reshape(rows, 4, num, -1).permute(0, 2, 3, 1).reshape(rows, -1, 4)
        return cls, loc

    def forward(self, template: Tensor, search: Tensor) -> tuple[Tensor, Tensor]:
        """Training forward on crop pairs: ``(B, 3, e, e)`` templates and ``(B, 3, s, s)`` searches."""
        return self.track(search, self.template(template))
