"""Faults at scale: a torchrun group restarted after a killed rank names its keys afresh, resumes from the last
checkpoint and ends with the parameters of an uninterrupted run."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from slt import cli
from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.distributed import group_generation

STEPS = 6


def handshake(store, world_size, timeout=timedelta(seconds=20), delays=None):
    """Every rank's group_generation on one in-memory store, each rank in a thread (rank r starts after
    delays[r] seconds); returns the numbers by rank."""
    results, errors = [None] * world_size, []

    def rank_main(rank):
        time.sleep((delays or [0.0] * world_size)[rank])
        try:
            results[rank] = group_generation(store, rank, world_size, timeout)
        except TimeoutError as error:
            errors.append(error)

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world_size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_every_start_of_a_group_agrees_on_a_number_no_earlier_start_used():
    store = dist.HashStore()
    first = handshake(store, 3)
    # the restarted group: rank 2 comes first and finds the dead group's number still published
    second = handshake(store, 3, delays=[1.5, 0.5, 0.0])
    assert len(set(first)) == 1 and len(set(second)) == 1 and second[0] > first[0]


def test_a_missing_rank_fails_the_handshake_with_a_timeout_not_a_hang():
    store = dist.HashStore()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="rank 1 did not join"):
        group_generation(store, 0, 2, timedelta(seconds=1))
    assert time.monotonic() - started < 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = SyntheticConfig(height=96, width=96, num_frames=24)
    return write_dataset(tmp_path_factory.mktemp("multinode_data"), "got10k", num_videos=4, num_frames=24, seed=6,
                         config=config, progress=False)


def start_nodes(data: Path, out: Path, logs: Path) -> list[subprocess.Popen]:
    """Two torchrun agents on loopback, one worker each, as two machines would run them."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    nodes = []
    for node in range(2):
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                   "--max-restarts", "1", "--monitor-interval", "0.5", "--rdzv-backend", "c10d",
                   "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "slt-multinode", "-m", "slt.cli", "train",
                   "--stage", "slt", "--data", str(data), "--out", str(out), "--steps", str(STEPS),
                   "--batch-size", "2", "--frames", "4", "--seed", "3", "--checkpoint-every", "1", "--keep", "10",
                   "--no-progress", "--no-tensorboard"]
        log = open(logs / f"node{node}.log", "w")
        nodes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return nodes


def wait_all(nodes: list[subprocess.Popen], logs: Path, timeout: float = 400) -> str:
    deadline = time.monotonic() + timeout
    for node in nodes:
        try:
            node.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in nodes:
                other.kill()
            raise
    text = "".join((logs / f"node{n}.log").read_text() for n in range(len(nodes)))
    assert [node.returncode for node in nodes] == [0, 0], text[-4000:]
    return text


def worker_of(agent: subprocess.Popen) -> int:
    """The pid of the one worker process the torchrun agent ``agent`` started."""
    children = Path(f"/proc/{agent.pid}/task/{agent.pid}/children").read_text().split()
    workers = [int(pid) for pid in children if b"slt.cli" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 1, children
    return workers[0]


def final_state(out: Path) -> dict:
    manager = CheckpointManager(out / "slt" / "checkpoints", "slt")
    state = load_checkpoint(manager.latest())
    assert state["step"] == STEPS
    return state


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the torchrun worker through /proc")
def test_a_rank_killed_under_torchrun_restarts_the_group_which_resumes_and_ends_as_an_uninterrupted_run(
        dataset, tmp_path):
    straight = tmp_path / "straight"
    (tmp_path / "straight_logs").mkdir()
    wait_all(start_nodes(dataset, straight, tmp_path / "straight_logs"), tmp_path / "straight_logs")
    expected = final_state(straight)["model"]

    killed, logs = tmp_path / "killed", tmp_path / "killed_logs"
    logs.mkdir()
    manager = CheckpointManager(killed / "slt" / "checkpoints", "slt")
    nodes = start_nodes(dataset, killed, logs)
    deadline = time.monotonic() + 300
    while not (manager.steps() and manager.steps()[-1] >= 2):
        assert time.monotonic() < deadline and all(node.poll() is None for node in nodes), "no step-2 checkpoint"
        time.sleep(0.05)
    killed_at = manager.steps()[-1]
    os.kill(worker_of(nodes[1]), signal.SIGKILL)
    text = wait_all(nodes, logs)

    assert "exitcode: -9" in text, text[-4000:]  # torchrun saw the kill ...
    for rank, group in ((0, 1), (1, 1), (0, 2), (1, 2)):  # ... and started the group again, under a new number
        assert f"rank {rank} of 2 on cpu (process group {group})" in text, text[-4000:]
    resumed = [line for line in text.splitlines() if "resum" in line.lower() and "step" in line.lower()]
    assert resumed and any(f"step {step}" in line for line in resumed for step in range(killed_at, STEPS)), resumed
    state = final_state(killed)
    assert [entry["step"] for entry in state["history"]] == list(range(1, STEPS + 1))
    for key, value in expected.items():
        assert torch.equal(state["model"][key], value), key


def test_an_uncaught_error_of_a_rank_goes_to_torchruns_error_file(monkeypatch, tmp_path):
    """torchrun's failure summary shows what a rank wrote to TORCHELASTIC_ERROR_FILE: the rank that failed first
    (here an import missing on rank 0) is named with its traceback, not only its peers' lost connections."""

    def broken(args):
        raise ModuleNotFoundError("No module named 'tensorboard'")

    monkeypatch.setattr(cli, "_demo", broken)
    error_file = tmp_path / "error.json"
    with pytest.raises(ModuleNotFoundError):
        cli.main(["demo", "--quick"])  # no torchrun: raised unchanged, nothing written
    assert not error_file.exists()
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["demo", "--quick"])
    record = json.loads(error_file.read_text())["message"]
    assert record["message"] == "ModuleNotFoundError: No module named 'tensorboard'"
    assert "in broken" in record["extraInfo"]["py_callstack"]
    with pytest.raises(SystemExit) as exit_:  # --version, --help and usage errors exit as before
        cli.main(["--version"])
    assert exit_.value.code == 0
