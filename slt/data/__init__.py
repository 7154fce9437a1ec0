"""Dataset readers (raw GOT-10k, LaSOT, TrackingNet, VOT layouts, COCO-style images, YouTube-VOS), image I/O and synthetic videos.

Readers follow PyTracking's ``ltr.dataset`` protocol (see :class:`slt.data.base.SequenceDataset`).
"""

from slt.data.base import SequenceDataset
from slt.data.coco import CocoImages
from slt.data.errors import DataError
from slt.data.got10k import Got10k
from slt.data.image import read_rgb, write_jpeg
from slt.data.lasot import Lasot
from slt.data.synthetic import SyntheticConfig, SyntheticVideo, generate_video, write_dataset
from slt.data.trackingnet import TrackingNet
from slt.data.vot import VOTSequences
from slt.data.youtube_vos import YouTubeVOS

__all__ = [
    "CocoImages",
    "DataError",
    "Got10k",
    "Lasot",
    "SequenceDataset",
    "SyntheticConfig",
    "SyntheticVideo",
    "TrackingNet",
    "VOTSequences",
    "YouTubeVOS",
    "generate_video",
    "read_rgb",
    "write_dataset",
    "write_jpeg",
]
