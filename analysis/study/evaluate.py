"""Evaluate and count: the prediction for every test image (hence accuracy) and one ledger averaged
over test samples, the same way for every method, in one process or sharded under torchrun."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from analysis.counting import count_events
from analysis.data.common import in_order
from analysis.study import distributed
from energy_models import EventLedger

__all__ = ["EVAL_BATCH", "PREDICTION_KEYS", "batches", "count_ledger", "evaluate_and_count", "max_logit_gap", "predict",
           "predictions_frame", "test_labels"]

#: Evaluation batch size: fixed, so that batch boundaries (and therefore every sample's arithmetic)
#: are the same in one process and under torchrun.
EVAL_BATCH = 256


def batches(dataset, batch_size: int = EVAL_BATCH,
            limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``limit`` samples of ``dataset`` (all when None) in fixed batches, in order."""
    seen = 0
    for x, y in in_order(dataset, batch_size):
        if limit is not None and seen >= limit:
            break
        if limit is not None and seen + len(y) > limit:
            x, y = x[: limit - seen], y[: limit - seen]
        seen += len(y)
        yield x, y


def count_ledger(net: nn.Module, counted: Iterable[tuple[torch.Tensor, Any]], probe: torch.Tensor, method: str,
                 device: torch.device, predicted: list[list[int]] | None = None, **meta: Any) -> EventLedger:
    """One ledger of ``net`` over this rank's ``counted`` batches, summed over ranks. ``predicted``,
    when given, receives each counted batch's predicted classes (the argmax of the logits the
    counted pass computes anyway: counting observes a forward, it does not change it).

    A rank with no batch (more ranks than batches) records the layers on ``probe`` (one sample)
    and contributes zero samples, so every rank holds the same layers for the all-reduce.
    """
    counted = list(counted)
    with torch.no_grad(), count_events(net, method=method, **meta) as ledger:
        for x, _ in counted:
            logits = net(x.to(device))
            if predicted is not None:
                predicted.append(logits.argmax(1).cpu().tolist())
        if not counted:
            net(probe.to(device))
    if not counted:
        ledger = dataclasses.replace(ledger, samples=0)
    return distributed.all_reduce_ledger(ledger)


def test_labels(test_set) -> list[int]:
    """The label of every test sample, in order (the ``label`` column of predictions.csv)."""
    return [int(v) for _, y in batches(test_set) for v in y.tolist()]


@torch.no_grad()
def predict(net: nn.Module, test_set, device: str | torch.device = "cpu",
            known: Mapping[int, list[int]] | None = None) -> list[int]:
    """The predicted class (argmax of the logits) of every test sample, in order. Under torchrun each
    rank predicts its share of the batches and every rank gets all of them back. ``known``: batch
    index -> the predictions of that batch already computed (by the counted pass), reused where they
    cover the whole batch."""
    torch_device = torch.device(device)
    net.eval().to(torch_device)
    known = known or {}
    mine = [(index, known[index] if len(known.get(index, ())) == len(y)
             else net(x.to(torch_device)).argmax(1).cpu().tolist())
            for index, (x, y) in distributed.shard(enumerate(batches(test_set)))]
    shares = sorted((item for share in distributed.all_gather_objects(mine) for item in share), key=lambda i: i[0])
    return [int(p) for _, predicted in shares for p in predicted]


def evaluate_and_count(net: nn.Module, test_set, method: str, count_samples: int | None, device: str,
                       meta: dict[str, Any], labels: list[int] | None = None) -> dict[str, Any]:
    """The prediction for every test sample, hence the accuracy, and one ledger averaged over the
    first ``count_samples`` test samples (instrumented passes). The counted batches' predictions come
    from the counted pass itself; plain forward passes predict the rest (none when every sample is
    counted, the default). Under torchrun each rank takes its share of the batches; ledgers are
    summed and predictions gathered. ``labels``: :func:`test_labels` of ``test_set`` when the caller
    has them already."""
    torch_device = torch.device(device)
    net.eval().to(torch_device)
    counted = list(distributed.shard(enumerate(batches(test_set, EVAL_BATCH, count_samples))))
    outputs: list[list[int]] = []
    ledger = count_ledger(net, (batch for _, batch in counted), test_set[0][0].unsqueeze(0), method, torch_device,
                          predicted=outputs, **meta)
    known = {index: out for (index, _), out in zip(counted, outputs, strict=True)}
    predicted = predict(net, test_set, torch_device, known=known)
    labels = test_labels(test_set) if labels is None else labels
    correct = sum(int(p == y) for p, y in zip(predicted, labels, strict=True))
    return {"accuracy": correct / len(labels), "correct": correct, "test_samples": len(labels),
            "ledger": ledger.to_dict(), "predicted": predicted}


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


#: The identifying columns of predictions.csv, then the per-image ones.
PREDICTION_KEYS = ("arch", "method", "T", "levels", "variant", "seed")


def predictions_frame(evaluated: Iterable[tuple[dict[str, Any], list[int]]], labels: list[int]) -> pd.DataFrame:
    """predictions.csv: one row per (evaluated network, test image), ``arch, method, T, levels,
    variant, seed, sample, label, predicted`` (``sample``: the image's index in the test set); each
    item of ``evaluated`` is a network's identifying columns and its predictions, in test order."""
    label = np.asarray(labels, dtype=np.int64)
    parts = []
    for ident, predicted in evaluated:
        if len(predicted) != len(label):
            raise ValueError(f"{ident}: {len(predicted)} predictions for {len(label)} test images")
        part = {key: np.repeat(np.asarray([ident[key]]), len(label)) for key in PREDICTION_KEYS}
        part.update(sample=np.arange(len(label), dtype=np.int64), label=label,
                    predicted=np.asarray(predicted, dtype=np.int64))
        parts.append(pd.DataFrame(part))
    columns = [*PREDICTION_KEYS, "sample", "label", "predicted"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
