"""The ImageNet input normalisation both PyTracking-family networks (TransT, TrDiMP) were trained with."""

from __future__ import annotations

import torch
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(images: Tensor) -> Tensor:
    """``(B, 3, S, S)`` float RGB images with values in [0, 1] -> ``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel.

    The callers scale 0-255 crops to [0, 1] as their stock trackers do (TransT: ``x * (1 / 255)`` clamped,
    TrDiMP's ``NetWithBackbone``: ``x / 255``), so the network input stays bit-identical to the host's.
    """
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[:, None, None]
    return (images - mean) / std
