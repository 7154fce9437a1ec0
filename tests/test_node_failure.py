"""Faults at scale: two torchrun "nodes" on loopback; a rank killed with SIGKILL mid-run makes torchrun restart
the group (--max-restarts 1), training resumes from the last checkpoint, and the final parameters equal those of
an uninterrupted two-node run."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset

pytestmark = pytest.mark.slow

STEPS = 8
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = SyntheticConfig(height=96, width=96, num_frames=24)
    return write_dataset(tmp_path_factory.mktemp("nodes_data"), "got10k", num_videos=4, num_frames=24, seed=7,
                         config=config, progress=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nodes(data, out, logs):
    """Two torchrun agents (node ranks 0 and 1, one worker each) meeting on a loopback rendezvous."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [str(TORCHRUN), "--nnodes", "2", "--nproc-per-node", "1", "--max-restarts", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "slt-test",
               "-m", "slt.cli", "train", "--stage", "slt", "--data", str(data), "--out", str(out),
               "--steps", str(STEPS), "--batch-size", "2", "--frames", "4", "--checkpoint-every", "1",
               "--keep", "20", "--no-progress", "--no-tensorboard"]
    return [subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]


def workers_of(agent: subprocess.Popen) -> list[int]:
    """PIDs of the worker processes an agent runs (its children)."""
    children = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def final_state(out):
    state = load_checkpoint(CheckpointManager(out / "slt" / "checkpoints", "slt").latest())
    assert state["step"] == STEPS
    return state


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to this Python")
def test_a_killed_rank_is_restarted_and_the_run_resumes_to_the_uninterrupted_result(dataset, tmp_path):
    straight = tmp_path / "straight"
    with open(tmp_path / "a0.log", "w") as a0, open(tmp_path / "a1.log", "w") as a1:
        agents = start_nodes(dataset, straight, [a0, a1])
        assert [agent.wait(timeout=600) for agent in agents] == [0, 0], (tmp_path / "a0.log").read_text()
    expected = final_state(straight)

    out = tmp_path / "killed"
    manager = CheckpointManager(out / "slt" / "checkpoints", "slt")
    with open(tmp_path / "b0.log", "w") as b0, open(tmp_path / "b1.log", "w") as b1:
        agents = start_nodes(dataset, out, [b0, b1])
        deadline = time.monotonic() + 300
        while (not manager.steps() or manager.steps()[-1] < 3) and time.monotonic() < deadline:
            assert all(agent.poll() is None for agent in agents), (tmp_path / "b1.log").read_text()
            time.sleep(0.05)
        killed_at = manager.steps()[-1]
        assert killed_at < STEPS, "the run finished before a rank could be killed"
        victims = workers_of(agents[1])
        assert victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        codes = [agent.wait(timeout=600) for agent in agents]
    logs = (tmp_path / "b0.log").read_text() + (tmp_path / "b1.log").read_text()
    assert codes == [0, 0], logs
    assert "resumed from" in logs  # the restarted group continued from a checkpoint, not from step 0
    state = final_state(out)
    assert [h["step"] for h in state["history"]] == list(range(1, STEPS + 1))
    for key, value in expected["model"].items():
        assert torch.allclose(state["model"][key].float(), value.float(), atol=1e-6), key
