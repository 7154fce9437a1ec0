"""``SLTModelBuilder``: PySOT's ``ModelBuilder`` with a device-agnostic training forward returning raw outputs."""

from __future__ import annotations

import torch
from torch import Tensor

from pysot.core.config import cfg
from pysot.models.loss import weight_l1_loss
from pysot.models.model_builder import ModelBuilder


class SLTModelBuilder(ModelBuilder):
    """PySOT's Siamese RPN network (built from the global cfg, as upstream) with an SLT training forward.

    ``template()`` / ``track()`` are upstream's, so the test-time trackers work unchanged. Upstream ``forward``
    moves its inputs to the GPU unconditionally and returns only losses; this one keeps the model's device and
    returns the raw head outputs the SCST loss needs. SiamMask (``cfg.MASK.MASK``) is not supported.
    """

    def __init__(self) -> None:
        if cfg.MASK.MASK:
            raise ValueError("SLTModelBuilder does not support MASK.MASK = True (SiamMask is out of scope for SLT)")
        super().__init__()

    def forward(self, data: dict[str, Tensor]) -> dict[str, Tensor]:
        """One training forward on a batch of M crop pairs (raw BGR pixel values 0-255, no normalisation).

        ``data``: ``template`` (M, 3, 127, 127) and ``search`` (M, 3, S, S), any dtype (uint8 is converted);
        optional ``label_loc`` (M, 4, A, s, s) anchor deltas and ``label_loc_weight`` (M, A, s, s).
        Returns ``cls`` (M, 2A, s, s) (channel block 0 = background, block 1 = target), ``loc`` (M, 4A, s, s)
        and, when both labels are given, ``loc_loss`` = PySOT's ``weight_l1_loss`` (sum over the batch / M).
        Inputs are moved to the device of the model's parameters.
        """
        device = next(self.parameters()).device
        zf = self.backbone(data["template"].to(device, torch.float32))
        xf = self.backbone(data["search"].to(device, torch.float32))
        if cfg.ADJUST.ADJUST:
            zf = self.neck(zf)
            xf = self.neck(xf)
        cls, loc = self.rpn_head(zf, xf)
        outputs = {"cls": cls, "loc": loc}
        if "label_loc" in data and "label_loc_weight" in data:
            outputs["loc_loss"] = weight_l1_loss(
                loc, data["label_loc"].to(device, torch.float32), data["label_loc_weight"].to(device, torch.float32)
            )
        return outputs
