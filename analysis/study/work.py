"""The counting stage of a study, one (seed, architecture) at a time: its trained networks (trained
now or read back), each :class:`~analysis.study.units.Unit` of the plan evaluated and counted on the
network its variant builds (:mod:`~analysis.study.variants`), and the rows of every measure that
applies (:mod:`~analysis.study.measures`). Each unit and each per-architecture measure is a cached
value of the run (:class:`~analysis.study.cache.RunCache`) seeded from its own key, so an item is
computed by whichever process has it and read back by the others. Nothing here prices.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch
from tqdm.auto import tqdm

from analysis.data import DataSplit
from analysis.methods import get_method
from analysis.snn import FLOAT_WEIGHT_BITS
from analysis.study.ahead import training_step_seconds
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.direct import DirectNetworks, trained_by
from analysis.study.evaluate import batches, evaluate_and_count, predict
from analysis.study.measures import MEASURES, PER_ARCH, MeasureInput, measure_tables, taking_part
from analysis.study.speed import StageTimes
from analysis.study.trained import TrainedNetworks
from analysis.study.units import EVAL, Unit
from analysis.study.variants import DEFAULT, FINETUNED, VariantInput, variant_network

__all__ = ["FLOAT_REFERENCE_VARIANTS", "WORKING_MARGIN", "StudyWork", "largest_first", "run_payload"]

#: The variants whose network is also evaluated with float weights (``accuracy_float_weights``: what
#: quantizing the weights costs); NaN in the other variants' rows.
FLOAT_REFERENCE_VARIANTS = (DEFAULT, FINETUNED)
#: A network within this many points of chance accuracy (1 / classes) is not a working configuration
#: (``working`` = False): its energy is not a price anyone would pay.
WORKING_MARGIN = 0.10


class StudyWork:
    """Counts a study's units and computes its measures, per (seed, architecture) (:meth:`item`).
    ``bar``: the study's progress bar (a helper process draws none: :meth:`quiet`); ``labels``: the
    test set's labels, set by the study once the data is loaded."""

    def __init__(self, config: StudyConfig, digest: str, cache: RunCache, networks: TrainedNetworks,
                 direct: DirectNetworks, timings: StageTimes):
        self.config, self.digest, self.cache = config, digest, cache
        self.networks, self.direct, self.timings = networks, direct, timings
        self.bar: tqdm = tqdm(disable=True)
        self.labels: list[int] = []

    def quiet(self) -> None:
        """In a helper process (:class:`~analysis.study.ahead.SharedWork`): the progress bar is the
        study's, so the helper draws none."""
        self.bar = tqdm(disable=True)

    def item(self, seed: int, arch: str, plan: list[Unit], split: DataSplit, reverse: bool = False
             ) -> dict[str, list]:
        """Everything of one (seed, architecture) the tables hold: ``units`` (each counted unit with its
        outcome) and every measure's table rows (the per-architecture measures for the first seed).
        ``reverse``: work from the back (the per-architecture measures first, then the units and the
        networks made from the same parent, each backwards), as the study does on an item its helper
        works on from the front (:class:`~analysis.study.ahead.Claims`); the rows come out in the same
        order either way."""
        out: dict[str, list] = {"units": [], **{table: [] for table in measure_tables()}}
        parents = self.parents(seed, arch, split, reverse)
        measured = self.arch_measures(seed, arch, parents, split) if reverse else None
        for unit, outcome in self.units(seed, arch, plan, parents, split, reverse):
            if unit.kind == EVAL:
                out["units"].append((unit, outcome))
            else:
                for table, rows in MEASURES.get(unit.kind).rows(unit.row(), outcome).items():
                    out[table] += rows
        for table, rows in measured if measured is not None else self.arch_measures(seed, arch, parents, split):
            out[table] += rows
        return out

    def arch_measures(self, seed: int, arch: str, parents: dict, split: DataSplit) -> list[tuple[str, list]]:
        """``(table, rows)`` of every per-architecture measure of ``arch`` (the first seed's only)."""
        if seed != self.config.seed:
            return []
        out = []
        for measure, methods in taking_part(self.config, PER_ARCH):
            for method in methods:
                with self.timings.stage(f"{measure.name} {method}"):
                    given = MeasureInput(self.config, arch, method, 1, seed, parents, split, self.direct)
                    outcome = self.cache.unit(f"{measure.name}__{arch}__{method}__s{seed}__{self.digest}",
                                              lambda given=given, measure=measure: measure.compute(given))
                out += measure.rows({"arch": arch, "method": method, "seed": seed}, outcome).items()
        return out

    def parents(self, seed: int, arch: str, split: DataSplit, reverse: bool = False) -> dict:
        """The trained networks of ``arch`` (trained now or read back): method -> its network at the
        study's L; (method, L) -> the network fine-tuned at L. ``reverse``: the networks made from the
        same parent in reverse order (each parent still before what is made from it)."""
        networks = self.networks
        jobs: list[tuple[str, int | None]] = [(method, None) for method in networks.build] + list(networks.finetuned)

        def depth(method: str) -> int:
            parent = get_method(method).parent
            return 0 if parent is None else 1 + depth(parent)

        keys = [method if levels is None else (method, levels) for method, levels in jobs]
        ordered = sorted(range(len(jobs)), key=lambda i: (depth(jobs[i][0]), -i if reverse else i))
        parents: dict = {}
        for i in ordered:
            method, levels = jobs[i]
            label = method if levels is None else f"{method} L={levels}"
            self.bar.set_postfix_str(f"train {arch} {label}")
            with self.timings.stage(f"train {label}"):
                parents[keys[i]] = networks.network(arch, method, seed, split, parents, levels=levels)
        return {key: parents[key] for key in keys}  # in the jobs' order, whichever order they trained in

    def units(self, seed: int, arch: str, plan: list[Unit], parents: dict, split: DataSplit, reverse: bool = False
              ) -> Iterator[tuple[Unit, dict[str, Any]]]:
        """Every unit of ``arch`` and ``seed`` with its outcome (computed now or read back), in plan
        order (``reverse``: computed from the back)."""
        mine = [u for u in plan if u.arch == arch and u.seed == seed]
        outcomes: dict[int, dict[str, Any]] = {}
        for index in (reversed(range(len(mine))) if reverse else range(len(mine))):
            unit = mine[index]
            if not self.can_build(unit, parents):
                self.bar.update(1)
                continue
            self.bar.set_postfix_str(unit.key(self.digest)[:48])
            compute = lambda unit=unit: self.compute(unit, parents, split)  # noqa: E731
            with self.timings.stage(f"units {unit.kind} {unit.method}"):
                outcomes[index] = self.cache.unit(unit.key(self.digest), compute)
            self.bar.update(1)
        for index, unit in enumerate(mine):
            if index in outcomes:
                yield unit, outcomes[index]

    def compute(self, unit: Unit, parents: dict, split: DataSplit) -> dict[str, Any]:
        """One unit's outcome: a measure's, or the unit's network evaluated and counted."""
        torch.manual_seed(seed_for(self.config.seed, unit.key(self.digest)))
        if unit.kind != EVAL:
            given = MeasureInput(self.config, unit.arch, unit.method, unit.steps, unit.seed, parents, split,
                                 self.direct)
            return MEASURES.get(unit.kind).compute(given)
        bits = get_method(unit.method).requested_weight_bits(self.config.weight_bits)
        given = self.variant_input(unit, parents, split, bits)
        net, meta = variant_network(unit.variant, given)
        start = time.perf_counter()
        result = evaluate_and_count(net, split.test, unit.method, self.config.count_samples, self.config.device,
                                    {"arch": unit.arch, "variant": unit.variant, "data": self.config.data, **meta},
                                    labels=self.labels)
        result["seconds"] = time.perf_counter() - start
        result["deploy_form"] = meta.get("deploy_form", "")
        result["facts"] = self.facts(unit, given, meta.get("made", ""), result["accuracy"], split)
        return result

    def can_build(self, unit: Unit, parents: dict) -> bool:
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
        warnings.warn(f"{unit.arch}: {spec.display(unit.steps)} fine-tuned at L={unit.levels} (the equal-bits "
                      f"network) is skipped: the {parent} it would be fine-tuned from is neither given nor trained in "
                      f"this study (give the {parent} checkpoint too to include it)", stacklevel=2)
        return False

    def variant_input(self, unit: Unit, parents: dict, split: DataSplit, bits: int) -> VariantInput:
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
        made = self.networks.made.get((unit.arch, source, levels, unit.seed), "")
        return VariantInput(unit.method, unit.steps, unit.levels, levels, base, split.train, bits, made)

    def facts(self, unit: Unit, given: VariantInput, made: str, accuracy: float, split: DataSplit) -> dict[str, Any]:
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


