"""The study: every method on the same trained weights, counted, priced and tabled.

:func:`run_study` validates everything (config, data, hardware models, the run folder) before it
writes anything, takes the folder's lock, then runs the stages in order: counting, one (seed,
architecture) at a time (:class:`~analysis.study.work.StudyWork`: each trained network once, each
:class:`~analysis.study.units.Unit` of the plan and each measure that applies), shared with a helper
process where a second CPU is free; the per-run measures; pricing (:class:`~analysis.study.pricing.
PricingStage`: every ledger once, under models built once); and writing the tables through
:class:`~analysis.run_folder.RunFolder`. This module only orchestrates.

Resumable by construction (:mod:`~analysis.study.cache`): a unit or trained network already in the
run's cache is read instead of recomputed, and each unit seeds torch from its own key.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from analysis.data import DataSplit, load_dataset
from analysis.run_folder import RunFolder
from analysis.study import distributed, preflight
from analysis.study.ahead import Claims, SharedWork, second_cpu
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.direct import DirectNetworks, for_model
from analysis.study.evaluate import predictions_frame, test_labels
from analysis.study.fidelity import random_fidelity, worked_example
from analysis.study.folder import FolderLock, claim_folder, prepare_folder
from analysis.study.hardware import headline_models
from analysis.study.measures import PER_RUN, measure_tables, taking_part, work_ahead
from analysis.study.plan import Unit, build_plan
from analysis.study.pricing import PricingStage
from analysis.study.speed import StageTimes, torch_threads
from analysis.study.trained import TrainedNetworks
from analysis.study.work import StudyWork, largest_first, run_payload

__all__ = ["Study", "hardware_names", "load_tables", "run_study", "seed_for"]


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
        # every model built now: a bad name fails before any write (a ZigZag model's mappings: the run's cache)
        self.pricing = PricingStage(hardware_names(config.hardware), self.folder.cache_dir)
        self.cache = RunCache(self.folder)
        #: wall and CPU seconds per stage of this run (``benchmarks/study_time.py`` prints them)
        self.timings = StageTimes()
        self.work: StudyWork | None = None
        #: the forked helper working through the architectures from the back, if one runs
        self.helper: SharedWork | None = None

    def run(self) -> dict[str, pd.DataFrame]:
        cfg = self.config
        with self.timings.stage("data"):
            split = load_dataset(cfg.data, cfg.data_root, seed=cfg.seed, subset=cfg.subset)
        self.timings.threads = cfg.threads_for(split.image_size)
        with torch_threads(self.timings.threads):
            return self._run_in_folder(split)

    def _run_in_folder(self, split: DataSplit) -> dict[str, pd.DataFrame]:
        cfg = self.config
        networks = TrainedNetworks(cfg, self.cache, self.digest, self._epochs_done)
        direct = DirectNetworks(cfg, self.cache, self.digest, networks.given, self._epochs_done)
        self.work = work = StudyWork(cfg, self.digest, self.cache, networks, direct, self.timings)
        with self.timings.stage("preflight"):
            preflight.check(cfg, split)  # the untrained networks convert and run: refuse now, not after training
        plan = build_plan(cfg)
        lock = FolderLock(self.folder)
        if distributed.is_main():
            lock.acquire()
        try:
            if distributed.is_main():
                claim_folder(self.folder, self.digest, run_payload(cfg, networks, split))
            distributed.barrier()
            run_units = sum(measure.units(cfg) for measure, _ in taking_part(cfg, PER_RUN))
            work.bar = tqdm(total=len(plan) + networks.total_epochs() + direct.total_epochs() + run_units,
                                  desc="study (training epochs + units)", unit="step",
                                  disable=not self.progress or not distributed.is_main())
            tables = self._stages(plan, split)
            if distributed.is_main():
                with self.timings.stage("write tables"):
                    self.folder.write_tables(tables)
            distributed.barrier()
        finally:
            direct.stop_ahead()
            if self.helper is not None:
                self.helper.stop()
                self.helper = None
            if self.cache.claims is not None:
                self.cache.claims.close()
                self.cache.claims = None
            work.bar.close()  # end the bar's line before any error is printed
            lock.release()
        return tables

    def _epochs_done(self, epochs: int) -> None:
        self.work.bar.update(epochs)  # a helper process's bar draws nothing (StudyWork.quiet)

    def _stages(self, plan: list[Unit], split: DataSplit) -> dict[str, pd.DataFrame]:
        """Counting (with the measures), then pricing: every table of the run."""
        cfg, work = self.config, self.work
        work.labels = test_labels(split.test)
        collected = self._count(plan, split)
        parts = collected.pop("items")
        units = collected.pop("units")
        for measure, _ in taking_part(cfg, PER_RUN):
            with self.timings.stage(measure.name):
                for table, rows in measure.compute(cfg, self.cache, self.digest, self.pricing.models,
                                                   work.bar.update).items():
                    collected[table] += rows
        work.bar.close()
        with self.timings.stage("pricing"):
            priced = self._price(parts)
        generator = torch.Generator().manual_seed(seed_for(cfg.seed, "fidelity"))
        collected["fidelity"] = random_fidelity(cfg.timesteps, generator) + collected["fidelity"]
        predictions = predictions_frame(((unit.row(), outcome["predicted"]) for unit, outcome in units), work.labels)
        return {**priced, **{table: pd.DataFrame(rows) for table, rows in collected.items()},
                "predictions": predictions, "worked_example": worked_example()}

    def _count(self, plan: list[Unit], split: DataSplit) -> dict[str, list]:
        """Every (seed, architecture)'s item (:meth:`StudyWork.item`), joined in table order; with a
        second CPU, a helper process computes items from the costliest architecture down into the
        cache, where this process reads them back."""
        cfg, work = self.config, self.work
        items = [(seed, arch) for seed in cfg.seed_list for arch in cfg.archs]
        order: list[int] = list(range(len(items)))
        if len(items) > 1 and second_cpu(cfg.device, distributed.world_size()):
            order = largest_first(items, split, work.networks, cfg.batch_size)
            # the pieces of an item (networks, units) either process may reach are done once
            self.cache.claims = claims = Claims(self.timings)

            def prepare() -> None:
                work.quiet()
                claims.join(lambda: True)  # the helper ends with the study

            self.helper = SharedWork(order, lambda i: work.item(*items[i], plan, split), prepare=prepare,
                                     steal=lambda i: work.item(*items[i], plan, split, reverse=True))
            claims.join(self.helper.process.is_alive)
        # the directly trained SNNs need nothing else the study trains: on a second CPU, now
        # and the per-run measures' units, which need nothing else either, next in the same process
        work.direct.train_ahead(split, self.timings.threads, later=work_ahead(cfg, self.cache, self.digest))
        outputs: dict[int, dict[str, list]] = {}
        taken_by_helper = []
        for index in order:
            if self.helper is None or self.helper.claim(index):
                outputs[index] = work.item(*items[index], plan, split)
                if self.helper is not None:
                    self.helper.done[index] = 1
            else:
                taken_by_helper.append(index)
        for index in taken_by_helper:  # from the back, beside the helper: the two end together
            outputs[index] = work.item(*items[index], plan, split, reverse=True)
        collected: dict[str, list] = {"units": [], **{table: [] for table in measure_tables()}}
        for index in range(len(items)):  # in table order, whoever computed what
            for table, rows in outputs[index].items():
                collected[table] += rows
        collected["items"] = [(*items[index], outputs[index]["units"]) for index in range(len(items))]
        return collected

    def _price(self, items: list[tuple[int, str, list]]) -> dict[str, pd.DataFrame]:
        """The priced tables of ``items`` (seed, architecture, its counted units), in their order: with a
        second CPU, a forked helper prices items from the back while this process prices them from
        the front (pricing runs no network and is a third of what remains once counting ends), each
        item's rows handed over in a file (pickled: the same values) and assembled in item order."""
        cfg, pricing = self.config, self.pricing

        def part(index: int) -> dict[str, list]:
            seed, arch, units = items[index]
            return pricing.rows(units, cfg, archs=[arch] if seed == cfg.seed else [])

        if len(items) < 2 or not second_cpu(cfg.device, distributed.world_size()):
            return pricing.tables([unit for *_, units in items for unit in units], cfg)
        folder = Path(tempfile.mkdtemp(prefix="onespike-prices-"))

        def save(index: int) -> None:
            path = folder / f"{index}.pkl"
            path.with_suffix(".tmp").write_bytes(pickle.dumps(part(index)))
            path.with_suffix(".tmp").replace(path)

        helper = SharedWork(list(reversed(range(len(items)))), save)
        try:
            parts, theirs = {}, []
            for index in range(len(items)):
                if helper.claim(index):
                    parts[index] = part(index)
                else:
                    theirs.append(index)
            for index in theirs:
                with self.timings.stage(Claims.WAITING):
                    helper.wait(index)
                path = folder / f"{index}.pkl"
                parts[index] = pickle.loads(path.read_bytes()) if helper.done[index] else part(index)
        finally:
            helper.stop()
            shutil.rmtree(folder, ignore_errors=True)
        return pricing.assemble([parts[index] for index in range(len(items))])


# -- public entry points -----------------------------------------------------------------------
def run_study(config: StudyConfig, out: str | os.PathLike, force: bool = False,
              progress: bool = True) -> dict[str, pd.DataFrame]:
    """Run (or resume) ``config`` into the run folder ``out``; returns the tables. The report is the
    next stage: ``analysis.report.write_report(out)`` (the CLI runs both)."""
    return Study(config, out, force=force, progress=progress).run()


def load_tables(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every table of a complete run folder (``results``, ``layers``, ...) as DataFrames."""
    return RunFolder(run_dir).read_tables()
