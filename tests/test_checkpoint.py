"""slt.checkpoint: atomic writes, safe loading, RNG round trips, keep-last-K."""

import os
import pickle
import random

import numpy as np
import pytest
import torch

from slt.checkpoint import (CheckpointError, CheckpointManager, load_checkpoint, load_state_dict_checked,
                            restore_rng_state, rng_state, save_checkpoint)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_crafted_pickle_is_refused_by_default(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as stream:
        pickle.dump({"model": RunsCode()}, stream, protocol=2)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_truncated_checkpoint_gives_an_error_naming_it(tmp_path):
    path = save_checkpoint(tmp_path / "a.pth", {"w": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pth")


def test_checkpoint_of_another_architecture_is_refused_naming_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "other.pth", {"model": torch.nn.Linear(3, 2).state_dict()})
    with pytest.raises(CheckpointError, match="other.pth"):
        load_state_dict_checked(torch.nn.Linear(4, 2), load_checkpoint(path)["model"], str(path))


def test_rng_states_round_trip_through_a_safe_checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(5)
    save_checkpoint(tmp_path / "rng.pth", {"rng": rng_state(generator)})
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    restore_rng_state(load_checkpoint(tmp_path / "rng.pth")["rng"], generator)
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    assert first == again


def test_manager_keeps_the_last_k_and_ignores_unfinished_writes(tmp_path):
    manager = CheckpointManager(tmp_path, "run", keep=2)
    for step in (1, 2, 3):
        manager.save(step, {"step": step})
    (tmp_path / ".run_00000004.pth.abc.tmp").write_bytes(b"partial")
    assert manager.steps() == [2, 3] and manager.latest() == tmp_path / "run_00000003.pth"
    manager.remove_stale_temporaries()
    assert not list(tmp_path.glob("*.tmp"))


def test_keep_newest_deletes_all_but_the_newest_and_none_keeps_all(tmp_path):
    from slt.checkpoint import keep_newest

    paths = [tmp_path / f"c{k}.pth" for k in range(5)]
    for path in paths:
        path.write_bytes(b"x")
    assert keep_newest(paths, None) == [] and all(p.exists() for p in paths)
    assert keep_newest(paths, 2) == paths[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c3.pth", "c4.pth"]
    with pytest.raises(ValueError, match="keep must be >= 1"):
        keep_newest(paths, 0)
