"""Count one checkpoint as a study counts its units (``onespike count``): the network the checkpoint
holds built and loaded, made into the counted method's deploy form (weights at their width, a
converted method derived from it, a directly trained or framework SNN as it runs), counted on test
samples, and priced under hardware models.

:func:`count_checkpoint` is the one public entry point (the CLI calls it); :func:`price_ledger` prices
the ledger it returns. Every refusal is a ``ValueError`` naming the setting and the fix.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from analysis.data import DataSplit, load_dataset
from analysis.methods import MethodSpec, get_method
from analysis.models import available_models
from analysis.snn import QCFS, check_weight_bits, is_power_of_two
from analysis.study import distributed
from analysis.study.checkpoint_files import check_given_weights, load_weights
from analysis.study.direct import count_form
from analysis.study.evaluate import batches, count_ledger
from analysis.study.hardware import ModelBook, headline_models
from analysis.study.networks import ModelSpec, base_method, derive, pow2_network, priced_form, read_weights
from analysis.study.variants import CALIBRATION_SAMPLES
from energy_models import EventLedger

__all__ = ["CheckpointCount", "count_checkpoint", "price_ledger"]


@dataclass(frozen=True)
class CheckpointCount:
    """What :func:`count_checkpoint` counts: the ``checkpoint`` (a study's or a state dict), its
    ``arch`` (default: the one it records) or the user's ``model`` factory (``package.module:factory``),
    the counted ``method`` (default: the checkpoint's own) at ``timesteps`` (T or G, at most
    ``max_steps``) in PSG ``mode`` (``"exact"`` or ``"hardware"``, power-of-two thresholds; ``pow2``
    rounds them), on ``samples`` test samples of ``data`` (in ``data_root``), weights at ``weight_bits``."""

    checkpoint: str | os.PathLike
    arch: str | None = None
    model: str | None = None
    method: str | None = None
    timesteps: int = 4
    max_steps: int = 256
    mode: str = "exact"
    pow2: bool = False
    data: str = "digits"
    data_root: str | None = None
    samples: int = 128
    weight_bits: int = 8


def count_checkpoint(checkpoint: str | os.PathLike, **settings: Any) -> EventLedger:
    """The ledger of ``checkpoint`` counted as a study counts (see :class:`CheckpointCount` for the
    settings). Under torchrun every rank counts its share of the batches and gets the summed ledger."""
    known = {field.name for field in dataclasses.fields(CheckpointCount)} - {"checkpoint"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"count_checkpoint: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    request = CheckpointCount(checkpoint, **settings)
    net, method, arch, split = _counted_network(request)
    distributed.init_from_env()
    counted = distributed.shard(batches(split.test, limit=request.samples))
    return count_ledger(net, counted, split.test[0][0].unsqueeze(0), method, torch.device("cpu"), arch=arch)


def price_ledger(ledger: EventLedger, hardware: list[str]) -> pd.DataFrame:
    """One row per headline model of ``hardware`` (``"all"``, ``"primary"`` or names): the energy of
    ``ledger`` and its part per component, indexed by the model's name."""
    book = ModelBook()
    rows = []
    for name in headline_models(hardware):
        report = book.model(name).price(ledger)
        rows.append({"hardware": name, "energy_pj": report.total_pj, **dict(report.by_component())})
    return pd.DataFrame(rows).set_index("hardware")


def _arch(request: CheckpointCount, meta: dict[str, Any]) -> str:
    """The architecture to build, checked against what the checkpoint records."""
    recorded = meta.get("model")  # the factory of a user's network (never imported unless named by --model)
    where = f"{str(request.checkpoint)!r}"
    if recorded and not request.model:
        raise ValueError(f"{where} holds your network from --model {recorded!r} (arch {meta.get('arch')!r})"
                         f": pass --model {recorded} to count it")
    if request.model and not recorded and meta.get("arch") in available_models():
        raise ValueError(f"{where} was saved for the zoo architecture {meta['arch']!r}, not for --model "
                         f"{request.model!r}: drop --model to count it")
    arch = request.arch or meta.get("arch") or (request.model.split(":")[-1] if request.model else None)
    if arch is None:
        raise ValueError(f"{where} records no architecture: pass --arch (a zoo name) or --model")
    if request.arch and meta.get("arch") and request.arch != meta["arch"]:
        raise ValueError(f"{where} was saved for architecture {meta['arch']!r} (options "
                         f"{meta.get('options', {})}), not --arch {request.arch!r}")
    return arch


def _counted_network(request: CheckpointCount) -> tuple[nn.Module, str, str, DataSplit]:
    """The network to count, its method, its architecture and the data."""
    if request.timesteps > request.max_steps:
        raise ValueError(f"--timesteps {request.timesteps} is over the limit of {request.max_steps}; raise it with "
                         "--max-steps")
    state, meta = read_weights(request.checkpoint)
    check_given_weights(state, meta, request.data, f"checkpoint {str(request.checkpoint)!r}")
    arch = _arch(request, meta)
    saved = meta.get("method") or base_method()
    method = request.method or saved
    spec, saved_spec = get_method(method), get_method(saved)
    bits = spec.requested_weight_bits(check_weight_bits("--weight-bits", request.weight_bits))
    if request.mode == "hardware" and not spec.is_group_parallel:
        raise ValueError(f"--mode hardware is OneSpike's power-of-two PSG mode; --method {method} has no PSG mode: "
                         "drop --mode")
    if request.pow2 and not saved_spec.quantized:
        raise ValueError(f"--pow2 rounds a quantized network's thresholds; the checkpoint holds {saved!r}, which has "
                         "none: drop --pow2")
    split = load_dataset(request.data, request.data_root)
    model = ModelSpec(arch, meta.get("options", {}), request.model).build(split.num_classes, split.in_channels,
                                                                           split.image_size)
    if saved_spec.parent is not None:
        model = derive(saved, model, steps=request.timesteps, levels=int(meta.get("levels", 4)))
    load_weights(model, state, f"checkpoint {str(request.checkpoint)!r}", f"architecture {arch!r} ({saved})")
    model.eval()
    if request.pow2:
        model = pow2_network(model)
    snn = count_form(model, request.method, request.timesteps, request.mode, next(iter(batches(split.test, 8)))[0])
    if snn is not None:  # a SpikingJelly/snnTorch network or a directly trained SNN: as it runs, or its OneSpike form
        net, method = snn
        return net, method, arch, split
    if spec.trained:
        if method != saved:
            raise ValueError(f"checkpoint holds a {saved!r} network; --method {method} needs its own weights "
                             f"(or a spiking method converted from a quantized network)")
        return priced_form(model, bits)[0], method, arch, split  # what a study counts: deploy form, weights at width
    return _converted(request, model, saved, method, spec, bits, split), method, arch, split


def _converted(request: CheckpointCount, model: nn.Module, saved: str, method: str, spec: MethodSpec, bits: int,
               split: DataSplit) -> nn.Module:
    """``method`` converted from the checkpoint's network, as a study converts it."""
    saved_spec, parent = get_method(saved), get_method(spec.parent)
    if saved != spec.parent and not (saved_spec.quantized and parent.quantized):
        kind = "a quantized network" if parent.quantized else f"an {spec.parent!r} network"
        raise ValueError(f"--method {method} converts {kind}; the checkpoint holds {saved!r}")
    if request.mode == "hardware":
        bad = [float(m.threshold.detach()) for m in model.modules() if isinstance(m, QCFS)
               if not is_power_of_two(float(m.threshold.detach()))]
        if bad:
            raise ValueError(f"--mode hardware needs power-of-two thresholds; {len(bad)} are not (e.g. "
                             f"{bad[0]:.4g}): pass --pow2 to round them")
    psg = {"mode": request.mode} if spec.is_group_parallel else {}  # the PSG mode is the group-parallel one's
    calibration = next(iter(batches(split.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))[0] \
        if spec.needs_calibration else None
    return derive(method, priced_form(model, bits)[0], request.timesteps, calibration=calibration, **psg)
