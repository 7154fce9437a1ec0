"""A training run killed with SIGKILL at random steps and resumed ends where an uninterrupted run ends."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset

STEPS = 10


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume_data")
    config = SyntheticConfig(height=96, width=96, num_frames=24)
    return write_dataset(root, "got10k", num_videos=4, num_frames=24, seed=5, config=config, progress=False)


def train_command(data, out):
    return [sys.executable, "-m", "slt.cli", "train", "--stage", "slt", "--data", str(data), "--out", str(out),
            "--steps", str(STEPS), "--batch-size", "2", "--frames", "4", "--seed", "3", "--checkpoint-every", "1",
            "--keep", "2", "--no-progress", "--no-tensorboard"]


def final_model(out):
    path = CheckpointManager(out / "slt" / "checkpoints", "slt").latest()
    state = load_checkpoint(path)
    assert state["step"] == STEPS
    return state["model"]


def test_killed_and_resumed_run_equals_uninterrupted_run(dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(train_command(dataset, tmp_path / "straight"), check=True, env=env, capture_output=True)
    expected = final_model(tmp_path / "straight")

    out = tmp_path / "killed"
    manager = CheckpointManager(out / "slt" / "checkpoints", "slt")
    rng = random.Random(0)
    kills = 0
    while kills < 5:
        done = manager.steps()[-1] if manager.steps() else 0
        target = rng.randint(done + 1, min(done + 2, STEPS - 1))
        proc = subprocess.Popen(train_command(dataset, out), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while (not manager.steps() or manager.steps()[-1] < target) and time.monotonic() < deadline:
            assert proc.poll() is None, "the training process ended before it was killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        for step in manager.steps():  # every checkpoint on disk is readable
            assert load_checkpoint(manager.path(step))["step"] == step
    subprocess.run(train_command(dataset, out), check=True, env=env, capture_output=True)
    resumed = final_model(out)
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key
