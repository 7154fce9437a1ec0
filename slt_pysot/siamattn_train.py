"""SLT-SiamAttn training: :mod:`slt_pysot.train`'s loop with SiamAttn's network, tracker and actor.

``python -m slt_pysot.siamattn_train --cfg experiments/slt_siamattn/config.yaml`` (the SiamAttn checkout on
``PYTHONPATH``), or SiamAttn's ``tools/train.py`` once patched (``slt patch-host siamattn``). Trained beyond
SLT-SiamRPN++'s groups: the attention enhancement, the feature fusion, the box-refinement head and the mask head,
at ``TRAIN.BASE_LR`` (the official SiamAttn groups). Data, schedule and checkpoints as :mod:`slt_pysot.train`.
"""

from __future__ import annotations

from typing import Sequence

from slt_pysot import siamattn  # installs the PyTorch deformable ops before pysot.models is imported
from pysot.models.model_builder import ModelBuilder  # noqa: E402
from slt_pysot import train  # noqa: E402
from slt_pysot.siamattn_actor import SLTSiamAttnActor  # noqa: E402

HEADS = ("feature_enhance", "feature_fusion", "bbox_head", "mask_head")


def main(argv: Sequence[str] | None = None) -> int:
    """Train SLT-SiamAttn with the merged ``--cfg``; returns the exit status (0)."""
    return train.main(argv, build_model=ModelBuilder, tracker_cls=siamattn.SLTSiamAttnTracker,
                      actor_cls=SLTSiamAttnActor, heads=HEADS)


if __name__ == "__main__":
    raise SystemExit(main())
