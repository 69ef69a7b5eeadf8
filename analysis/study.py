"""The study: every method on the same trained weights, counted, priced and tabled.

A study is a :class:`StudyConfig`. :func:`run_study` trains or loads each model once, converts it,
evaluates accuracy, counts one ledger per (architecture, method, T), prices every ledger under every
hardware model, and writes ``results.csv``, ``layers.csv``, ``config.json`` and the extra tables the
figures read (``equivalence.csv``, ``fidelity.csv``, ``worked_example.csv``, ``breakeven.csv``,
``sweep.csv``) into the run folder.

Resumable by construction: each unit of work (a trained checkpoint, an evaluated and counted
network) is written atomically into ``<run>/cache/`` under a name that encodes what it is, and a
unit already present is read instead of recomputed. Each unit seeds torch from the study seed and
its own name, so a resumed run computes exactly what an uninterrupted one would have. Tables are
assembled from the units at the end, in a fixed order, and written atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from analysis import distributed
from analysis.counting import count_events
from analysis.data import DataSplit, load_dataset
from analysis.models import build_model
from analysis.registry import unknown_name_message
from analysis.snn import round_thresholds_pow2, to_binary, to_if_snn, to_onespike, to_quantized
from analysis.snn.neurons import QCFS, IFNeuron, PSGNeuron
from analysis.training import TrainConfig, finetune_quantized, load_checkpoint, save_checkpoint, train_ann
from analysis.training import train_bnn as _train_bnn
from energy_models import EventLedger, available_models, get_model

__all__ = [
    "METHODS",
    "RunFolderError",
    "StudyConfig",
    "atomic_write_text",
    "load_tables",
    "run_study",
]

METHODS = ("ann", "qcfs", "cq", "if", "onespike", "bnn")


#: Evaluation batch size: fixed, so that batch boundaries (and therefore every sample's arithmetic)
#: are the same in one process and under torchrun.
EVAL_BATCH = 256


class RunFolderError(ValueError):
    """The run folder holds another study (a different config) and ``force`` was not given."""


# Small widths keep the default study (digits, 8x8) inside its time budget; a user's config may
# set any builder option per architecture.
DIGITS_ARCH_OPTIONS: dict[str, dict[str, Any]] = {
    "cnn_small": {"width": 16},
    "vgg11": {"width": 8},
    "vgg16": {"width": 8},
    "resnet20": {"width": 8},
    "resnet18": {"width": 8},
    "resnet34": {"width": 4},
    # RepVGG-A0's 14-block stage would run on a 1x1 map at 8x8 input and does not train on digits
    # (ANN 83%, QCFS 37%); a shallower RepVGG-style net keeps the multi-branch blocks that Q12 asks about.
    "repvgg_a0": {"width": 16, "blocks": (1, 2, 2, 2, 1)},
    "mlp": {},
}


@dataclass
class StudyConfig:
    """Everything that determines a study's numbers (the run folder does not).

    ``timesteps`` are the T of the IF SNN and the G of OneSpike. ``levels`` is L of the quantized
    ANN that both are converted from. ``hardware`` is ``["all"]`` or model names / TOML paths.
    ``count_samples`` limits how many test samples each ledger averages over (None: all).
    """

    data: str = "digits"
    data_root: str | None = None
    subset: int | None = None
    archs: list[str] = field(default_factory=lambda: ["cnn_small", "vgg11", "resnet20", "repvgg_a0"])
    arch_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    levels: int = 4
    timesteps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    hardware: list[str] = field(default_factory=lambda: ["all"])
    epochs_ann: int = 15
    epochs_quant: int = 10
    epochs_bnn: int = 12
    lr: float = 3e-3
    batch_size: int = 64
    count_samples: int | None = None
    sparsity_sweep: list[float] = field(default_factory=lambda: [round(x, 2) for x in np.linspace(0, 1, 21)])
    group_threshold_exponents: list[int] | None = None
    breakeven_timesteps: int = 5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}: methods are {', '.join(METHODS)}")
        for name in ("timesteps",):
            for t in getattr(self, name):
                if not isinstance(t, int) or isinstance(t, bool) or t < 1:
                    raise ValueError(f"{name} must be positive integers (e.g. 1,2,4,8), got {t!r}")
        if not isinstance(self.levels, int) or self.levels < 1:
            raise ValueError(f"levels must be a positive integer, got {self.levels!r}")
        if not self.archs:
            raise ValueError("archs must name at least one architecture")
        self.timesteps = sorted(set(self.timesteps))

    @classmethod
    def quick(cls, **overrides: Any) -> StudyConfig:
        """A small study for tests and a first look (< 60 s on 2 cores)."""
        base = dict(
            archs=["cnn_small"],
            timesteps=[1, 2, 4, 8],
            epochs_ann=8,
            epochs_quant=3,
            epochs_bnn=6,
            count_samples=128,
            sparsity_sweep=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
        )
        base.update(overrides)
        return cls(**base)

    def options_for(self, arch: str) -> dict[str, Any]:
        if arch in self.arch_options:
            return dict(self.arch_options[arch])
        return dict(DIGITS_ARCH_OPTIONS.get(arch, {})) if self.data == "digits" else {}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown study config key(s) {unknown}; known keys: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> StudyConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"study config {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"study config {str(path)!r} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def digest(self) -> str:
        """A short hash of the config: the identity of the study's numbers."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- atomic files ------------------------------------------------------------------------------
