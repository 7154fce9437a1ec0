"""Long-running processes stay flat: the TraX server (``python -m slt.vot``, reference tracker) tracks a
1000-frame sequence with resident memory growing less than 50 MB after warm-up, every reply within the
toolkit's default timeout."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

trax = pytest.importorskip("trax", reason="vot-trax is not installed (pip install -e '.[vot]')")

from trax.client import Client  # noqa: E402
from trax.image import FileImage  # noqa: E402
from trax.region import Rectangle  # noqa: E402

from slt.checkpoint import save_checkpoint  # noqa: E402
from slt.data.synthetic import SyntheticConfig, write_dataset  # noqa: E402
from slt.reference.train import build_model  # noqa: E402

pytestmark = pytest.mark.slow

FRAMES = 1000
TIMEOUT = 30.0  # vot-toolkit's default per-call timeout (trackers.ini `timeout`)


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS line for process {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read resident memory")
def test_server_tracks_1000_frames_with_flat_memory_and_timely_replies(tmp_path, request):
    config = SyntheticConfig(height=96, width=128, num_frames=FRAMES)
    root = write_dataset(tmp_path / "data", "vot", num_videos=1, num_frames=FRAMES, seed=4, config=config,
                         progress=False)
    sequence = next(p for p in Path(root).iterdir() if p.is_dir())
    frames = sorted((sequence / "color").glob("*.jpg"))
    first = [float(v) for v in (sequence / "groundtruth.txt").read_text().splitlines()[0].split(",")]
    weights = tmp_path / "reference.pth"
    save_checkpoint(weights, {"model": build_model(seed=0).state_dict()})
    env = {**os.environ, "SLT_TRACKER": "reference", "SLT_WEIGHTS": str(weights), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "slt.vot"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env)
    watchdog = threading.Timer(900, server.kill)
    watchdog.start()
    request.addfinalizer(watchdog.cancel)
    client = Client(stream=(server.stdin.fileno(), server.stdout.fileno()), timeout=int(TIMEOUT), log=[].append)
    _, elapsed = client.initialize({"color": FileImage.create(str(frames[0]))}, [(Rectangle.create(*first), {})], {})
    replies, memory = [elapsed], {}
    for k, frame in enumerate(frames[1:], start=1):
        objects, elapsed = client.frame({"color": FileImage.create(str(frame))}, {}, [])
        replies.append(elapsed)
        assert len(objects) == 1
        if k in (100, FRAMES - 1):
            memory[k] = resident_mb(server.pid)
    client.quit()
    assert server.wait(timeout=60) == 0
    assert len(replies) == FRAMES and max(replies) < TIMEOUT
    assert memory[FRAMES - 1] - memory[100] < 50.0, memory
