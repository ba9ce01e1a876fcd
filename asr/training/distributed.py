"""Data-parallel training across processes, GPUs and nodes with
``torch.distributed``: the process group that ``torchrun`` describes through its
environment variables, and the few collectives the training loop needs.

One process per GPU (or per CPU share with the gloo backend); each rank trains on its
own shard of the batches (``BucketBatchSampler(num_replicas=, rank=)``),
``DistributedDataParallel`` averages the gradients, and only rank 0 validates, logs
and writes checkpoints. Without torchrun (no ``WORLD_SIZE``) everything here is a
no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0  # this process among all processes of the run (RANK)
    local_rank: int = 0  # this process among those of its node (LOCAL_RANK): its GPU
    world_size: int = 1  # processes in the run (WORLD_SIZE)

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, validates and writes checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun set up (a no-op without torchrun).

    Args:
        device: the configured device; with several processes on CUDA each rank
            takes GPU ``LOCAL_RANK`` instead.

    Returns:
        This process's ``DistInfo`` and the device it trains on.
    """
    info = DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
    )
    torch_device = torch.device(device)
    if not info.enabled:
        return info, torch_device
    if torch_device.type == "cuda":
        torch_device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(torch_device)
    if not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend, device_id=torch_device if backend == "nccl" else None
        )
    return info, torch_device


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (the values themselves alone)."""
    if not dist.is_initialized():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank: lets all ranks skip a batch together,
    since a rank that skipped ``backward`` alone would hang the others."""
    if not dist.is_initialized():
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return bool(tensor.item())


def gather(value) -> list:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not dist.is_initialized():
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def average_buffers(module: torch.nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks;
    DDP is built with ``broadcast_buffers=False`` so that a forward pass holds no
    collective, and ranks resynchronise here instead."""
    if not dist.is_initialized():
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= dist.get_world_size()
