"""The study: every method on the same trained weights, counted, priced and tabled.

:func:`run_study` validates everything (config, data, hardware models, the run folder) before it
writes anything, takes the folder's lock, gets each trained network once per (seed, architecture)
(:class:`~analysis.study.networks.TrainedNetworks`), evaluates and counts each
:class:`~analysis.study.plan.Unit` on the network its variant builds
(:mod:`~analysis.study.variants`), prices every ledger under every hardware model
(:mod:`~analysis.study.pricing`) and writes the tables through
:class:`~analysis.run_folder.RunFolder`. This module only orchestrates.

Resumable by construction (:mod:`~analysis.study.cache`): a unit or trained network already in the
run's cache is read instead of recomputed, and each unit seeds torch from its own key.
"""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from analysis.data import DataSplit, load_dataset
from analysis.methods import Method, get_method
from analysis.run_folder import RunFolder
from analysis.study import distributed, preflight
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.evaluate import batches, evaluate_and_count, max_logit_gap
from analysis.study.fidelity import layer_errors, random_fidelity, recorded_fidelity, worked_example
from analysis.study.folder import FolderLock, claim_folder, prepare_folder
from analysis.study.hardware import alternatives, hardware_table, headline_models
from analysis.study.networks import TrainedNetworks, derive, relevel
from analysis.study.plan import EQUIVALENCE, Unit, build_plan
from analysis.study.pricing import breakeven_tables, priced_tables, yan2024_targets
from analysis.study.variants import VariantInput, variant_network
from energy_models import get_model

__all__ = ["Study", "hardware_names", "load_tables", "run_study", "seed_for"]

#: Test images the per-layer measurements (Q4 recorded currents, Q10 layer errors) use.
LAYER_SAMPLES = 64
#: The methods an equivalence unit (Q1) compares with the quantized ANN of as many levels; each gets
#: the columns ``<method>_max_abs_logit_diff`` and ``<method>_agreement`` of equivalence.csv.
EQUIVALENCE_METHODS = (Method.ONESPIKE, Method.IF)
#: What a converted method's network is, in the ``deploy_form`` column.
CONVERTED_FORM = "converted (BN folded, multi-branch fused)"


def hardware_names(hardware: list[str]) -> list[str]:
    """The headline models of a ``hardware`` list: ``"primary"`` -> every family's primary model,
    ``"all"`` -> every built-in model, other names as given (:func:`~analysis.study.hardware.headline_models`)."""
    return headline_models(hardware)


