"""Data-parallel SLT: 2 gloo ranks with global batch 4 equal one process on the same 4 sequences."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slt import policy
from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.distributed import DistContext
from slt.reference.train import RunOptions, SLTRecipe, build_model, run_slt
from slt.data import Got10k

RECIPE = SLTRecipe(steps=1, num_seq=4, num_frames=4, lr=1e-3)


def second_best(logits, generator):
    """Deterministic stand-in for sampling: per row, the second most likely candidate."""
    return logits.argsort(dim=-1, descending=True)[:, 1]


def train_one_step(data_root, out, context):
    policy._sample = second_best  # exploration made deterministic (and rank-independent) for the comparison
    torch.set_num_threads(1)
    model = build_model(seed=0)
    opts = RunOptions(out_dir=out, seed=0, progress=False, tensorboard=False, dist=context)
    run_slt(model, [Got10k(data_root)], RECIPE, opts)
    return model


def rank_main(rank, world, port, data_root, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        train_one_step(data_root, out, DistContext(rank=rank, world_size=world))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    config = SyntheticConfig(height=96, width=96, num_frames=24)
    return write_dataset(tmp_path_factory.mktemp("ddp"), "got10k", 4, 24, seed=9, config=config, progress=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_equal_one_process(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(policy, "_sample", second_best)
    single = train_one_step(data_root, tmp_path / "single", DistContext()).state_dict()
    mp.spawn(rank_main, args=(2, free_port(), data_root, tmp_path / "ddp"), nprocs=2, join=True)
    state = load_checkpoint(CheckpointManager(tmp_path / "ddp" / "slt" / "checkpoints", "slt").latest())
    assert state["step"] == 1
    worst = max((state["model"][k].float() - v.float()).abs().max().item() for k, v in single.items())
    assert worst <= 1e-5
    changed = max((state["model"][k].float() - build_model(seed=0).state_dict()[k].float()).abs().max().item()
                  for k in single)
    assert changed > 1e-4  # the step did move the weights
