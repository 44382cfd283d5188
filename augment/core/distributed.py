"""Data-parallel training under ``torchrun``: detected from its environment, nothing to set.

A launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` (``torchrun``, or ``srun`` with those exported) starts one process per device.
Each process trains on its own shard of the rows with its own random streams; PyTorch DDP
averages the gradients, so every process holds the same weights; rank 0 alone writes
checkpoints, snapshots, curves and the model. Without that environment nothing here is used and
training is one plain process.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from augment.core.runtime import resolve_device
from augment.errors import AugmentError
from augment.log import logger

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = timedelta(minutes=30)  # a collective waits this long for a slow rank (a checkpoint)
# The other ranks wait this long for rank 0's work done once for all (from_main: the pseudo-label
# judge, minutes on a GPU but possibly hours on CPUs with large images, or the table's encoder).
# A separate gloo group holds the wait, so TIMEOUT still catches a rank that hangs in training.
# If rank 0 dies meanwhile, torchrun stops the others.
WAIT_FOR_MAIN = timedelta(hours=24)
_waiting_group: dist.ProcessGroup | None = None  # created with the process group, on every rank


@dataclass(frozen=True)
class Context:
    """Where this process trains: its rank among ``world_size`` and its device."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # under torchrun: the networks train through DDP

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> slice:
        """This rank's rows: every ``world_size``-th, from ``rank`` (all of them in one process)."""
        return slice(self.rank, None, self.world_size) if self.world_size > 1 else slice(None)


def launched() -> bool:
    """Whether this process was started by torchrun (or a launcher that sets the same variables)."""
    return all(os.environ.get(key) for key in ENVIRONMENT)


def rank() -> int:
    """This process's global rank: 0 outside torchrun."""
    return _env_int("RANK") if launched() else 0


def world_size() -> int:
    """Processes training together: 1 outside torchrun."""
    return _env_int("WORLD_SIZE") if launched() else 1


def is_main_process() -> bool:
    return rank() == 0


def rank_seed(seed: int, rank: int) -> int:
    """A seed for ``rank``'s random streams, apart from every other rank's and seed's."""
    digest = hashlib.blake2b(f"augment/{seed}/{rank}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # torch takes seeds below 2**63 everywhere


@contextmanager
def session(device_name: str = "auto") -> Iterator[Context]:
    """The training context: one plain process, or this rank of a torchrun job.

    Under torchrun the device is ``cuda:LOCAL_RANK`` when CUDA is used (whatever ``cuda:N`` was
    asked: one process per GPU), the backend NCCL on CUDA and gloo on the CPU. The process group
    is joined on first use and kept until the process exits: joining a second time in one
    process would wait forever on the first one's rendezvous keys.
    """
    global _waiting_group
    if not launched():
        yield Context(resolve_device(device_name))
        return
    rank_, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if not 0 <= rank_ < world:
        raise AugmentError(f"torchrun set RANK={rank_} outside WORLD_SIZE={world}")
    device = process_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, timeout=TIMEOUT)
            # Every rank, in the same order (new_group is a collective); on the host, beside
            # NCCL too.
            _waiting_group = dist.new_group(backend="gloo", timeout=WAIT_FOR_MAIN)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
            raise AugmentError(f"cannot join the torchrun job at {address}: {first}") from None
        atexit.register(_leave)
    if dist.get_world_size() != world or dist.get_rank() != rank_:
        raise AugmentError(
            f"the process group has rank {dist.get_rank()} of {dist.get_world_size()}, "
            f"torchrun said {rank_} of {world}"
        )
    logger.debug("rank %d of %d on %s (%s)", rank_, world, device, dist.get_backend())
    yield Context(device, rank_, world, local, launched=True)


