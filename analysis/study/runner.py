"""The study: every method on the same trained weights, counted, priced and tabled.

:func:`run_study` validates everything (config, data, hardware models, the run folder) before it
writes anything, takes the folder's lock, trains or loads each network once per (seed,
architecture), evaluates and counts each :class:`~analysis.study.plan.Unit`, prices every ledger
under every hardware model and writes the tables through :class:`~analysis.run_folder.RunFolder`.

Resumable by construction: each unit and each trained network is written atomically into
``<run>/cache/`` under a key that carries the config's compute digest, and a unit already there is
read instead of recomputed (a corrupt one is named, moved aside and recomputed). Each unit seeds
torch from the study seed and its own key, so a resumed run computes exactly what an uninterrupted
one would have.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from analysis.data import DataSplit, load_dataset
from analysis.methods import get_method, method_names
from analysis.run_folder import RunFolder
from analysis.study import distributed, preflight
from analysis.study.config import StudyConfig
from analysis.study.evaluate import batches, evaluate_and_count, max_logit_gap
from analysis.study.fidelity import layer_errors, random_fidelity, recorded_fidelity, worked_example
from analysis.study.folder import FolderLock, claim_folder, prepare_folder
from analysis.study.networks import ModelSpec, deploy_form, derive, pow2_network, read_weights, relevel
from analysis.study.plan import Unit, build_plan
from analysis.study.pricing import breakeven_tables, priced_tables, yan2024_targets
from analysis.study.thresholds import binary_scales, calibrate_scales
from analysis.study.training import CheckpointError, TrainConfig, load_checkpoint, save_checkpoint, train_for
from energy_models import available_models, get_model

__all__ = ["Study", "hardware_names", "load_tables", "run_study", "seed_for"]

#: Test images the per-layer measurements (Q4 recorded currents, Q10 layer errors) use.
LAYER_SAMPLES = 64
#: Training images the per-group threshold calibration (Q11) uses.
CALIBRATION_SAMPLES = 512


def seed_for(seed: int, *parts: Any) -> int:
    """A per-unit seed: the same for the same unit, whatever ran before it."""
    return int(hashlib.sha256(json.dumps([seed, *parts]).encode()).hexdigest()[:8], 16)


def hardware_names(hardware: list[str]) -> list[str]:
    """``["all"]`` (or a list holding "all") -> every built-in model name; else the names given."""
    if "all" in hardware:
        return [row["name"] for row in available_models()]
    return list(hardware)


class _Cache:
    """JSON units and checkpoints under ``<run>/cache``; a unit exists only once fully written."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.root = folder.cache_dir

    def _set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        path.replace(aside)
        warnings.warn(f"cache file {path} was unreadable ({why}); moved to {aside.name} and recomputed", stacklevel=3)

    def unit(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self.root / f"{key}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                if distributed.is_main():
                    self._set_aside(path, type(exc).__name__)
        text = json.dumps(compute(), sort_keys=True)  # under torchrun every rank computes its share
        if distributed.is_main():
            self.folder.write_text(path, text)
        distributed.barrier()
        # a fresh unit is returned exactly as a resumed run would read it back (key order, float repr)
        return json.loads(text)

    def load_network(self, path: Path, model: nn.Module, method: str | None = None) -> bool:
        """Load ``path`` into ``model``; False (and the file set aside) when it is unreadable or
        records another method than ``method``."""
        if not path.is_file():
            return False
        try:
            load_checkpoint(path, model, expected_method=method)
            return True
        except CheckpointError as exc:
            if distributed.is_main():
                self._set_aside(path, str(exc).split(":")[0])
            return False


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
        self.cache = _Cache(self.folder)
        self.bar: tqdm | None = None
        self._given: dict[str, tuple[dict, dict]] = {}

    # -- networks ----------------------------------------------------------------------------
    def _spec(self, arch: str) -> ModelSpec:
        return ModelSpec(arch, self.config.options_for(arch), self.config.model)

    def _given_weights(self) -> dict[str, tuple[dict, dict]]:
        """Weights the user gave, by the method their checkpoint records (a bare state dict is an ANN)."""
        given: dict[str, tuple[dict, dict]] = {}
        for path in self.config.checkpoints:
            state, meta = read_weights(path)
            method = meta.get("method", "ann")
            if not get_method(method).trained:
                raise ValueError(f"checkpoint {path!r} holds a {method!r} network; give trained weights (ann, qcfs, "
                                 "cq or bnn): the spiking networks are converted from them")
            if method in given:
                raise ValueError(f"two checkpoints hold {method!r} weights: {path!r} and an earlier one")
            if get_method(method).quantized and int(meta.get("levels", self.config.levels)) != self.config.levels:
                raise ValueError(f"checkpoint {path!r} holds L={meta.get('levels')} levels; run with --levels "
                                 f"{meta.get('levels')}")
            given[method] = (state, meta)
        return given

    def _needed(self, given: dict[str, Any]) -> tuple[list[str], set[str]]:
        """``(build, train)``: the trained methods whose networks must exist (the study's methods and
        their ancestors), in registry order, and those of them that must be trained: a method whose
        weights were given needs its parent's structure only, not its training."""
        build: set[str] = set()
        train: set[str] = set()
        for name in self.config.methods:
            trains = True
            while name is not None:
                spec = get_method(name)
                if spec.trained:
                    build.add(name)
                    if trains and name not in given:
                        train.add(name)
                    trains = trains and name not in given
                name = spec.parent
        return [name for name in method_names() if name in build], train

    def _network(self, arch: str, method: str, seed: int, split: DataSplit, parents: dict[str, nn.Module],
                 given: dict[str, tuple[dict, dict]], train: bool) -> nn.Module:
        """The trained network of ``method`` (ann, qcfs, cq, bnn) for ``arch``: the user's weights,
        the cache, or trained now (rank 0 trains and saves; the other ranks load its checkpoint).
        With ``train=False`` (only its structure is needed, as the parent of given weights) the
        untrained network."""
        cfg, spec = self.config, get_method(method)
        torch.manual_seed(seed_for(seed, arch, method))
        if spec.parent is None:
            model = self._spec(arch).build(split.num_classes, split.in_channels, split.image_size)
        else:
            model = derive(method, parents[spec.parent], levels=cfg.levels)
        if method in given:
            try:
                model.load_state_dict(given[method][0])
            except RuntimeError as exc:
                raise CheckpointError(f"the {method} checkpoint does not fit architecture {arch!r}: "
                                      f"{str(exc).splitlines()[0]}") from None
            return model.eval()
        if not train:
            return model.eval()
        path = self.folder.cache_dir / f"{arch}__{method}__L{cfg.levels}__s{seed}__{self.digest}.pt"
        with distributed.main_first():
            if self.cache.load_network(path, model, method):
                if self.bar is not None:  # its epochs are in the bar's total: a resumed run still ends at 100%
                    self.bar.update(self._epochs(method))
                return model.eval()
            if not distributed.is_main():
                raise RuntimeError(f"rank {distributed.rank()}: checkpoint {path} was not written by rank 0")
            config = TrainConfig(epochs=self._epochs(method), lr=cfg.lr if spec.training != "quantized" else cfg.lr / 3,
                                 batch_size=cfg.batch_size, seed=seed_for(seed, arch, method), device=cfg.device,
                                 progress=False, patience=5 if spec.training == "binary" else None,
                                 on_epoch=self._tick)
            model = train_for(spec.training, model, split.train, config)
            save_checkpoint(path, model, {"arch": arch, "model": cfg.model, "method": method, "levels": cfg.levels,
                                          "options": self._spec(arch).options, "seed": config.seed,
                                          "input": {"data": cfg.data, "num_classes": split.num_classes,
                                                    "in_channels": split.in_channels,
                                                    "image_size": split.image_size}})
            return model.eval()

    def _tick(self, *_: Any) -> None:
        if self.bar is not None:
            self.bar.update(1)

    # -- one unit ----------------------------------------------------------------------------
    def _compute(self, unit: Unit, parents: dict[str, nn.Module], split: DataSplit) -> dict[str, Any]:
        torch.manual_seed(seed_for(self.config.seed, unit.key(self.digest)))
        device = self.config.device
        if unit.kind == "equivalence":
            # a float64 copy: conversion folds batch norm, and doing that in float32 would itself
            # differ from the quantized ANN by float32 rounding (~1e-7)
            q64 = copy.deepcopy(parents[get_method(unit.method).parent]).cpu().double()
            same = relevel(q64, unit.steps)
            onespike_gap = max_logit_gap(derive("onespike", q64, unit.steps), same, split.test, device)
            if_gap = max_logit_gap(derive("if", q64, unit.steps), same, split.test, device)
            return {"onespike_max_abs_logit_diff": onespike_gap["max_abs_logit_diff"],
                    "onespike_agreement": onespike_gap["agreement"],
                    "if_max_abs_logit_diff": if_gap["max_abs_logit_diff"], "if_agreement": if_gap["agreement"]}
        net, meta = self._unit_network(unit, parents, split)
        start = time.perf_counter()
        result = evaluate_and_count(net, split.test, unit.method, self.config.count_samples, device,
                                    {"arch": unit.arch, "variant": unit.variant, "data": self.config.data, **meta})
        result["seconds"] = time.perf_counter() - start
        result["deploy_form"] = meta.get("deploy_form", "converted (BN folded, multi-branch fused)")
        return result

    def _unit_network(self, unit: Unit, parents: dict[str, nn.Module], split: DataSplit) -> tuple[nn.Module, dict]:
        spec = get_method(unit.method)
        if spec.trained:
            base = parents[unit.method]
            if unit.variant == "pow2":
                base = pow2_network(base)
            elif unit.levels != self.config.levels:
                base = relevel(base, unit.levels)
            net, phrase = deploy_form(base)
            return net, {"deploy_form": phrase}
        parent = parents[spec.parent]
        if unit.variant in ("exact_pow2", "hardware"):
            mode = "hardware" if unit.variant == "hardware" else "exact"
            return derive(unit.method, pow2_network(parent), unit.steps, mode=mode), {"mode": mode}
        if unit.variant == "per_group_binary":
            scales = binary_scales(unit.steps)
            return derive(unit.method, parent, unit.steps, group_threshold_scales=scales), {"scales": scales}
        if unit.variant == "per_group_calibrated":
            images, labels = next(iter(batches(split.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))
            name, scales, loss = calibrate_scales(
                lambda s: derive(unit.method, parent, unit.steps, group_threshold_scales=s), images, labels, unit.steps)
            return (derive(unit.method, parent, unit.steps, group_threshold_scales=scales),
                    {"scales": scales, "calibrated": name, "calibration_loss": loss})
        return derive(unit.method, parent, unit.steps), {}

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict[str, pd.DataFrame]:
        cfg = self.config
        split = load_dataset(cfg.data, cfg.data_root, seed=cfg.seed, subset=cfg.subset)
        given = self._given = self._given_weights()
        preflight.check(cfg, split)  # the untrained networks convert and run: refuse now, not after training
        plan = build_plan(cfg)
        lock = FolderLock(self.folder)
        if distributed.is_main():
            lock.acquire()
        try:
            if distributed.is_main():
                claim_folder(self.folder, self.digest, self._payload(split))
            distributed.barrier()
            tables = self._run(plan, split, given)
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
            spec = self._spec(arch)
            models[arch] = {"options": spec.options,
                            "parameters": spec.parameters(split.num_classes, split.in_channels, split.image_size)}
        return {"digest": self.config.digest(), "config": self.config.to_dict(), "models": models,
                "data": {"name": self.config.data, "image_size": split.image_size, "in_channels": split.in_channels,
                         "num_classes": split.num_classes, "train_samples": len(split.train),
                         "test_samples": len(split.test)}}

    def _epochs(self, method: str) -> int:
        """Training epochs of a trained method (the maximum, for a BNN trained to its plateau)."""
        cfg, spec = self.config, get_method(method)
        if spec.training == "quantized" and spec.parent in self._given and cfg.finetune_epochs is not None:
            return cfg.finetune_epochs
        return {"ann": cfg.epochs_ann, "quantized": cfg.epochs_quant, "binary": cfg.epochs_bnn}[spec.training]

    def _run(self, plan: list[Unit], split: DataSplit, given: dict) -> dict[str, pd.DataFrame]:
        cfg = self.config
        units: list[tuple[Unit, dict[str, Any]]] = []
        equivalence: list[dict[str, Any]] = []
        per_layer: dict[str, list[dict[str, Any]]] = {"layer_errors": [], "fidelity": []}
        build, train = self._needed(given)
        epochs = sum(self._epochs(method) for method in train) * len(cfg.archs) * cfg.seeds
        self.bar = tqdm(total=len(plan) + epochs, desc="study (training epochs + units)", unit="step",
                        disable=not self.progress or not distributed.is_main())
        layer_parent = get_method("if").parent if "if" in cfg.methods else None
        for seed in cfg.seed_list:
            for arch in cfg.archs:
                parents: dict[str, nn.Module] = {}
                for method in build:
                    self.bar.set_postfix_str(f"train {arch} {method}")
                    parents[method] = self._network(arch, method, seed, split, parents, given, method in train)
                for unit in (u for u in plan if u.arch == arch and u.seed == seed):
                    self.bar.set_postfix_str(unit.key(self.digest)[:48])
                    outcome = self.cache.unit(unit.key(self.digest),
                                              lambda unit=unit, parents=parents: self._compute(unit, parents, split))
                    if unit.kind == "equivalence":
                        equivalence.append({"arch": arch, "T": unit.steps, "seed": seed, **outcome})
                    else:
                        units.append((unit, outcome))
                    self.bar.update(1)
                if seed == cfg.seed and layer_parent is not None:
                    self._layer_tables(arch, parents[layer_parent], split, per_layer)
        self.bar.close()
        results, layers, ledgers = priced_tables(units, self.models)
        breakeven, sweep = breakeven_tables(ledgers, self.hardware, cfg.archs, cfg.seed, cfg.levels,
                                            cfg.breakeven_timesteps, cfg.sparsity_sweep, cfg.spike_event_sweep)
        generator = torch.Generator().manual_seed(seed_for(cfg.seed, "fidelity"))
        fidelity = pd.DataFrame(random_fidelity(cfg.timesteps, generator) + per_layer["fidelity"])
        return {"results": results, "layers": layers, "equivalence": pd.DataFrame(equivalence),
                "fidelity": fidelity, "worked_example": worked_example(),
                "layer_errors": pd.DataFrame(per_layer["layer_errors"]), "breakeven": breakeven, "sweep": sweep,
                "yan2024_targets": yan2024_targets(ledgers, cfg.archs, cfg.seed)}

    def _layer_tables(self, arch: str, qcfs: nn.Module, split: DataSplit, out: dict[str, list]) -> None:
        """Q4 recorded currents and Q10 per-layer errors of IF(T) against the quantized ANN."""
        images, _ = next(iter(batches(split.test, LAYER_SAMPLES, LAYER_SAMPLES)))
        for steps in self.config.timesteps:
            snn = derive("if", qcfs, steps)
            out["layer_errors"].extend(layer_errors(qcfs, snn, images, arch))
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
