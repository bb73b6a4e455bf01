"""Several processes (accelerate launch / torchrun): set-up, barriers and spreading work.

The first `PartialState` a process creates initialises torch.distributed, and the timeout it is
given then is the one every later collective waits for; so `init` creates it at once with
`ddp_timeout` (otherwise NCCL's default of about 10 minutes applies and the Trainer's ddp_timeout
is ignored). Generation and scoring are spread over the ranks with `shard_map` (rank r takes items
r, r + W, …) and gathered back in order on every rank."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STATE = None


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def init(params: dict, cpu: bool):
    """Create the first PartialState with the run's timeout (and gloo on CPUs). No-op alone."""
    global _STATE
    if world_size() <= 1 or _STATE is not None:
        return _STATE
    from accelerate import PartialState

    kwargs = {"timeout": timedelta(seconds=int(params["ddp_timeout"]))}
    if cpu:
        kwargs.update(cpu=True, backend="gloo")
    _STATE = PartialState(**kwargs)
    return _STATE


def info() -> dict:
    backend = None
    try:
        import torch.distributed as td

        if td.is_available() and td.is_initialized():
            backend = str(td.get_backend())
    except Exception:
        pass
    return {"world_size": world_size(), "backend": backend}


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as td

        if td.is_initialized():
            td.barrier()


def gather(obj):
    """Every rank's obj, in rank order, on every rank."""
    if world_size() <= 1:
        return [obj]
    import torch.distributed as td

    out = [None] * world_size()
    td.all_gather_object(out, obj)
    return out


def broadcast(obj):
    """Rank 0's obj on every rank."""
    if world_size() <= 1:
        return obj
    import torch.distributed as td

    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def interleave(parts: Sequence[Sequence[R]], n: int) -> list[R]:
    """Inverse of the r::W split: parts[r][k] is item r + k*W."""
    w = len(parts)
    out: list = [None] * n
    for r, part in enumerate(parts):
        for k, v in enumerate(part):
            out[r + k * w] = v
    return out


def shard_map(fn: Callable[[list[T]], list[R]], items: list[T]) -> list[R]:
    """fn over items, spread over the ranks; every rank gets the whole result, in item order."""
    w = world_size()
    if w <= 1:
        return fn(items)
    mine = items[rank()::w]
    res = fn(mine) if mine else []
    return interleave(gather(res), len(items))
