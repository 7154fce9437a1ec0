"""Data-parallel SLT with real sampling: 2 gloo ranks with global batch 4 equal one process on the same 4 clips,
because every loop shards with slt.distributed.step_indices and exploration draws are keyed by clip."""

import dataclasses
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from slt.checkpoint import CheckpointManager, load_checkpoint
from slt.data import Got10k
from slt.data.synthetic import SyntheticConfig, write_dataset
from slt.distributed import DistContext, StepShardSampler, step_indices
from slt.reference.train import RunOptions, SLTRecipe, build_model, run_slt

RECIPE = SLTRecipe(steps=1, num_seq=4, num_frames=4, lr=1e-3)
BATCH_SCALED = dataclasses.replace(RECIPE, update=dataclasses.replace(RECIPE.update, advantage_scale="batch"))


def train_one_step(data_root, out, context, recipe=RECIPE):
    torch.set_num_threads(1)
    model = build_model(seed=0)
    opts = RunOptions(out_dir=out, seed=0, progress=False, tensorboard=False, dist=context)
    history = run_slt(model, [Got10k(data_root)], recipe, opts)
    return model, history


def rank_main(rank, world, port, data_root, out, recipe):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        train_one_step(data_root, out, DistContext(rank=rank, world_size=world), recipe)
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


def test_ranks_take_disjoint_shares_that_cover_the_global_batch():
    shares = [list(step_indices(3, 8, DistContext(rank=r, world_size=4))) for r in range(4)]
    assert sorted(sum(shares, [])) == list(range(24, 32)) and shares[1] == [26, 27]
    assert list(StepShardSampler(1, 3, 4, DistContext(rank=1, world_size=2))) == [6, 7, 10, 11]
    with pytest.raises(ValueError, match="split evenly"):
        step_indices(0, 5, DistContext(rank=0, world_size=2))


def test_a_step_sampler_restarted_inside_its_range_yields_the_rest_of_the_same_steps():
    sampler = StepShardSampler(0, 3, 2)
    sampler.start_at(2)
    assert list(sampler) == [4, 5] and len(sampler) == 2
    sampler.start_at(0)
    assert list(sampler) == list(StepShardSampler(0, 3, 2)) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="outside this sampler's steps"):
        sampler.start_at(4)


@pytest.mark.parametrize("recipe", [RECIPE, BATCH_SCALED], ids=["slt", "batch-scaled advantages"])
def test_two_ranks_equal_one_process_and_the_same_seed_reproduces(data_root, tmp_path, recipe):
    single, history = train_one_step(data_root, tmp_path / "single", DistContext(), recipe)
    again, history_again = train_one_step(data_root, tmp_path / "again", DistContext(), recipe)
    assert history == [{**h, "seconds": history[i]["seconds"]} for i, h in enumerate(history_again)]
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in single.state_dict().items())
    assert history[0]["reward"] != 0.0  # real sampling: the sampled trajectories left the greedy ones
    mp.spawn(rank_main, args=(2, free_port(), data_root, tmp_path / "ddp", recipe), nprocs=2, join=True)
    state = load_checkpoint(CheckpointManager(tmp_path / "ddp" / "slt" / "checkpoints", "slt").latest())
    assert state["step"] == 1
    reference = single.state_dict()
    worst = max((state["model"][k].float() - v.float()).abs().max().item() for k, v in reference.items())
    assert worst <= 1e-5
    fresh = build_model(seed=0).state_dict()
    assert max((state["model"][k].float() - fresh[k].float()).abs().max().item() for k in reference) > 1e-4
