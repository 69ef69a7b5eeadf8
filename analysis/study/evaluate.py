"""Evaluate and count: accuracy over the test set and one ledger averaged over test samples, the
same way for every method, in one process or sharded under torchrun."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from analysis.counting import count_events
from analysis.study import distributed
from energy_models import EventLedger

__all__ = ["EVAL_BATCH", "batches", "count_ledger", "evaluate_and_count", "max_logit_gap"]

#: Evaluation batch size: fixed, so that batch boundaries (and therefore every sample's arithmetic)
#: are the same in one process and under torchrun.
EVAL_BATCH = 256


def batches(dataset, batch_size: int = EVAL_BATCH,
            limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``limit`` samples of ``dataset`` (all when None) in fixed batches, in order."""
    seen = 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for x, y in loader:
        if limit is not None and seen >= limit:
            break
        if limit is not None and seen + len(y) > limit:
            x, y = x[: limit - seen], y[: limit - seen]
        seen += len(y)
        yield x, y


def count_ledger(net: nn.Module, counted: Iterable[tuple[torch.Tensor, Any]], probe: torch.Tensor, method: str,
                 device: torch.device, **meta: Any) -> EventLedger:
    """One ledger of ``net`` over this rank's ``counted`` batches, summed over ranks.

    A rank with no batch (more ranks than batches) records the layers on ``probe`` (one sample)
    and contributes zero samples, so every rank holds the same layers for the all-reduce.
    """
    counted = list(counted)
    with torch.no_grad(), count_events(net, method=method, **meta) as ledger:
        for x, _ in counted:
            net(x.to(device))
        if not counted:
            net(probe.to(device))
    if not counted:
        ledger = dataclasses.replace(ledger, samples=0)
    return distributed.all_reduce_ledger(ledger)


def evaluate_and_count(net: nn.Module, test_set, method: str, count_samples: int | None, device: str,
                       meta: dict[str, Any]) -> dict[str, Any]:
    """Accuracy over the whole test set (plain forward passes) and one ledger averaged over the
    first ``count_samples`` test samples (instrumented passes). Under torchrun each rank takes its
    share of the batches and the results are summed over ranks."""
    torch_device = torch.device(device)
    net.eval().to(torch_device)
    counted = distributed.shard(batches(test_set, EVAL_BATCH, count_samples))
    ledger = count_ledger(net, counted, test_set[0][0].unsqueeze(0), method, torch_device, **meta)
    correct, total = 0, 0
    with torch.no_grad():
        for x, y in distributed.shard(batches(test_set)):
            correct += int((net(x.to(torch_device)).argmax(1).cpu() == y).sum())
            total += len(y)
    correct, total = (int(v) for v in distributed.all_reduce_sum([correct, total]))
    return {"accuracy": correct / total, "correct": correct, "test_samples": total, "ledger": ledger.to_dict()}


def max_logit_gap(a: nn.Module, b: nn.Module, test_set, device: str = "cpu") -> dict[str, float]:
    """Max |logit difference| and prediction agreement of two networks in float64 over the test set."""
    a64, b64 = copy.deepcopy(a).double().eval().to(device), copy.deepcopy(b).double().eval().to(device)
    gap, agree, total = 0.0, 0, 0
    with torch.no_grad():
        for x, _ in distributed.shard(batches(test_set)):
            x = x.to(device=device, dtype=torch.float64)
            la, lb = a64(x), b64(x)
            gap = max(gap, float((la - lb).abs().max()))
            agree += int((la.argmax(1) == lb.argmax(1)).sum())
            total += len(x)
    (gap,) = distributed.all_reduce_max([gap])
    agree, total = distributed.all_reduce_sum([agree, total])
    return {"max_abs_logit_diff": gap, "agreement": agree / total}
