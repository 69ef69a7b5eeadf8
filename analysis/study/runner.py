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

import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from analysis.data import DataSplit, load_dataset
from analysis.methods import Method, Role, first_with_role, get_method
from analysis.run_folder import RunFolder
from analysis.snn import FLOAT_WEIGHT_BITS
from analysis.study import distributed, preflight
from analysis.study.ahead import SharedWork, second_cpu, training_step_seconds
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.direct import DirectNetworks, for_model, trained_by
from analysis.study.evaluate import batches, evaluate_and_count, predict, predictions_frame, test_labels
from analysis.study.events import event_methods, event_rows, event_tasks, events_ahead
from analysis.study.fidelity import (
    equivalence_unit,
    layer_errors,
    random_fidelity,
    recorded_fidelity,
    worked_example,
)
from analysis.study.folder import FolderLock, claim_folder, prepare_folder
from analysis.study.hardware import alternatives, hardware_table, headline_models
from analysis.study.networks import TrainedNetworks, derive, priced_form
from analysis.study.onestep import onestep_measure
from analysis.study.plan import EQUIVALENCE, ONESTEP, Unit, build_plan
from analysis.study.pricing import breakeven_rows, crosscheck_table, priced_tables, yan2024_targets
from analysis.study.speed import StageTimes, torch_threads
from analysis.study.variants import DEFAULT, FINETUNED, VariantInput, variant_network
from energy_models import EventLedger, get_model
from energy_models.zigzag import is_zigzag_name

__all__ = ["Study", "hardware_names", "load_tables", "run_study", "seed_for"]

#: Test images the per-layer measurements (Q4 recorded currents, Q10 layer errors) use.
LAYER_SAMPLES = 64
#: The variants whose network is also evaluated with float weights (``accuracy_float_weights``: what
#: quantizing the weights costs); NaN in the other variants' rows.
FLOAT_REFERENCE_VARIANTS = (DEFAULT, FINETUNED)
#: A network within this many points of chance accuracy (1 / classes) is not a working configuration
#: (``working`` = False): its energy is not a price anyone would pay.
WORKING_MARGIN = 0.10


def hardware_names(hardware: list[str]) -> list[str]:
    """The headline models of a ``hardware`` list: ``"primary"`` -> every family's primary model,
    ``"all"`` -> every built-in model, other names as given (:func:`~analysis.study.hardware.headline_models`)."""
    return headline_models(hardware)


