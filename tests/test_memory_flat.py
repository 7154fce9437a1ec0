"""Long runs stay flat: a reference SLT training loop's resident memory does not grow with the step count."""

import os
from pathlib import Path

import pytest
import torch

from slt.data import Got10k
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.reference.actor import ReferenceSLTActor
from slt.reference.tracker import ReferenceTracker
from slt.reference.train import build_model
from slt.rollout import explore
from slt.runner import RunConfig, Runner
from slt.sampling import SequenceSampler
from slt.update import UpdateConfig, slt_update

pytestmark = pytest.mark.slow

STEPS = 200


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc to read resident memory")
def test_resident_memory_does_not_grow_over_200_slt_steps(tmp_path):
    torch.set_num_threads(1)
    config = SyntheticConfig(height=96, width=96, num_frames=30)
    root = write_dataset(tmp_path / "data", "got10k", num_videos=4, num_frames=30, seed=3, config=config,
                         progress=False)
    sampler = SequenceSampler([Got10k(root)], samples_per_epoch=STEPS * 2, num_frames=4, max_gap=-1,
                              frame_sample_mode="sequential")
    model = build_model(seed=0).eval()
    tracker = ReferenceTracker(model)
    actor = ReferenceSLTActor(tracker)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    runner = Runner("slt", tmp_path / "run", model, optimizer,
                    RunConfig(steps=STEPS, batch_size=2, checkpoint_every=50, progress=False))
    memory = []

    def step(batch):
        stats = slt_update(actor, model.parameters(), optimizer, explore(tracker, batch), UpdateConfig())
        memory.append(resident_mb())
        return stats

    runner.run(sampler, step)
    assert len(memory) == STEPS
    warm, late = max(memory[20:40]), max(memory[-20:])
    assert late - warm < 30.0, f"resident memory grew from {warm:.0f} MB (steps 20-40) to {late:.0f} MB"