def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: complete or absent, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def _seed_for(seed: int, *parts: Any) -> int:
    """A per-unit seed: the same for the same unit, whatever ran before it."""
    digest = hashlib.sha256(json.dumps([seed, *parts]).encode()).hexdigest()
    return int(digest[:8], 16)


# -- the runner --------------------------------------------------------------------------------
class _Cache:
    """JSON units and checkpoints under ``<run>/cache``; a unit exists only once fully written."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def unit(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self.root / f"{key}.json"
        if path.is_file():
            return json.loads(path.read_text())
        text = json.dumps(compute(), sort_keys=True)  # under torchrun every rank computes its share
        if distributed.is_main():
            atomic_write_text(path, text)
        distributed.barrier()
        # a fresh unit is returned exactly as a resumed run would read it back (key order, float repr)
        return json.loads(text)

    def checkpoint(self, key: str) -> Path:
        return self.root / f"{key}.pt"


def _relevel(qann: nn.Module, levels: int) -> nn.Module:
    """The same quantized ANN (weights, thresholds) with ``levels`` quantization levels."""
    copy_ = copy.deepcopy(qann)
    for m in copy_.modules():
        if isinstance(m, QCFS):
            m.levels = levels
    return copy_


def _loader_batches(dataset, batch_size: int, limit: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    seen = 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for x, y in loader:
        if limit is not None and seen >= limit:
            break
        if limit is not None and seen + len(y) > limit:
            x, y = x[: limit - seen], y[: limit - seen]
        seen += len(y)
        yield x, y


def _evaluate_and_count(
    net: nn.Module, split: DataSplit, method: str, config: StudyConfig, meta: dict[str, Any]
) -> dict[str, Any]:
    """Accuracy over the whole test set (plain forward passes) and one ledger averaged over the
    first ``count_samples`` test samples (instrumented passes). Under torchrun each rank takes its
    share of the batches and the results are summed over ranks."""
    device = torch.device(config.device)
    net.eval().to(device)
    with torch.no_grad():
        counted = list(distributed.shard(_loader_batches(split.test, EVAL_BATCH, config.count_samples)))
        with count_events(net, method=method, **meta) as ledger:
            for x, _ in counted:
                net(x.to(device))
            if not counted:  # this rank has no batch: record the layers on one sample, contribute nothing
                net(split.test[0][0].unsqueeze(0).to(device))
        if not counted:
            ledger = dataclasses.replace(ledger, samples=0)
        correct, total = 0, 0
        for x, y in distributed.shard(_loader_batches(split.test, EVAL_BATCH, None)):
            correct += int((net(x.to(device)).argmax(1).cpu() == y).sum())
            total += len(y)
    correct, total = (int(v) for v in distributed.all_reduce_sum([correct, total]))
    ledger = distributed.all_reduce_ledger(ledger)
    return {"accuracy": correct / total, "samples": total, "ledger": ledger.to_dict()}


def _max_logit_gap(a: nn.Module, b: nn.Module, split: DataSplit, device: str = "cpu") -> dict[str, float]:
    """Max |logit difference| and prediction agreement of two networks in float64 over the test set."""
    a64, b64 = copy.deepcopy(a).double().eval().to(device), copy.deepcopy(b).double().eval().to(device)
    gap, agree, total = 0.0, 0, 0
    with torch.no_grad():
        for x, _ in distributed.shard(_loader_batches(split.test, EVAL_BATCH, None)):
            x = x.to(device=device, dtype=torch.float64)
            la, lb = a64(x), b64(x)
            gap = max(gap, float((la - lb).abs().max()))
            agree += int((la.argmax(1) == lb.argmax(1)).sum())
            total += len(x)
    (gap,) = distributed.all_reduce_max([gap])
    agree, total = distributed.all_reduce_sum([agree, total])
    return {"max_abs_logit_diff": gap, "agreement": agree / total}


def _pow2_exponents(groups: int, exponents: list[int] | None) -> list[float]:
    """Per-group threshold multipliers for Q11: powers of two spread from 2θ down to θ/2."""
    if exponents is not None:
        if len(exponents) != groups:
            raise ValueError(f"group_threshold_exponents needs {groups} values, got {len(exponents)}")
        return [2.0**e for e in exponents]
    if groups == 1:
        return [1.0]
    return [2.0 ** round(1 - 2 * i / (groups - 1)) for i in range(groups)]


def _hardware_names(config: StudyConfig) -> list[str]:
    if config.hardware == ["all"] or "all" in config.hardware:
        return [row["name"] if isinstance(row, dict) else str(row) for row in _available_rows()]
    return list(config.hardware)


def _available_rows() -> list[Any]:
    rows = available_models()
    return list(rows.to_dict("records")) if hasattr(rows, "to_dict") else list(rows)


class Study:
    """One run of a :class:`StudyConfig` into a run folder (see :func:`run_study`)."""

    def __init__(self, config: StudyConfig, out: str | os.PathLike, force: bool = False,
                 progress: bool = True, log: Callable[[str], None] | None = None):
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self.log = log or (lambda msg: None)
        self._claim_folder(force)
        self.cache = _Cache(self.out / "cache")

    def _claim_folder(self, force: bool) -> None:
        distributed.init_from_env(self.config.device)
        with distributed.main_first():
            if distributed.is_main():
                self._claim_folder_main(force)

    def _claim_folder_main(self, force: bool) -> None:
        marker = self.out / "config.json"
        if marker.is_file():
            try:
                existing = json.loads(marker.read_text()).get("digest")
            except json.JSONDecodeError:
                existing = None
            if existing != self.config.digest():
                if not force:
                    raise RunFolderError(
                        f"run folder {str(self.out)!r} holds a study with another config (digest {existing}); "
                        "choose another --out, or pass --force to replace it"
                    )
                import shutil

                shutil.rmtree(self.out)
        payload = {"digest": self.config.digest(), "config": self.config.to_dict()}
        atomic_write_text(marker, json.dumps(payload, indent=2, sort_keys=True))

    # -- models ------------------------------------------------------------------------------
    def _train_config(self, epochs: int, lr: float, seed: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, lr=lr, batch_size=self.config.batch_size, seed=seed,
                           device=self.config.device, progress=self.progress)

    def _model(self, arch: str, split: DataSplit, method: str, parent: nn.Module | None = None) -> nn.Module:
        """Train (or load from the cache) the ANN, the quantized ANNs or the BNN of ``arch``."""
        cfg = self.config
        key = f"{arch}__{method}" + (f"_L{cfg.levels}" if method in ("qcfs", "cq") else "")
        path = self.cache.checkpoint(key)
        seed = _seed_for(cfg.seed, arch, method)
        torch.manual_seed(seed)
        model = build_model(arch, split.num_classes, split.in_channels, split.image_size, **cfg.options_for(arch))
        if method in ("qcfs", "cq"):
            model = to_quantized(model, cfg.levels, method)
        elif method == "bnn":
            model = to_binary(model)
        with distributed.main_first():  # rank 0 trains and saves; the other ranks load its checkpoint
            if path.is_file():
                load_checkpoint(path, model, expected_arch=arch)
                return model.eval()
            if not distributed.is_main():
                raise RuntimeError(f"rank {distributed.rank()}: checkpoint {path} was not written by rank 0")
            return self._train(model, arch, method, parent, split, seed, path)

    def _train(self, model, arch, method, parent, split, seed, path) -> nn.Module:
        cfg = self.config
        torch.manual_seed(seed)
        if method == "ann":
            train_ann(model, split.train, self._train_config(cfg.epochs_ann, cfg.lr, seed))
        elif method in ("qcfs", "cq"):
            model, _ = finetune_quantized(parent, split.train, cfg.levels, method,
                                          self._train_config(cfg.epochs_quant, cfg.lr / 3, seed))
        else:
            model, _ = _train_bnn(parent, split.train, self._train_config(cfg.epochs_bnn, cfg.lr, seed))
        save_checkpoint(path, model, {"arch": arch, "method": method, "levels": cfg.levels,
                                      "options": cfg.options_for(arch), "seed": seed})
        return model.eval()

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict[str, pd.DataFrame]:
        cfg = self.config
        split = load_dataset(cfg.data, cfg.data_root, seed=cfg.seed, subset=cfg.subset)
        hardware = _hardware_names(cfg)
        energy_models = {name: get_model(name) for name in hardware}
        units: list[dict[str, Any]] = []
        equivalence: list[dict[str, Any]] = []
        plan = self._plan()
        bar = tqdm(total=len(plan), desc="study", disable=not self.progress or not distributed.is_main())
        for arch in cfg.archs:
            ann = self._model(arch, split, "ann")
            parents: dict[str, nn.Module] = {"ann": ann}
            for method in ("qcfs", "cq", "bnn"):
                if method in cfg.methods or (method == "qcfs" and {"if", "onespike"} & set(cfg.methods)):
                    parents[method] = self._model(arch, split, method, parent=ann)
            for item in (p for p in plan if p["arch"] == arch):
                bar.set_postfix_str(item["key"])
                compute = lambda item=item, parents=parents: self._compute(item, parents, split)  # noqa: E731
                unit = self.cache.unit(item["key"], compute)
                if item["kind"] == "equivalence":
                    equivalence.append({**{k: item[k] for k in ("arch", "T")}, **unit})
                else:
                    units.append({**{k: v for k, v in item.items() if k != "kind"}, **unit})
                bar.update(1)
        bar.close()
        tables = self._tables(units, equivalence, energy_models, split)
        if distributed.is_main():
            for name, frame in tables.items():
                _atomic_csv(frame, self.out / f"{name}.csv")
        distributed.barrier()
        return tables

    def _plan(self) -> list[dict[str, Any]]:
        """Every unit of work, in a fixed order (the tables' row order)."""
        cfg = self.config
        plan: list[dict[str, Any]] = []
        for arch in cfg.archs:
            def add(kind, method, T, variant="default", arch=arch, **extra):
                key = f"{kind}__{arch}__{method}__T{T}__{variant}"
                plan.append(dict(kind=kind, key=key, arch=arch, method=method, T=T, variant=variant, **extra))

            for method in ("ann", "qcfs", "cq", "bnn"):
                if method in cfg.methods:
                    add("eval", method, 1)
            for T in cfg.timesteps:
                if "qcfs" in cfg.methods:
                    add("eval", "qcfs", T, f"levels{T}")  # the QANN OneSpike(G=T) equals (Q1)
                if "if" in cfg.methods:
                    add("eval", "if", T)
                if "onespike" in cfg.methods:
                    add("eval", "onespike", T)
                    if T & (T - 1) == 0:
                        add("eval", "onespike", T, "hardware")
                    if T > 1:
                        add("eval", "onespike", T, "per_group_thresholds")
                if {"if", "onespike"} <= set(cfg.methods):
                    add("equivalence", "onespike", T)
            tb = cfg.breakeven_timesteps
            if {"if", "qcfs"} <= set(cfg.methods) and tb not in cfg.timesteps:
                add("eval", "if", tb)
                add("eval", "qcfs", tb, f"levels{tb}")
        return plan

    def _compute(self, item: dict[str, Any], parents: dict[str, nn.Module], split: DataSplit) -> dict[str, Any]:
        arch, method, T, variant = item["arch"], item["method"], item["T"], item["variant"]
        torch.manual_seed(_seed_for(self.config.seed, item["key"]))
        qann = parents.get("qcfs")
        meta = {"arch": arch, "variant": variant, "data": self.config.data}
        if item["kind"] == "equivalence":
            # convert a float64 copy: conversion folds batch norm, and doing that in float32 would
            # itself differ from the quantized ANN by float32 rounding (~1e-7)
            q64 = copy.deepcopy(qann).cpu().double()
            onespike, snn, same = to_onespike(q64, T), to_if_snn(q64, T), _relevel(q64, T)
            device = self.config.device
            os_gap, if_gap = _max_logit_gap(onespike, same, split, device), _max_logit_gap(snn, same, split, device)
            return {"onespike_max_abs_logit_diff": os_gap["max_abs_logit_diff"],
                    "onespike_agreement": os_gap["agreement"],
                    "if_max_abs_logit_diff": if_gap["max_abs_logit_diff"], "if_agreement": if_gap["agreement"]}
        if method in ("ann", "cq", "bnn") or (method == "qcfs" and variant == "default"):
            net = parents[method]
            levels = self.config.levels
        elif method == "qcfs":
            net, levels = _relevel(qann, T), T
        elif method == "if":
            net, levels = to_if_snn(qann, T), self.config.levels
        elif variant == "hardware":
            net, levels = to_onespike(round_thresholds_pow2(qann), T, mode="hardware"), self.config.levels
        elif variant == "per_group_thresholds":
            scales = _pow2_exponents(T, self.config.group_threshold_exponents)
            net, levels = to_onespike(qann, T, group_threshold_scales=scales), self.config.levels
            meta["group_threshold_scales"] = scales
        else:
            net, levels = to_onespike(qann, T), self.config.levels
        start = time.perf_counter()
        result = _evaluate_and_count(net, split, method, self.config, meta)
        result["seconds"] = time.perf_counter() - start
        result["levels"] = levels
        return result

    # -- tables ------------------------------------------------------------------------------
    def _tables(self, units, equivalence, energy_models, split) -> dict[str, pd.DataFrame]:
        result_rows, layer_rows, ledgers = [], [], {}
        for unit in units:
            ledger = EventLedger.from_dict(unit["ledger"])
            ident = {k: unit[k] for k in ("arch", "method", "T", "variant")}
            ledgers[(unit["arch"], unit["method"], unit["T"], unit["variant"])] = ledger
            totals = ledger.totals()
            for record in ledger.to_records():
                layer_rows.append({**ident, **record})
            for name, model in energy_models.items():
                report = model.price(ledger)
                components = _as_dict(report.by_component())
                row = {
                    **ident,
                    "hardware": name,
                    "accuracy": unit["accuracy"],
                    "levels": unit["levels"],
                    "latency_steps": ledger.timesteps,
                    "groups": ledger.groups,
                    "energy_pj": float(report.total_pj),
                    **{f"{c}_pj": float(v) for c, v in components.items()},
                    **{f"ops_{e}": v for e, v in totals.items()},
                    "spike_rate": _spike_rate(ledger),
                    "warnings": " | ".join(getattr(report, "warnings", []) or []),
                }
                result_rows.append(row)
        results = pd.DataFrame(result_rows)
        layers = pd.DataFrame(layer_rows)
        tables = {"results": results, "layers": layers, "equivalence": pd.DataFrame(equivalence)}
        tables["fidelity"], tables["worked_example"] = _fidelity_tables(self.config)
        tables["breakeven"], tables["sweep"] = self._breakeven(ledgers, energy_models)
        return tables

    def _breakeven(self, ledgers, energy_models) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Q7: for each arch and hardware model, the input spike sparsity at which the SNN costs as
        much as the quantized ANN, and a sweep of energy vs sparsity."""
        from energy_models.sensitivity import break_even_sparsity, sweep_sparsity

        cfg = self.config
        tb = cfg.breakeven_timesteps
        rows, sweep_rows = [], []
        for arch in cfg.archs:
            pairs = {
                "if": (ledgers.get((arch, "if", tb, "default")), ledgers.get((arch, "qcfs", tb, f"levels{tb}"))),
            }
            L = cfg.levels
            if (arch, "onespike", L, "default") in ledgers:
                pairs["onespike"] = (ledgers[(arch, "onespike", L, "default")],
                                     ledgers.get((arch, "qcfs", L, f"levels{L}")))
            for method, (snn, qnn) in pairs.items():
                if snn is None or qnn is None:
                    continue
                for name, model in energy_models.items():
                    found = break_even_sparsity(snn, qnn, model)
                    rows.append({"arch": arch, "method": method, "T": snn.timesteps * snn.groups,
                                 "qnn_act_bits": math.ceil(math.log2(snn.timesteps * snn.groups + 1)),
                                 "hardware": name, **_as_breakeven(found), "measured_spike_rate": _spike_rate(snn)})
                    for sparsity, energy in sweep_sparsity(snn, model, cfg.sparsity_sweep):
                        sweep_rows.append({"arch": arch, "method": method, "hardware": name,
                                           "input_sparsity": sparsity, "snn_energy_pj": energy,
                                           "qnn_energy_pj": float(model.price(qnn).total_pj)})
        return pd.DataFrame(rows), pd.DataFrame(sweep_rows)


def _as_dict(value: Any) -> dict[str, float]:
    if hasattr(value, "to_dict"):
        return {str(k): float(v) for k, v in value.to_dict().items()}
    return {str(k): float(v) for k, v in dict(value).items()}


def _as_breakeven(found: Any) -> dict[str, Any]:
    if isinstance(found, dict):
        return found
    if isinstance(found, tuple):
        value, reason = found
        return {"break_even_sparsity": value, "reason": reason}
    return {"break_even_sparsity": float(found), "reason": ""}


def _spike_rate(ledger: EventLedger) -> float:
    """Spikes per neuron per step over all spiking layers (0 for ANNs)."""
    spiking = [layer for layer in ledger.layers if layer.kind == "neuron" and layer.output_spiking]
    denom = sum(layer.neurons * layer.timesteps * layer.groups for layer in spiking)
    return sum(layer.spikes for layer in spiking) / denom if denom else 0.0


# -- Q4: spike-train fidelity -------------------------------------------------------------------
WORKED_INPUTS = (0.1, 0.1, 0.5, 1.9, 4.9)
WORKED_THRESHOLD = 2.0


def _fidelity_tables(config: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Q4. ``worked_example``: the seed's example through an IF and a PSG neuron (spike rasters).
    ``fidelity``: mean |spike-count value − clip(average current, 0, θ)| / θ for IF and PSG over
    random currents that vary over time, per T."""
    x = torch.tensor(WORKED_INPUTS, dtype=torch.float64)
    T = len(WORKED_INPUTS)
    if_spikes = IFNeuron(WORKED_THRESHOLD, T, 0.0)(x.reshape(T, 1)).flatten()
    psg_spikes = PSGNeuron(WORKED_THRESHOLD, T)(x.sum().reshape(1)).flatten()
    worked = pd.DataFrame({
        "step": list(range(T)), "input": list(WORKED_INPUTS),
        "if_spike": if_spikes.tolist(), "psg_spike": psg_spikes.tolist(),
    })
    generator = torch.Generator().manual_seed(_seed_for(config.seed, "fidelity"))
    rows = []
    theta = 1.0
    for T in config.timesteps:
        mean = torch.rand(20_000, generator=generator, dtype=torch.float64) * 1.4 - 0.2
        noise = torch.randn(T, 20_000, generator=generator, dtype=torch.float64) * 0.5
        currents = mean + noise - noise.mean(0)  # uneven over time, same average
        ideal = mean.clamp(0, theta)
        for v_init, label in ((0.0, "v_init=0"), (0.5, "v_init=θ/2")):
            if_value = IFNeuron(theta, T, v_init)(currents).mean(0) * theta
            psg_value = PSGNeuron(theta, T, v_init=v_init)(currents.sum(0)).mean(0) * theta
            rows.append({"T": T, "v_init": label, "neuron": "IF", "mae": float((if_value - ideal).abs().mean())})
            rows.append({"T": T, "v_init": label, "neuron": "PSG", "mae": float((psg_value - ideal).abs().mean())})
    return pd.DataFrame(rows), worked


# -- public entry points -----------------------------------------------------------------------
def run_study(config: StudyConfig, out: str | os.PathLike, force: bool = False, progress: bool = True,
              report: bool = True) -> dict[str, pd.DataFrame]:
    """Run (or resume) ``config`` into the run folder ``out``; returns the tables.

    With ``report=True`` the figures and ``report.md`` are drawn from the tables afterwards.
    """
    if config.data not in ("digits", "cifar10", "cifar100", "imagenet", "synthetic"):
        from analysis.data import DATASETS

        raise ValueError(unknown_name_message("data set", config.data, list(DATASETS)))
    tables = Study(config, out, force=force, progress=progress).run()
    if report and distributed.is_main():
        from analysis.report import write_report

        write_report(out)
    return tables


def load_tables(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read every table of a run folder (``results``, ``layers``, ...) as DataFrames."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.csv").is_file():
        raise FileNotFoundError(
            f"{str(run_dir)!r} holds no results.csv: run `onespike study --out {run_dir}` first"
        )
    tables = {}
    for path in sorted(run_dir.glob("*.csv")):
        try:
            tables[path.stem] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            tables[path.stem] = pd.DataFrame()
    return tables
