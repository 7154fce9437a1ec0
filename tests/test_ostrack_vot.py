"""The ``ostrack`` VOT tracker kind against a real OSTrack checkout (botaoye/OSTrack 33b5e12), random weights.

``OSTRACK_ROOT`` names the checkout (read-only, no bytecode written). The tracker object is checked in process
against the host's stock tracker, then end to end as a TraX server (``python -m slt.vot``, when vot-trax is
installed) driven by a TraX client as vot-toolkit drives it. The toolkit's own workspace run of this kind is
``tests/test_vot.py::test_ostrack_checkpoint_evaluates_in_the_workspace``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

ROOT = os.environ.get("OSTRACK_ROOT")
if not ROOT:
    pytest.skip("OSTRACK_ROOT is not set (a botaoye/OSTrack checkout at 33b5e12)", allow_module_level=True)
pytest.importorskip("timm", reason="the OSTrack host needs timm")
HOST = Path(ROOT).resolve()
REPO = Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True
if str(HOST) not in sys.path:
    sys.path.insert(0, str(HOST))

from slt.checkpoint import CheckpointError  # noqa: E402
from slt.vot.trackers import TrackerSpec, build_tracker  # noqa: E402
from slt_ostrack.network import build_network, load_config  # noqa: E402

pytestmark = [pytest.mark.host, pytest.mark.slow]
CONFIG = HOST / "experiments" / "ostrack" / "vitb_256_mae_ce_32x4_ep300.yaml"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """Random OSTrack weights saved as SLT training saves them (``'net'``, weights-only loadable)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ostrack_vot") / "OSTrack_ep0001.pth.tar"
    torch.save({"epoch": 1, "net_type": "OSTrack", "net": build_network(load_config(CONFIG)).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> tuple[list[np.ndarray], list[Path], np.ndarray]:
    """4 noisy 200 x 240 RGB frames with a moving bright box, also written as PNG (lossless); the first box."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("ostrack_vot_frames")
    images, paths = [], []
    for k in range(4):
        image = rng.integers(0, 80, (200, 240, 3), dtype=np.uint8)
        image[60 + 3 * k:90 + 3 * k, 80 + 4 * k:120 + 4 * k] = (230, 200, 40)
        path = folder / f"{k + 1:08d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        images.append(image)
        paths.append(path)
    return images, paths, np.array([80.0, 60.0, 40.0, 30.0])


def track(tracker, images: list[np.ndarray], box: np.ndarray) -> np.ndarray:
    tracker.init(images[0], box)
    return np.stack([tracker.track(image)[0] for image in images[1:]])


def test_kind_builds_the_stock_tracker_and_tracks_as_it_does(weights, frames) -> None:
    """``build_tracker`` of an ``ostrack`` spec makes the host's ``OSTrack`` on the spec's device; its boxes are
    the stock tracker's (built the way ``tracking/test.py`` builds it) exactly, and an SLT config naming the host
    yaml as ``BASE`` gives the same tracker."""
    from lib.test.tracker.ostrack import OSTrack
    from lib.test.utils import TrackerParams

    images, _, box = frames
    tracker = build_tracker(TrackerSpec("ostrack", weights, CONFIG, "cpu"))
    assert isinstance(tracker.host_tracker, OSTrack)
    got = track(tracker, images, box)

    cfg = load_config(CONFIG)
    params = TrackerParams()
    params.cfg = cfg
    params.template_factor, params.template_size = cfg.TEST.TEMPLATE_FACTOR, cfg.TEST.TEMPLATE_SIZE
    params.search_factor, params.search_size = cfg.TEST.SEARCH_FACTOR, cfg.TEST.SEARCH_SIZE
    params.checkpoint, params.debug, params.save_all_boxes = str(weights), 0, False
    stock = OSTrack(params, "vot")
    stock.initialize(images[0], {"init_bbox": box.tolist()})
    expected = np.array([stock.track(image)["target_bbox"] for image in images[1:]])
    assert got.shape == (3, 4) and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)

    slt_config = weights.parent / "slt.yaml"
    slt_config.write_text("BASE: vitb_256_mae_ce_32x4_ep300\nSLT: {EPOCHS: 1}\n")
    again = track(build_tracker(TrackerSpec("ostrack", weights, slt_config, "cpu")), images, box)
    np.testing.assert_allclose(again, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("content, message", [
    ({"net": {}, "settings": argparse.Namespace(env=None)}, "weights_only=True"),
    ({"state_dict": {}}, "has no 'net' state dict"),
])
def test_a_checkpoint_it_cannot_load_safely_is_refused_naming_the_file(tmp_path, content, message) -> None:
    path = tmp_path / "host.pth.tar"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=message) as error:
        build_tracker(TrackerSpec("ostrack", path, CONFIG, "cpu"))
    assert str(path) in str(error.value)


def test_trax_server_serves_the_kind_end_to_end(request, weights, frames) -> None:
    """``python -m slt.vot`` with ``env_SLT_TRACKER = ostrack`` (as trackers.ini sets it), the checkout as its
    only path entry: a TraX client initialises on frame 1 and sends frames 2-4 as image paths; the rectangles
    that come back are the in-process tracker's boxes (float32 on the wire: 1e-3 px)."""
    pytest.importorskip("trax", reason="vot-trax is not installed (pip install -e '.[vot]')")
    from trax.client import Client
    from trax.image import FileImage
    from trax.region import Rectangle

    images, paths, box = frames
    expected = track(build_tracker(TrackerSpec("ostrack", weights, CONFIG, "cpu")), images, box)
    spec = TrackerSpec("ostrack", weights, CONFIG, "cpu")
    env = {**os.environ, **spec.environment(), "TRAX": "1", "PYTHONPATH": f"{HOST}:{REPO}",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    log = (weights.parent / "server.log").open("w")
    request.addfinalizer(log.close)
    server = subprocess.Popen([sys.executable, "-m", "slt.vot"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=log, env=env, cwd=weights.parent)
    watchdog = threading.Timer(300, server.kill)
    watchdog.start()
    request.addfinalizer(watchdog.cancel)
    client = Client(stream=(server.stdin.fileno(), server.stdout.fileno()), log=[].append, timeout=300)
    client.initialize({"color": FileImage.create(str(paths[0]))}, [(Rectangle.create(*box.tolist()), {})], {})
    got = []
    for path in paths[1:]:
        objects, _ = client.frame({"color": FileImage.create(str(path))}, {}, [])
        got.append(objects[0][0].bounds())
    client.quit()
    assert server.wait(timeout=60) == 0, (weights.parent / "server.log").read_text()[-3000:]
    np.testing.assert_allclose(np.array(got), expected, rtol=0, atol=1e-3)