def largest_first(items: list[tuple[int, str]], split: DataSplit, networks: TrainedNetworks,
                  batch_size: int) -> list[int]:
    """The items' indices, the costliest architecture first (its measured training step)."""
    images = next(iter(batches(split.train, batch_size, batch_size)))[0]
    cost = {}
    with torch.random.fork_rng():  # the study's own random streams stay as they were
        for arch in dict.fromkeys(arch for _, arch in items):
            try:
                net = networks.spec(arch).build(split.num_classes, split.in_channels, split.image_size)
                cost[arch] = training_step_seconds(net, images)
            except Exception:  # only the order of work depends on it: a network that will not step
                cost[arch] = 0.0  # here is refused, with its reason, where the study trains it
    return sorted(range(len(items)), key=lambda i: (-cost[items[i][1]], i))


def run_payload(config: StudyConfig, networks: TrainedNetworks, split: DataSplit) -> dict[str, Any]:
    """What a run folder records about its run when the study claims it: config, digest, each
    architecture's options and parameters, and the data."""
    models = {}
    for arch in config.archs:
        spec = networks.spec(arch)
        models[arch] = {"options": spec.options,
                        "parameters": spec.parameters(split.num_classes, split.in_channels, split.image_size)}
    return {"digest": config.digest(), "config": config.to_dict(), "models": models,
            "data": {"name": config.data, "image_size": split.image_size, "in_channels": split.in_channels,
                     "num_classes": split.num_classes, "train_samples": len(split.train),
                     "test_samples": len(split.test)}}