class Study:
    """One run of a :class:`StudyConfig` into a run folder (see :func:`run_study`)."""

    def __init__(self, config: StudyConfig, out: str | os.PathLike, force: bool = False, progress: bool = True):
        self.config = config = for_model(config)  # a user's SNN: the directly trained methods only
        self.digest = config.compute_digest()
        self.progress = progress
        distributed.init_from_env(config.device)
        self.folder = prepare_folder(out, self.digest, force)  # checks only: nothing is written yet
        self.hardware = hardware_names(config.hardware)
        # a bad name fails before any write; a ZigZag model keeps its layer mappings in the run's cache
        self.models = {name: get_model(name, cache_dir=self.folder.cache_dir) if is_zigzag_name(name)
                       else get_model(name) for name in self.hardware}
        # every headline model's variants and alternative conventions: the report's sensitivity section
        self.alternatives = [alt for name in self.hardware for alt in alternatives(name)]
        self.cache = RunCache(self.folder)
        self.bar: tqdm | None = None
        self.networks: TrainedNetworks | None = None
        #: wall and CPU seconds per stage of this run (``benchmarks/study_time.py`` prints them)
        self.timings = StageTimes()
        self.labels: list[int] = []
        self.direct: DirectNetworks | None = None
        #: the forked helper working through the architectures from the back, if one runs
        self.helper: SharedWork | None = None

    # -- one unit ----------------------------------------------------------------------------
    def _compute(self, unit: Unit, parents: dict, split: DataSplit) -> dict[str, Any]:
        torch.manual_seed(seed_for(self.config.seed, unit.key(self.digest)))
        device = self.config.device
        spec = get_method(unit.method)
        bits = spec.requested_weight_bits(self.config.weight_bits)
        if unit.kind == EQUIVALENCE:
            # OneSpike and IF converted from the quantized ANN's priced network, as the study's are
            quantized, _ = priced_form(parents[spec.parent], bits)
            return equivalence_unit(quantized, unit.steps, split.test, device)
        if unit.kind == ONESTEP:
            direct = self.direct.network(unit.arch, unit.method, unit.steps, unit.seed, split)
            summary, layers = onestep_measure(direct, batches(split.test))
            return {"summary": summary, "layers": layers}
        given = self._variant_input(unit, parents, split, bits)
        net, meta = variant_network(unit.variant, given)
        start = time.perf_counter()
        result = evaluate_and_count(net, split.test, unit.method, self.config.count_samples, device,
                                    {"arch": unit.arch, "variant": unit.variant, "data": self.config.data, **meta},
                                    labels=self.labels)
        result["seconds"] = time.perf_counter() - start
        result["deploy_form"] = meta.get("deploy_form", "")
        result["facts"] = self._facts(unit, given, meta.get("made", ""), result["accuracy"], split)
        return result

    def _can_build(self, unit: Unit, parents: dict) -> bool:
        """Whether ``unit``'s network can be built: a :data:`FINETUNED` unit needs its network
        fine-tuned from a trained parent, which a study given the quantized and binary weights but no
        ANN does not have (it is skipped, with a warning)."""
        if unit.variant != FINETUNED:
            return True
        spec = get_method(unit.method)
        source = unit.method if spec.trained else spec.parent
        if (source, unit.levels) in parents:
            return True
        parent = get_method(get_method(source).parent).short
        warnings.warn(f"{unit.arch}: {spec.display(unit.steps)} fine-tuned at L={unit.levels} (Q13's equal bits) is "
                      f"skipped: the {parent} it would be fine-tuned from is neither given nor trained in this study "
                      f"(give the {parent} checkpoint too to include it)", stacklevel=2)
        return False

    def _variant_input(self, unit: Unit, parents: dict, split: DataSplit, bits: int) -> VariantInput:
        """What ``unit``'s variant builds from: the trained network of the method (or of its parent,
        for a converted method), at the study's L or, for :data:`FINETUNED`, at the unit's."""
        spec = get_method(unit.method)
        source = unit.method if spec.trained else spec.parent
        levels = unit.levels if unit.variant == FINETUNED else self.config.levels
        if trained_by(unit.method) is not None:  # a directly trained SNN (T = steps) or its OneSpike form
            base = self.direct.network(unit.arch, unit.method, unit.steps, unit.seed, split)
            made = self.direct.made[(unit.arch, trained_by(unit.method), unit.steps, unit.seed)]
            return VariantInput(unit.method, unit.steps, unit.levels, levels, base, split.train, bits, made)
        base = parents[(source, levels)] if unit.variant == FINETUNED else parents[source]
        made = self.networks.made.get((unit.arch, source, levels, unit.seed), "") if self.networks else ""
        return VariantInput(unit.method, unit.steps, unit.levels, levels, base, split.train, bits, made)

    def _facts(self, unit: Unit, given: VariantInput, made: str, accuracy: float, split: DataSplit) -> dict[str, Any]:
        """The results columns a unit adds besides its ledger: ``weight_bits`` (the width its
        non-binary weights ran and are priced at), ``accuracy_float_weights`` (the same network with
        float weights; NaN outside :data:`FLOAT_REFERENCE_VARIANTS`), ``made`` (how it was made),
        ``chance_accuracy`` and ``working`` (more than :data:`WORKING_MARGIN` above chance)."""
        float_accuracy = accuracy
        if given.weight_bits < FLOAT_WEIGHT_BITS:
            float_accuracy = float("nan")
            if unit.variant in FLOAT_REFERENCE_VARIANTS:
                float_net, _ = variant_network(unit.variant, replace(given, weight_bits=FLOAT_WEIGHT_BITS))
                predicted = predict(float_net, split.test, self.config.device)
                right = sum(int(p == y) for p, y in zip(predicted, self.labels, strict=True))
                float_accuracy = right / len(self.labels)
        chance = 1.0 / split.num_classes
        return {"weight_bits": given.weight_bits, "accuracy_float_weights": float_accuracy, "made": made,
                "chance_accuracy": chance, "working": bool(accuracy > chance + WORKING_MARGIN)}

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> dict[str, pd.DataFrame]:
        cfg = self.config
        with self.timings.stage("data"):
            split = load_dataset(cfg.data, cfg.data_root, seed=cfg.seed, subset=cfg.subset)
        self.timings.threads = cfg.threads_for(split.image_size)
        with torch_threads(self.timings.threads):
            return self._run_in_folder(split)

    def _run_in_folder(self, split: DataSplit) -> dict[str, pd.DataFrame]:
        cfg = self.config
        self.networks = TrainedNetworks(cfg, self.cache, self.digest, self._epochs_done)
        self.direct = DirectNetworks(cfg, self.cache, self.digest, self.networks.given, self._epochs_done)
        with self.timings.stage("preflight"):
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
                with self.timings.stage("write tables"):
                    self.folder.write_tables(tables)
            distributed.barrier()
        finally:
            self.direct.stop_ahead()
            if self.helper is not None:
                self.helper.stop()
                self.helper = None
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
        flips: list[dict[str, Any]] = []
        self.labels = test_labels(split.test)
        # the per-architecture rows of the layer tables, Q14's and Q7's, joined in table order
        per_layer: dict[str, list[dict[str, Any]]] = {"layer_errors": [], "fidelity": [], "onestep": [],
                                                      "onestep_layers": [], "breakeven": [], "sweep": []}
        self.bar = tqdm(total=len(plan) + networks.total_epochs() + self.direct.total_epochs() + self._event_units(),
                        desc="study (training epochs + units)",
                        unit="step", disable=not self.progress or not distributed.is_main())
        items = [(seed, arch) for seed in cfg.seed_list for arch in cfg.archs]
        order: list[int] = list(range(len(items)))
        if len(items) > 1 and second_cpu(cfg.device, distributed.world_size()):
            order = self._largest_first(items, split)
            # the helper computes its items into the cache, where this process reads them back
            self.helper = SharedWork(order, lambda i: self._item(*items[i], plan, split, networks),
                                     prepare=self._quiet)
        # the directly trained SNNs need nothing else the study trains: on a second CPU, now
        # and Q15's event units, which need nothing else either, next in the same process
        self.direct.train_ahead(split, self.timings.threads, later=events_ahead(cfg, self.cache, self.digest))
        outputs: dict[int, dict[str, list]] = {}
        taken_by_helper = []
        for index in order:
            if self.helper is None or self.helper.claim(index):
                outputs[index] = self._item(*items[index], plan, split, networks)
            else:
                taken_by_helper.append(index)
        for index in taken_by_helper:
            with self.timings.stage("waiting for the helper"):
                self.helper.wait(index)
            outputs[index] = self._item(*items[index], plan, split, networks)  # read back from the cache
        for index in range(len(items)):  # in table order, whoever computed what
            out = outputs[index]
            units += out["units"]
            equivalence += out["equivalence"]
            flips += out["flips"]
            for name in per_layer:
                per_layer[name] += out[name]
        with self.timings.stage("events (Q15)"):
            events = event_rows(cfg, self.cache, self.digest, self.models, self.bar.update) if cfg.events else []
        self.bar.close()
        with self.timings.stage("pricing"):
            priced = priced_tables(units, self.models, self.alternatives)
        ledgers = priced.ledgers
        breakeven, sweep = pd.DataFrame(per_layer["breakeven"]), pd.DataFrame(per_layer["sweep"])
        generator = torch.Generator().manual_seed(seed_for(cfg.seed, "fidelity"))
        fidelity = pd.DataFrame(random_fidelity(cfg.timesteps, generator) + per_layer["fidelity"])
        predictions = predictions_frame(((unit.row(), outcome["predicted"]) for unit, outcome in units), self.labels)
        return {"results": priced.results, "layers": priced.layers, "sensitivity": priced.sensitivity,
                "warnings": priced.warnings, "hardware": hardware_table(self.models, self.hardware, self.alternatives),
                "equivalence": pd.DataFrame(equivalence),
                "level_flips": pd.DataFrame(flips), "predictions": predictions,
                "fidelity": fidelity, "worked_example": worked_example(),
                "layer_errors": pd.DataFrame(per_layer["layer_errors"]), "breakeven": breakeven, "sweep": sweep,
                "yan2024_targets": yan2024_targets(ledgers, cfg.archs, cfg.seed), "events": pd.DataFrame(events),
                "crosscheck": crosscheck_table(ledgers, self.models, cfg.seed),  # ZigZag vs weight_stationary
                **{name: pd.DataFrame(per_layer[name]) for name in ("onestep", "onestep_layers")}}

    def _event_units(self) -> int:
        """Q15's units: one per (event task, T, directly trained method)."""
        cfg = self.config
        return len(event_tasks(cfg)) * len(cfg.event_timesteps) * len(event_methods(cfg)) if cfg.events else 0

    def _item(self, seed: int, arch: str, plan: list[Unit], split: DataSplit, networks: TrainedNetworks
              ) -> dict[str, list]:
        """Everything of one (seed, architecture) the tables hold: its units with their outcomes, Q1's
        rows, Q14's rows and, for the first seed, Q4's and Q10's layer tables."""
        cfg = self.config
        out: dict[str, list] = {"units": [], "equivalence": [], "flips": [], "layer_errors": [], "fidelity": [],
                                "onestep": [], "onestep_layers": [], "breakeven": [], "sweep": []}
        parents = self._parents(seed, arch, split, networks)
        for unit, outcome in self._units(seed, arch, plan, parents, split):
            if unit.kind == EQUIVALENCE:
                ident = {"arch": arch, "T": unit.steps, "seed": seed}
                out["equivalence"].append({**ident, **{k: v for k, v in outcome.items() if k != "layers"}})
                out["flips"].extend({**ident, **row} for row in outcome.get("layers", []))
            elif unit.kind == ONESTEP:
                ident = {"arch": arch, "method": unit.method, "T": unit.steps, "seed": seed}
                out["onestep"].append({**ident, **outcome["summary"]})
                out["onestep_layers"].extend({**ident, **row} for row in outcome["layers"])
            else:
                out["units"].append((unit, outcome))
        # Q4 and Q10 measure the IF network against the quantized network it is converted from
        integrate = first_with_role(Role.TIME_CONVERSION, cfg.methods)
        layer_parent = get_method(integrate).parent if integrate else None
        if seed == cfg.seed and layer_parent is not None:
            with self.timings.stage("layer tables (Q4, Q10)"):
                bits = get_method(integrate).requested_weight_bits(cfg.weight_bits)
                # a cached unit like the others: resumable, and computed by whichever process has the arch
                rows = self.cache.unit(f"layers__{arch}__s{seed}__{self.digest}", lambda: self._layer_tables(
                    arch, priced_form(parents[layer_parent], bits)[0], split))
                out["layer_errors"] += rows["layer_errors"]
                out["fidelity"] += rows["fidelity"]
        if seed == cfg.seed:
            with self.timings.stage("break-even extras"):
                # priced rows: keyed by the pricing fields too (a resume with another --hardware re-prices)
                rows = self.cache.unit(f"breakeven__{arch}__s{seed}__p{cfg.pricing_digest()}__{self.digest}",
                                       lambda: self._breakeven(arch, seed, out["units"]))
                out["breakeven"] += rows["breakeven"]
                out["sweep"] += rows["sweep"]
        return out

    def _breakeven(self, arch: str, seed: int, units: list[tuple[Unit, dict[str, Any]]]) -> dict[str, list]:
        """Q7's break-even and sweep rows of ``arch`` from its own units' ledgers."""
        cfg = self.config
        ledgers = {unit: EventLedger.from_dict(outcome["ledger"]) for unit, outcome in units}
        breakeven, sweep = breakeven_rows(ledgers, self.hardware, [arch], seed, cfg.levels, cfg.breakeven_timesteps,
                                          cfg.sparsity_sweep, cfg.spike_event_sweep)
        return {"breakeven": breakeven, "sweep": sweep}

    def _largest_first(self, items: list[tuple[int, str]], split: DataSplit) -> list[int]:
        """The items' indices, the costliest architecture first (its measured training step)."""
        images = next(iter(batches(split.train, self.config.batch_size, self.config.batch_size)))[0]
        cost = {}
        with torch.random.fork_rng():  # the study's own random streams stay as they were
            for arch in dict.fromkeys(arch for _, arch in items):
                try:
                    net = self.networks.spec(arch).build(split.num_classes, split.in_channels, split.image_size)
                    cost[arch] = training_step_seconds(net, images)
                except Exception:  # only the order of work depends on it: a network that will not step
                    cost[arch] = 0.0  # here is refused, with its reason, where the study trains it
        return sorted(range(len(items)), key=lambda i: (-cost[items[i][1]], i))

    def _parents(self, seed: int, arch: str, split: DataSplit, networks: TrainedNetworks) -> dict:
        """The trained networks of ``arch`` (trained now or read back): method -> its network at the
        study's L; (method, L) -> the network fine-tuned at L."""
        parents: dict = {}
        for method in networks.build:
            self.bar.set_postfix_str(f"train {arch} {method}")
            with self.timings.stage(f"train {method}"):
                parents[method] = networks.network(arch, method, seed, split, parents)
        for method, levels in networks.finetuned:
            self.bar.set_postfix_str(f"train {arch} {method} L={levels}")
            with self.timings.stage(f"train {method} L={levels}"):
                parents[(method, levels)] = networks.network(arch, method, seed, split, parents, levels=levels)
        return parents

    def _units(self, seed: int, arch: str, plan: list[Unit], parents: dict, split: DataSplit
               ) -> Iterator[tuple[Unit, dict[str, Any]]]:
        """Every unit of ``arch`` and ``seed`` with its outcome (computed now or read back)."""
        for unit in (u for u in plan if u.arch == arch and u.seed == seed):
            if not self._can_build(unit, parents):
                self.bar.update(1)
                continue
            self.bar.set_postfix_str(unit.key(self.digest)[:48])
            compute = lambda unit=unit: self._compute(unit, parents, split)  # noqa: E731
            with self.timings.stage(f"units {unit.kind} {unit.method}"):
                outcome = self.cache.unit(unit.key(self.digest), compute)
            self.bar.update(1)
            yield unit, outcome

    def _quiet(self) -> None:
        """In the helper process (:class:`~analysis.study.ahead.SharedWork`): the progress bar is
        this study's, so the helper draws none."""
        self.bar = tqdm(disable=True)

    def _layer_tables(self, arch: str, quantized: nn.Module, split: DataSplit) -> dict[str, list]:
        """Q4 recorded currents (``fidelity``) and Q10 per-layer errors (``layer_errors``) of IF(T)
        against the quantized ANN, at every T of the study."""
        images, _ = next(iter(batches(split.test, LAYER_SAMPLES, LAYER_SAMPLES)))
        out: dict[str, list] = {"layer_errors": [], "fidelity": []}
        for steps in self.config.timesteps:
            snn = derive(Method.IF, quantized, steps)
            out["layer_errors"].extend(layer_errors(quantized, snn, images, arch))
            out["fidelity"].extend(recorded_fidelity(snn, images, arch))
        return out


# -- public entry points -----------------------------------------------------------------------
def run_study(config: StudyConfig, out: str | os.PathLike, force: bool = False,
              progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run (or resume) ``config`` into the run folder ``out``; returns the tables. The report is the
    next stage: ``analysis.report.write_report(out)`` (the CLI runs both)."""
    return Study(config, out, force=force, progress=progress).run()


def load_tables(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every table of a complete run folder (``results``, ``layers``, ...) as DataFrames."""
    return RunFolder(run_dir).read_tables()
