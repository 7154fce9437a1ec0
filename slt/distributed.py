"""Data-parallel training under ``torchrun``: process group set-up and gradient averaging.

Each rank explores its own sequences and computes its own chunked backward; one all-reduce per optimizer
step then averages the gradients, which is the arithmetic of ``DistributedDataParallel`` (equal per-rank
batches -> the gradient of the global batch mean). DDP's wrapper itself is not used: it synchronises inside
``forward()``, while SLT actors call the network's ``template``/``track`` methods and run several backward
passes per step, which would bypass or repeat its hooks. CPU uses gloo, CUDA nccl.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import get_error_handler

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = timedelta(minutes=10)
"""How long a rank waits for the others: to join the group, and in each collective. A rank whose peers died
fails with an error after this long instead of hanging (torchrun then restarts the group or gives up)."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world_size`` processes, its ``device``."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str | torch.device = "cpu", timeout: timedelta = DEFAULT_TIMEOUT) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); a plain single process gets a one-rank context.

    With a CUDA ``device`` each rank takes ``cuda:LOCAL_RANK`` and the nccl backend; otherwise gloo. The group's
    keys in the rendezvous store carry a prefix fresh for every start of the group (:func:`group_generation`).
    """
    device = torch.device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
        generation = group_generation(store, rank, world_size, timeout)
        dist.init_process_group(backend=backend, store=dist.PrefixStore(f"slt/group{generation}", store), rank=rank,
                                world_size=world_size, timeout=timeout)
        logger.info("rank %d of %d on %s (process group %d)", rank, world_size, device, generation)
    return DistContext(rank=rank, world_size=world_size, device=device)


def group_generation(store: dist.Store, rank: int, world_size: int, timeout: timedelta = DEFAULT_TIMEOUT) -> int:
    """A number, the same on every rank of this start of the group and never used by an earlier start.

    torchrun (``--max-restarts``) restarts a failed group on the same rendezvous store, which still holds the
    dead group's keys; its ``TORCHELASTIC_RESTART_COUNT`` is no group-wide name for a start, because only the
    agent whose worker failed counts a restart. So rank 0 takes the next number from a counter in the store and
    every other rank confirms it in a handshake on a token it has just drawn itself, which no earlier start can
    have answered: rank ``r`` posts its token under the published number and waits briefly for rank 0's
    answer, and reads the number again if none comes (a number left by a dead rank 0).

    Raises ``TimeoutError`` when the group does not complete the handshake within ``timeout``.
    """
    deadline = time.monotonic() + timeout.total_seconds()

    def wait_for(key: str, until: float) -> bool:
        while not store.check([key]):
            if time.monotonic() > until:
                return False
            time.sleep(0.02)
        return True

    def expired(what: str) -> TimeoutError:
        return TimeoutError(f"rank {rank} of {world_size}: {what} within {timeout.total_seconds():.0f} s; the other "
                            "ranks did not join (is every node started, with the same --rdzv-endpoint?)")

    if rank == 0:
        generation = store.add("slt/generation", 1)
        store.set("slt/generation/latest", str(generation))
        for peer in range(1, world_size):
            if not wait_for(f"slt/group{generation}/hello/{peer}", deadline):
                raise expired(f"rank {peer} did not join process group {generation}")
            token = store.get(f"slt/group{generation}/hello/{peer}").decode()
            store.set(f"slt/group{generation}/ack/{peer}/{token}", "1")
        return generation
    token = store.add(f"slt/token/{rank}", 1)
    while True:
        if not wait_for("slt/generation/latest", deadline):
            raise expired("rank 0 did not publish a process group")
        generation = int(store.get("slt/generation/latest"))
        store.set(f"slt/group{generation}/hello/{rank}", str(token))
        if wait_for(f"slt/group{generation}/ack/{rank}/{token}", min(deadline, time.monotonic() + 1.0)):
            return generation
        if time.monotonic() > deadline:
            raise expired("rank 0 did not answer")


def step_indices(step: int, batch_size: int, context: DistContext = DistContext()) -> range:
    """The global sample indices rank ``context.rank`` takes at optimizer step ``step``: its ``1 / world_size``
    share of the step's ``batch_size`` consecutive indices ``step * batch_size, ...``.

    Every training loop shards this way and keys exploration randomness by sample
    (:class:`slt.policy.ClipRandom`), so the ranks of a job together explore exactly what one process would.
    """
    if batch_size % context.world_size:
        raise ValueError(f"the global batch of {batch_size} does not split evenly over {context.world_size} ranks")
    share = batch_size // context.world_size
    start = step * batch_size + context.rank * share
    return range(start, start + share)


class StepShardSampler(torch.utils.data.Sampler[int]):
    """This rank's sample indices for optimizer steps ``[first_step, last_step)`` in step order
    (:func:`step_indices`); a ``DataLoader`` with ``batch_size = batch_size // world_size`` yields one step's
    share per batch."""

    def __init__(self, first_step: int, last_step: int, batch_size: int, context: DistContext = DistContext()) -> None:
        self.first_step, self.last_step, self.batch_size, self.context = first_step, last_step, batch_size, context
        self.start_at(first_step)

    def start_at(self, step: int) -> None:
        """Yield from optimizer step ``step`` on (resuming inside an epoch); ``start_at(first_step)`` restores
        the whole range. Takes effect at the next iteration of a loader over this sampler."""
        if not self.first_step <= step <= self.last_step:
            raise ValueError(f"step {step} is outside this sampler's steps [{self.first_step}, {self.last_step}]")
        self.indices = [i for s in range(step, self.last_step) for i in step_indices(s, self.batch_size, self.context)]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def active_world_size() -> int:
    """Number of ranks when a process group is initialised, else 1."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def average_gradients(params: list[torch.nn.Parameter], finite: bool) -> bool:
    """Average ``params``' gradients over all ranks in one flat all-reduce; returns whether every rank's
    loss was finite (all ranks then agree on skipping a step). Missing gradients count as zeros."""
    world = active_world_size()
    if world == 1:
        return finite
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [torch.tensor([0.0 if finite else 1.0], device=grads[0].device)])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for param, grad in zip(params, grads):
        count = grad.numel()
        param.grad = flat[offset : offset + count].view_as(param).clone()
        offset += count
    return bool(flat[-1] == 0)


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of ``values`` over all ranks (a copy for one rank)."""
    values = values.detach().clone()
    if active_world_size() > 1:
        dist.all_reduce(values)
    return values


def average_stats(stats: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each scalar statistic over all ranks (identity for one rank)."""
    world = active_world_size()
    if world == 1 or not stats:
        return stats
    keys = sorted(stats)
    values = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) / world for k, v in zip(keys, values.tolist())}


Main = TypeVar("Main", bound=Callable[..., int])


def recorded(main: Main) -> Main:
    """``main`` (an entry point) that, under torchrun, also writes an uncaught exception to the agent's error file
    (``TORCHELASTIC_ERROR_FILE``; torch's error handler), so that torchrun's failure summary names the rank that
    failed first and its traceback -- not only the lost-connection errors of the ranks that waited for it. Return
    values, ``SystemExit`` (``--help``, usage errors) and the exception itself pass through unchanged; without
    torchrun nothing is written. torch's own ``record`` would also turn ``SystemExit(0)`` into ``None``."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return main(*args, **kwargs)
        except Exception as error:
            get_error_handler().record_exception(error)
            raise

    return wrapper  # type: ignore[return-value]
