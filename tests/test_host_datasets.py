"""`slt make-data --layout got10k` output read by the host's own ``ltr.dataset.Got10k`` (TransT or upstream
PyTracking checkout at TRANST_ROOT / PYTRACKING_ROOT; the tree must be importable, i.e. patched for torch 2.x
with ``slt patch-host transt``)."""

import os
import sys

import numpy as np
import pytest

ROOT = os.environ.get("TRANST_ROOT") or os.environ.get("PYTRACKING_ROOT")
if not ROOT:
    pytest.skip("TRANST_ROOT / PYTRACKING_ROOT not set: point one at a PyTracking-family checkout",
                allow_module_level=True)
sys.path.insert(0, ROOT)
pytest.importorskip("torchvision", reason="the host needs torchvision: run in the host's environment")
host_datasets = pytest.importorskip("ltr.dataset", reason=f"ltr.dataset does not import from {ROOT} (patched?)")

from slt.data import Got10k  # noqa: E402
from slt.data.synthetic import SyntheticConfig, write_dataset  # noqa: E402


def opencv_rgb(path):
    import cv2

    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def test_host_got10k_reads_synthetic_data_exactly_as_slt_data_does(tmp_path):
    config = SyntheticConfig(height=64, width=80, num_frames=12, out_of_view_prob=1.0, occluder_prob=1.0)
    root = write_dataset(tmp_path, "got10k", num_videos=3, num_frames=12, seed=4, config=config, progress=False)
    ours = Got10k(root)
    host = host_datasets.Got10k(str(root), split=None, image_loader=opencv_rgb)
    assert host.get_num_sequences() == ours.get_num_sequences() == 3
    for seq in range(3):
        mine, theirs = ours.get_sequence_info(seq), host.get_sequence_info(seq)
        np.testing.assert_allclose(theirs["bbox"].numpy(), mine["bbox"].numpy(), atol=1e-4)
        assert theirs["visible"].bool().tolist() == mine["visible"].tolist()
        assert theirs["valid"].bool().tolist() == mine["valid"].tolist()
        frames_host, _, meta_host = host.get_frames(seq, [0, 11], theirs)
        frames_ours, _, meta_ours = ours.get_frames(seq, [0, 11], mine)
        assert all(np.array_equal(a, b) for a, b in zip(frames_host, frames_ours))
        assert meta_host["object_class_name"] == meta_ours["object_class_name"]
    assert not all(ours.get_sequence_info(s)["visible"].all() for s in range(3))  # the check saw invisible frames
