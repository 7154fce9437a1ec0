"""A run a user can steer: Ctrl-C checkpoints and stops in one line, the rerun resumes there; logs without a
terminal are plain lines; learning rates are logged; the start-up check warns on untrained weights."""

import logging
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.runner import format_stats
from slt.update import check_start

STEPS = 40


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = SyntheticConfig(height=96, width=96, num_frames=40)
    return write_dataset(tmp_path_factory.mktemp("interrupt_data"), "got10k", num_videos=4, num_frames=40, seed=5,
                         config=config, progress=False)


def train_command(data, out):
    return [sys.executable, "-m", "slt.cli", "train", "--stage", "slt", "--data", str(data), "--out", str(out),
            "--steps", str(STEPS), "--batch-size", "2", "--frames", "12", "--checkpoint-every", "1000",
            "--log-every", "1"]


def test_sigint_checkpoints_the_step_reports_one_line_and_the_rerun_resumes_there(dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    log = tmp_path / "first.log"
    with log.open("w") as stream:
        proc = subprocess.Popen(train_command(dataset, out), env=env, stdout=stream, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "step 3/" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    text = log.read_text()
    assert code == 128 + signal.SIGINT, text
    assert "Traceback" not in text and "\r" not in text
    lines = [line for line in text.splitlines() if "run the same command again to resume" in line]
    assert len(lines) == 1
    step = int(lines[0].split("interrupted at step ")[1].split(";")[0])
    assert 3 <= step < STEPS
    manager = CheckpointManager(out / "slt" / "checkpoints", "slt")
    assert manager.steps() == [step]  # written on the interrupt, not by the step count
    assert "lr 0.0001" in text and "tensorboard --logdir" in text
    assert "SLT fine-tunes a trained tracker" in text  # random weights: the start-up check fired

    rerun = subprocess.run(train_command(dataset, out), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from {manager.path(step)} at step {step} of {STEPS}" in rerun.stderr
    assert "SLT fine-tunes" not in rerun.stderr  # the check runs on a run's first step only
    state = load_checkpoint(manager.latest())
    assert [h["step"] for h in state["history"]] == list(range(1, STEPS + 1))
    assert state["history"][0]["lr/group0"] == pytest.approx(1e-4)
    finished = subprocess.run(train_command(dataset, out), env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0 and f"complete ({STEPS} steps)" in finished.stderr


def test_checkpoint_clock_is_due_every_k_steps_or_after_m_minutes(monkeypatch):
    from slt import runner

    now = [100.0]
    monkeypatch.setattr(runner.time, "perf_counter", lambda: now[0])
    clock = runner.CheckpointClock(every=5, minutes=2.0)
    assert not clock.due(3) and clock.due(5) and clock.due(10)
    now[0] += 119.0
    assert not clock.due(7)
    now[0] += 2.0
    assert clock.due(7)
    clock.saved()
    assert not clock.due(8)
    assert not runner.CheckpointClock(every=5, minutes=0.0).due(4)  # minutes <= 0: never by time
    with pytest.raises(ValueError, match="at least 1"):
        runner.CheckpointClock(every=0, minutes=1.0)


def test_start_check_warns_on_untrained_weights_only(caplog):
    with caplog.at_level(logging.WARNING, logger="slt.update"):
        assert check_start({"greedy_miou": 0.01, "static_miou": 0.0}, "TRAIN.PRETRAINED")
        assert check_start({"greedy_miou": 0.3, "static_miou": 0.4}, "TRAIN.PRETRAINED")  # worse than standing still
        assert not check_start({"greedy_miou": 0.62, "static_miou": 0.2}, "TRAIN.PRETRAINED")
    assert len(caplog.records) == 2 and "TRAIN.PRETRAINED" in caplog.records[0].getMessage()


def test_a_changed_schedule_in_an_existing_folder_is_refused_naming_folder_and_keys(dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "slt.cli", "train", "--stage", "slt", "--data", str(dataset), "--out",
               str(tmp_path), "--batch-size", "2", "--frames", "4", "--no-tensorboard", "--no-progress"]
    first = subprocess.run(command + ["--steps", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    longer = subprocess.run(command + ["--steps", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert longer.returncode == 0, longer.stderr  # no scheduler: a run may grow at the same rate
    changed = subprocess.run(command + ["--steps", "3", "--lr", "0.001"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert changed.returncode == 1
    assert str(tmp_path / "slt") in changed.stderr and "lr: 0.0001 there, 0.001 now" in changed.stderr
    assert "Traceback" not in changed.stderr


def test_log_lines_show_counts_as_integers_and_learning_rates_to_significant_digits():
    line = format_stats({"reward": 0.0, "skipped": 0.0, "lr/group0": 1e-5, "loss": 2.38843, "grad_norm": math.nan})
    assert line == "reward 0.0000, skipped 0, lr/group0 1e-05, loss 2.3884, grad_norm nan"