class Study:
    """One run of a :class:`StudyConfig` into a run folder (see :func:`run_study`)."""

    def __init__(self, config: StudyConfig, out: str | os.PathLike, force: bool = False, progress: bool = True):
        self.config = config
        self.digest = config.compute_digest()
        self.progress = progress
        distributed.init_from_env(config.device)
        self.folder = prepare_folder(out, self.digest, force)  # checks only: nothing is written yet
        self.hardware = hardware_names(config.hardware)
        self.models = {name: get_model(name) for name in self.hardware}  # a bad name fails before any write
        # every headline model's variants and alternative conventions: the report's sensitivity section
        self.alternatives = [alt for name in self.hardware for alt in alternatives(name)]
        self.cache = RunCache(self.folder)
        self.bar: tqdm | None = None
        self.networks: TrainedNetworks | None = None

    # -- one unit ----------------------------------------------------------------------------
    def _compute(self, unit: Unit, parents: dict[str, nn.Module], split: DataSplit) -> dict[str, Any]:
        torch.manual_seed(seed_for(self.config.seed, unit.key(self.digest)))
        device = self.config.device
        if unit.kind == EQUIVALENCE:
            # a float64 copy: conversion folds batch norm, and doing that in float32 would itself
            # differ from the quantized ANN by float32 rounding (~1e-7)
            q64 = copy.deepcopy(parents[get_method(unit.method).parent]).cpu().double()
            same = relevel(q64, unit.steps)
            gaps = {method: max_logit_gap(derive(method, q64, unit.steps), same, split.test, device)
                    for method in EQUIVALENCE_METHODS}
            return {f"{method}_{measure}": gap[measure] for method, gap in gaps.items()
                    for measure in ("max_abs_logit_diff", "agreement")}
        spec = get_method(unit.method)
        base = parents[unit.method if spec.trained else spec.parent]
        net, meta = variant_network(unit.variant, VariantInput(unit.method, unit.steps, unit.levels,
                                                               self.config.levels, base, split.train))
        start = time.perf_counter()
        result = evaluate_and_count(net, split.test, unit.method, self.config.count_samples, device,
                                    {"arch": unit.arch, "variant": unit.variant, "data": self.config.data, **meta})
        result["seconds"] = time.perf_counter() - start
        result["deploy_form"] = meta.get("deploy_form", CONVERTED_FORM)
        return result

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict[str, pd.DataFrame]:
        cfg = self.config
        split = load_dataset(cfg.data, cfg.data_root, seed=cfg.seed, subset=cfg.subset)
        self.networks = TrainedNetworks(cfg, self.cache, self.digest, self._epochs_done)
        preflight.check(cfg, split)  # the untrained networks convert and run: refuse now, not after training
        plan = build_plan(cfg)
        lock = FolderLock(self.folder)
        if distributed.is_main():
            lock.acquire()
        try:
            if distributed.is_main():
                claim_folder(self.folder, self.digest, self._payload(split))
            distributed.barrier()
            tables = self._run(plan, split, self.networks)
            if distributed.is_main():
                self.folder.write_tables(tables)
            distributed.barrier()
        finally:
            if self.bar is not None:  # end the bar's line before any error is printed
                self.bar.close()
            lock.release()
        return tables

    def _payload(self, split: DataSplit) -> dict[str, Any]:
        models = {}
        for arch in self.config.archs:
            spec = self.networks.spec(arch)
            models[arch] = {"options": spec.options,
                            "parameters": spec.parameters(split.num_classes, split.in_channels, split.image_size)}
        return {"digest": self.config.digest(), "config": self.config.to_dict(), "models": models,
                "data": {"name": self.config.data, "image_size": split.image_size, "in_channels": split.in_channels,
                         "num_classes": split.num_classes, "train_samples": len(split.train),
                         "test_samples": len(split.test)}}

    def _epochs_done(self, epochs: int) -> None:
        if self.bar is not None:
            self.bar.update(epochs)

    def _run(self, plan: list[Unit], split: DataSplit, networks: TrainedNetworks) -> dict[str, pd.DataFrame]:
        cfg = self.config
        units: list[tuple[Unit, dict[str, Any]]] = []
        equivalence: list[dict[str, Any]] = []
        per_layer: dict[str, list[dict[str, Any]]] = {"layer_errors": [], "fidelity": []}
        self.bar = tqdm(total=len(plan) + networks.total_epochs(), desc="study (training epochs + units)",
                        unit="step", disable=not self.progress or not distributed.is_main())
        # Q4 and Q10 measure the IF network against the quantized network it is converted from
        layer_parent = get_method(Method.IF).parent if Method.IF in cfg.methods else None
        for seed in cfg.seed_list:
            for arch in cfg.archs:
                parents: dict[str, nn.Module] = {}
                for method in networks.build:
                    self.bar.set_postfix_str(f"train {arch} {method}")
                    parents[method] = networks.network(arch, method, seed, split, parents)
                for unit in (u for u in plan if u.arch == arch and u.seed == seed):
                    self.bar.set_postfix_str(unit.key(self.digest)[:48])
                    outcome = self.cache.unit(unit.key(self.digest),
                                              lambda unit=unit, parents=parents: self._compute(unit, parents, split))
                    if unit.kind == EQUIVALENCE:
                        equivalence.append({"arch": arch, "T": unit.steps, "seed": seed, **outcome})
                    else:
                        units.append((unit, outcome))
                    self.bar.update(1)
                if seed == cfg.seed and layer_parent is not None:
                    self._layer_tables(arch, parents[layer_parent], split, per_layer)
        self.bar.close()
        priced = priced_tables(units, self.models, self.alternatives)
        ledgers = priced.ledgers
        breakeven, sweep = breakeven_tables(ledgers, self.hardware, cfg.archs, cfg.seed, cfg.levels,
                                            cfg.breakeven_timesteps, cfg.sparsity_sweep, cfg.spike_event_sweep)
        generator = torch.Generator().manual_seed(seed_for(cfg.seed, "fidelity"))
        fidelity = pd.DataFrame(random_fidelity(cfg.timesteps, generator) + per_layer["fidelity"])
        return {"results": priced.results, "layers": priced.layers, "sensitivity": priced.sensitivity,
                "warnings": priced.warnings, "hardware": hardware_table(self.models, self.hardware, self.alternatives),
                "equivalence": pd.DataFrame(equivalence),
                "fidelity": fidelity, "worked_example": worked_example(),
                "layer_errors": pd.DataFrame(per_layer["layer_errors"]), "breakeven": breakeven, "sweep": sweep,
                "yan2024_targets": yan2024_targets(ledgers, cfg.archs, cfg.seed)}

    def _layer_tables(self, arch: str, quantized: nn.Module, split: DataSplit, out: dict[str, list]) -> None:
        """Q4 recorded currents and Q10 per-layer errors of IF(T) against the quantized ANN."""
        images, _ = next(iter(batches(split.test, LAYER_SAMPLES, LAYER_SAMPLES)))
        for steps in self.config.timesteps:
            snn = derive(Method.IF, quantized, steps)
            out["layer_errors"].extend(layer_errors(quantized, snn, images, arch))
            out["fidelity"].extend(recorded_fidelity(snn, images, arch))


# -- public entry points -----------------------------------------------------------------------
def run_study(config: StudyConfig, out: str | os.PathLike, force: bool = False,
              progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run (or resume) ``config`` into the run folder ``out``; returns the tables. The report is the
    next stage: ``analysis.report.write_report(out)`` (the CLI runs both)."""
    return Study(config, out, force=force, progress=progress).run()


def load_tables(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every table of a complete run folder (``results``, ``layers``, ...) as DataFrames."""
    return RunFolder(run_dir).read_tables()
