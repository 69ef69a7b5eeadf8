"""Running unchanged under ``torchrun``: shard the evaluation, combine additive results.

``torchrun --nproc_per_node=N -m analysis.cli study ...`` sets ``WORLD_SIZE``/``RANK``; the study
then initialises ``torch.distributed`` (gloo on CPU, nccl on CUDA), every rank evaluates its share
of the test batches, and accuracy counts and ledgers (which are additive) are summed with
``all_reduce``. Training runs on rank 0 only and the others load its checkpoint, and rank 0 writes
every file, so the tables are the same as a one-process run's.

Batches are dealt round-robin with the **same batch boundaries** as a one-process run, so each
sample meets exactly the same arithmetic (a conv on a differently sized batch may round
differently, and a spike at a threshold tie could flip); ledger totals are integers, summed exactly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from energy_models.ledger import ACTIVITY, EVENTS, EventLedger

__all__ = [
    "all_gather_objects",
    "all_reduce_ledger",
    "all_reduce_max",
    "all_reduce_sum",
    "barrier",
    "init_from_env",
    "is_main",
    "rank",
    "shard",
    "world_size",
]

T = TypeVar("T")


def init_from_env(device: str = "cpu") -> bool:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE`` > 1). Idempotent."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return True


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shard(batches: Iterable[T]) -> Iterator[T]:
    """This rank's batches: batch i goes to rank i mod world size."""
    r, w = rank(), world_size()
    for i, batch in enumerate(batches):
        if i % w == r:
            yield batch


def _all_reduce(values: list[float], op: str) -> list[float]:
    if world_size() == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=getattr(dist.ReduceOp, op))
    return tensor.tolist()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum over ranks (float64)."""
    return _all_reduce(values, "SUM")


def all_reduce_max(values: list[float]) -> list[float]:
    """Element-wise maximum over ranks (float64)."""
    return _all_reduce(values, "MAX")


def all_gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in one process."""
    if world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_ledger(ledger: EventLedger) -> EventLedger:
    """The ledger of all ranks' samples together.

    Per-sample counts are turned back into this rank's integer totals (events are whole numbers,
    so rounding undoes the per-sample division exactly), summed over ranks, and divided by the total
    number of samples. Every rank must have counted the same network (same layers); a rank that saw
    no sample contributes zeros.
    """
    if world_size() == 1:
        return ledger
    keys = (*EVENTS, *ACTIVITY)
    flat = [round(getattr(layer, key) * ledger.samples) for layer in ledger.layers for key in keys]
    totals = all_reduce_sum([float(v) for v in flat] + [float(ledger.samples)])
    samples = int(totals[-1])
    data: dict[str, Any] = ledger.to_dict()
    data["samples"] = samples
    index = 0
    for layer in data["layers"]:
        for key in keys:
            layer[key] = totals[index] / samples if samples else 0.0
            index += 1
    return EventLedger.from_dict(data)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. trains and saves), then the others (e.g. load)."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()