def process_device(device_name: str = "auto") -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` under torchrun when CUDA is used (one process
    per GPU), else what ``device_name`` resolves to."""
    device = resolve_device(device_name)
    if device.type != "cuda" or not launched():
        return device
    local, count = _env_int("LOCAL_RANK"), torch.cuda.device_count()
    if local >= count:
        raise AugmentError(
            f"LOCAL_RANK {local} has no GPU: this node has {count}; start at most "
            f"{count} processes per node (torchrun --nproc-per-node {count})"
        )
    return torch.device("cuda", local)


def _leave() -> None:
    global _waiting_group
    if dist.is_initialized():
        dist.destroy_process_group()
    _waiting_group = None


class _GANParallel(DistributedDataParallel):
    """DDP for one of a GAN's networks.

    A GAN freezes D (``requires_grad_(False)``) for the G-step, so D's weights get no gradient
    there. Through DDP that forward would wait for gradients that never come; it runs the plain
    module instead (the gradients reach G's DDP hooks all the same).
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = next(self.module.parameters(), None)
        if first is not None and not first.requires_grad:
            return self.module(*args, **kwargs)
        return super().forward(*args, **kwargs)


def parallel(module: nn.Module, context: Context) -> nn.Module:
    """``module`` under DDP in a torchrun job (rank 0's weights copied to every rank), else as is.

    Buffers (BatchNorm statistics, spectral norm's power-iteration vectors) are broadcast from
    rank 0 before each forward, so every rank also holds the same buffers. G's BatchNorm stays
    per-rank in its batch statistics: each rank's batch is a full ``batch_size``, as in one
    process, so there is nothing to gain from SyncBatchNorm's extra all-reduce per layer.
    """
    if not context.launched:
        return module
    ids = [context.device.index] if context.device.type == "cuda" else None
    return _GANParallel(module, device_ids=ids)  # broadcast_buffers: on by default


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def all_reduce_max(values: torch.Tensor, context: Context) -> torch.Tensor:
    """Element-wise maximum over the ranks (``values`` itself in one process)."""
    if context.launched:
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return values


def gather_bytes(payload: bytes, context: Context) -> list[bytes]:
    """Every rank's ``payload``, in rank order (on every rank). Tensors only, no pickle."""
    if not context.launched:
        return [payload]
    size = torch.tensor([len(payload)], dtype=torch.int64, device=context.device)
    sizes = [torch.zeros_like(size) for _ in range(context.world_size)]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    mine = torch.zeros(longest, dtype=torch.uint8)
    mine[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    mine = mine.to(context.device)
    parts = [torch.empty_like(mine) for _ in range(context.world_size)]
    dist.all_gather(parts, mine)
    return [
        bytes(part[: int(s.item())].cpu().numpy()) for part, s in zip(parts, sizes, strict=True)
    ]


def broadcast_bytes(payloads: list[bytes] | None, context: Context) -> list[bytes]:
    """Rank 0's list of byte strings, on every rank (the others pass ``None``). The others wait
    for it up to ``WAIT_FOR_MAIN``, however long rank 0 takes to make it (``from_main``)."""
    if not context.launched:
        return list(payloads or [])
    # The count goes first, through the waiting group (gloo: on the host), where a wait past
    # TIMEOUT is no error; the rest follows at once.
    count = torch.tensor([len(payloads or [])], dtype=torch.int64)
    dist.broadcast(count, src=0, group=_waiting_group)
    sizes = torch.zeros(int(count.item()), dtype=torch.int64, device=context.device)
    if context.main:
        sizes.copy_(torch.tensor([len(p) for p in payloads or []], dtype=torch.int64))
    dist.broadcast(sizes, src=0)
    received = []
    for index, size in enumerate(sizes.tolist()):
        if size == 0:
            received.append(b"")
            continue
        buffer = torch.zeros(size, dtype=torch.uint8)
        if context.main:
            buffer.copy_(torch.frombuffer(bytearray(payloads[index]), dtype=torch.uint8))
        buffer = buffer.to(context.device)
        dist.broadcast(buffer, src=0)
        received.append(bytes(buffer.cpu().numpy()))
    return received


def from_main(produce: Callable[[], list[bytes]], context: Context) -> list[bytes]:
    """``produce()``'s byte strings, computed on rank 0 alone and sent to every rank, so the
    ranks need no shared disk and compute it once. An :class:`AugmentError` raised there is
    raised on every rank, so none waits for what will not come."""
    if not context.launched:
        return produce()
    payload = None
    if context.main:
        try:
            payload = [b"ok", *produce()]
        except AugmentError as exc:
            payload = [b"error", str(exc).encode()]
    status, *parts = broadcast_bytes(payload, context)
    if status == b"error":
        raise AugmentError(parts[0].decode())
    return parts


def _env_int(name: str) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise AugmentError(
            f"the torchrun variable {name} must be a whole number, got {value!r}"
        ) from None
