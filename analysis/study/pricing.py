"""The pricing stage: counted units -> priced tables, after counting and apart from it. Everything
the report needs about pricing is a table of the run folder (the only contract between study and
report):

- ``results``: one row per (unit, headline hardware model): accuracy, energy per component (and its
  DRAM part), the energy of the neuron layers' logic, op totals, and the conventions the pricing
  applied (``convention_<key>``, :data:`energy_models.APPLIED_KEYS`; the conventions table of the
  report is these columns);
- ``sensitivity``: one row per (unit, headline model, alternative): the same ledger priced under
  each variant of the model's family and each alternative convention
  (:func:`~analysis.study.hardware.alternatives`), energy per component;
- ``warnings``: one row per (unit, headline model, warning);
- ``hardware``: each model's provenance (:func:`~analysis.study.hardware.hardware_table`);
- ``layers``: one row per (unit, layer), shapes as integer columns;
- ``crosscheck``: every ZigZag headline model beside :data:`CROSSCHECK_REFERENCE`, layer by layer;
- the break-even tables ``breakeven``/``sweep``/``yan2024_targets`` (:mod:`~analysis.study.breakeven`).

:class:`PricingStage` builds every model once (:class:`~analysis.study.hardware.ModelBook`: keyed by
the model's name and every option, so a model with other options is another model), reads each
ledger once, and prices each (ledger, model) once: a price asked for again (the cross-check's
reference, the break-even solver's quantized ANN, the sweep's ANN) is the one already made. Nothing
here runs a network; pricing is never cached, so a study resumed with other hardware re-prices all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from os import PathLike
from typing import Any

import pandas as pd

from analysis.study.breakeven import NEURON_KIND, PUBLISHED_BREAK_EVEN, breakeven_rows, spike_rate, yan2024_rows
from analysis.study.config import StudyConfig
from analysis.study.hardware import ModelBook, alternatives, hardware_table
from analysis.study.units import EVAL, Unit
from analysis.study.variants import DEFAULT
from energy_models import EnergyModel, EnergyReport, EventLedger, TableModel
from energy_models.conventions import effective_key, effective_ledger
from energy_models.sensitivity import at_sparsity
from energy_models.zigzag import is_zigzag_name, latency_cycles
from energy_models.zigzag.crosscheck import FLAG_RATIO, crosscheck_rows

__all__ = ["CROSSCHECK_REFERENCE", "PUBLISHED_BREAK_EVEN", "PricedModel", "PricingStage", "layer_rows", "spike_rate"]

#: Our analytical model that every ZigZag headline model is cross-checked against, layer by layer.
CROSSCHECK_REFERENCE = "weight_stationary"
#: Components that are logic rather than data movement.
LOGIC_COMPONENTS = ("compute", "neuron")
#: Layer facts stored as tuples in a ledger, written as one integer column per axis.
SHAPE_FACTS = {"in_shape": ("in", ("height", "width")), "out_shape": ("out", ("height", "width")),
               "kernel_size": ("kernel", ("height", "width")), "stride": ("stride", ("height", "width")),
               "padding": ("padding", ("height", "width"))}
#: The columns of the warnings table (also when it has no row).
WARNING_COLUMNS = ["arch", "method", "T", "levels", "variant", "seed", "hardware", "warning"]


def _spatial(values: Sequence[int], shape: bool) -> tuple[int, int]:
    """(height, width) of a per-sample shape (``shape``: the last two axes of a ``(C, H, W)`` map; a
    vector ``(C,)`` is 1 × 1, a sequence ``(C, L)`` is L × 1) or of a kernel, stride or padding fact
    (``(h, w)``; one value for both; 0 × 0 where the layer has none)."""
    values = [int(v) for v in values]
    if shape:
        return (values[-2], values[-1]) if len(values) >= 3 else (values[1], 1) if len(values) == 2 else (1, 1)
    if len(values) >= 2:
        return values[-2], values[-1]
    return (values[0], values[0]) if values else (0, 0)


def layer_rows(ident: dict[str, Any], ledger: EventLedger) -> list[dict[str, Any]]:
    """The layers-table rows of one ledger: every event, activity fact and layer fact, the shapes as
    integers (``in_height``, ``in_width``, ``out_height``, ..., ``kernel_height``, ...; a vector is
    1 × 1), never as ``"16x8x8"`` text."""
    rows = []
    for record, layer in zip(ledger.to_records(), ledger.layers, strict=True):
        for fact, (prefix, axes) in SHAPE_FACTS.items():
            record.pop(fact, None)
            if fact in ("in_shape", "out_shape") and len(getattr(layer, fact)) == 0:
                continue
            for axis, value in zip(axes, _spatial(getattr(layer, fact), fact.endswith("shape")), strict=True):
                record[f"{prefix}_{axis}"] = value
        rows.append({**ident, **record})
    return rows


def _energy_columns(report: EnergyReport) -> dict[str, float]:
    """energy_pj, <component>_pj, <memory component>_dram_pj, ``neuron_logic_pj``: the compute and
    neuron-logic energy of the neuron layers (spike generation, activations), memory excluded, and
    ``latency_cycles``: cycles per inference where the model provides them (ZigZag models), else NaN."""
    logic = sum(layer.components[c] for layer in report.layers if layer.kind == NEURON_KIND for c in LOGIC_COMPONENTS)
    cycles = latency_cycles(report)
    return {**report.results_row(), "neuron_logic_pj": float(logic),
            "latency_cycles": float("nan") if cycles is None else cycles}


def _by_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[sorted(frame.columns)]


class PricedModel:
    """A model of the stage's book whose prices of the stage's ledgers are made once and remembered
    (a ledger the stage does not hold, e.g. one rescaled by the break-even solver, is priced afresh)."""

    def __init__(self, model: EnergyModel, stage: PricingStage):
        self.model = model
        self._stage = stage

    def price(self, ledger: EventLedger) -> EnergyReport:
        return self._stage.price(ledger, self.model)


class PricingStage:
    """Prices a study's counted units under its ``hardware`` (headline model names) and their
    alternatives: each model built once (``book``, a :class:`~analysis.study.hardware.ModelBook`;
    ``cache_dir`` keeps a ZigZag model's mappings), each ledger read once, each (ledger, model) priced
    once. A bad model name fails here, before the study writes anything."""

    def __init__(self, hardware: Sequence[str], cache_dir: str | PathLike | None = None,
                 book: ModelBook | None = None):
        self.book = book if book is not None else ModelBook(cache_dir)
        self.hardware = list(hardware)
        self.models = {name: self.book.model(name) for name in self.hardware}
        # every headline model's variants and alternative conventions: the report's sensitivity section
        self.alternatives = [alt for name in self.hardware for alt in alternatives(name, self.book)]
        self._held: dict[int, EventLedger] = {}  # the ledgers whose prices are remembered (id -> ledger)
        self._reports: dict[tuple[int, int], EnergyReport] = {}
        self._rescaled: dict[tuple[int, float], EventLedger] = {}
        # the ledgers (held and rescaled) whose conventions applied are shared by the models that agree on them
        self._shared: dict[int, EventLedger] = {}
        self._effective: dict[tuple[int, tuple], tuple[EventLedger, list[dict[str, Any]], list[str]]] = {}
        #: how many prices were made, per (ledger id, model id): 1 each, for the stage's ledgers
        self.priced: dict[tuple[int, int], int] = {}

    # -- prices ------------------------------------------------------------------------------------
    @property
    def held(self) -> list[EventLedger]:
        """The ledgers whose prices the stage remembers (the counted units' ledgers it has read)."""
        return list(self._held.values())

    def hold(self, ledger: EventLedger) -> EventLedger:
        """Remember ``ledger``'s prices from now on (the stage's own ledgers)."""
        self._held[id(ledger)] = self._shared[id(ledger)] = ledger
        return ledger

    def price(self, ledger: EventLedger, model: EnergyModel, keep: bool = True) -> EnergyReport:
        """``model.price(ledger)``, made once for a held ledger (``keep=False``: a price no one asks
        for again, e.g. an alternative's, is not kept once made; one kept already is reused)."""
        if id(ledger) not in self._held:
            return self._priced(ledger, model)
        key = (id(ledger), id(model))
        if key in self._reports:
            return self._reports[key]
        report = self._priced(ledger, model)
        self.priced[key] = self.priced.get(key, 0) + 1
        if keep:
            self._reports[key] = report
        return report

    def _priced(self, ledger: EventLedger, model: EnergyModel) -> EnergyReport:
        """``model.price(ledger)``; for a ledger of the stage, the conventions applied to it
        (:func:`~energy_models.conventions.effective_ledger`) made once per set of convention options
        and shared by every model that has them."""
        if not isinstance(model, TableModel) or id(ledger) not in self._shared:
            return model.price(ledger)
        key = (id(ledger), effective_key(model.options))
        if key not in self._effective:
            said: list[str] = []
            effective, applied = effective_ledger(model.options, ledger, said)
            self._effective[key] = (effective, applied, said)
        return model.price(ledger, self._effective[key])

    def rescaled(self, ledger: EventLedger, sparsity: float) -> EventLedger:
        """``ledger`` at input spike sparsity ``sparsity`` (:func:`~energy_models.sensitivity.at_sparsity`),
        made once per (ledger, sparsity) for every model that prices it."""
        key = (id(ledger), float(sparsity))
        if key not in self._rescaled:
            rescaled = self._rescaled[key] = at_sparsity(ledger, sparsity)
            self._shared[id(rescaled)] = rescaled
        return self._rescaled[key]

    def model(self, name: str, **options: Any) -> PricedModel:
        """The book's model ``name`` with ``options``, its prices of held ledgers remembered."""
        return PricedModel(self.book.model(name, **options), self)

    # -- tables ------------------------------------------------------------------------------------
    def tables(self, units: Sequence[tuple[Unit, dict[str, Any]]], config: StudyConfig) -> dict[str, pd.DataFrame]:
        """Every priced table of the run (see the module docstring) from its counted ``units``."""
        return self.assemble([self.rows(units, config)])

    def rows(self, units: Sequence[tuple[Unit, dict[str, Any]]], config: StudyConfig,
             archs: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """The priced rows of ``units`` per table, and the break-even rows of ``archs`` (None: the
        study's) from their first-seed units: one part of :meth:`assemble`. The parts of the study's
        items (each (seed, architecture)'s units, the first seed's with its architecture), priced in
        either process and assembled in item order, are the tables of all units priced at once."""
        ledgers = self.read(units)
        first = {unit: ledger for unit, ledger in ledgers.items() if unit.seed == config.seed}
        breakeven, sweep = breakeven_rows(first, self, self.hardware, config, archs)
        return {**self.unit_rows(units, ledgers), "breakeven": breakeven, "sweep": sweep,
                "yan2024_targets": yan2024_rows(first, self, config, archs), "crosscheck": self._crosscheck(first)}

    def assemble(self, parts: Sequence[dict[str, list[dict[str, Any]]]]) -> dict[str, pd.DataFrame]:
        """The priced tables of :meth:`rows`' ``parts``, in order."""
        rows = {table: [row for part in parts for row in part[table]] for table in parts[0]} if parts else {}
        mapped = any(is_zigzag_name(name) for name in self.models)
        return {"results": pd.DataFrame(rows.get("results", [])), "layers": pd.DataFrame(rows.get("layers", [])),
                "sensitivity": pd.DataFrame(rows.get("sensitivity", [])),
                "warnings": pd.DataFrame(rows.get("warnings", []), columns=WARNING_COLUMNS),
                "hardware": hardware_table(self.models, self.hardware, self.alternatives),
                # columns in name order, as these two tables have always been written
                "breakeven": _by_name(pd.DataFrame(rows.get("breakeven", []))),
                "sweep": _by_name(pd.DataFrame(rows.get("sweep", []))),
                "yan2024_targets": pd.DataFrame(rows.get("yan2024_targets", [])),
                "crosscheck": pd.DataFrame(rows.get("crosscheck", [])) if mapped else pd.DataFrame()}

    def read(self, units: Sequence[tuple[Unit, dict[str, Any]]]) -> dict[Unit, EventLedger]:
        """Each unit's ledger, read from its outcome once and held (its prices remembered)."""
        return {unit: self.hold(EventLedger.from_dict(outcome["ledger"])) for unit, outcome in units}

    def unit_rows(self, units: Sequence[tuple[Unit, dict[str, Any]]], ledgers: dict[Unit, EventLedger]
                  ) -> dict[str, list[dict[str, Any]]]:
        """``results`` and ``warnings`` (headline models), ``sensitivity`` (alternatives) and ``layers``
        rows of ``units``."""
        result_rows, layers, sensitivity_rows, warning_rows = [], [], [], []
        for unit, outcome in units:
            ledger = ledgers[unit]
            ident = unit.row()
            totals = ledger.totals()
            layers.extend(layer_rows(ident, ledger))
            shared = {"accuracy": outcome["accuracy"], "correct": outcome["correct"],
                      "test_samples": outcome["test_samples"], "latency_steps": ledger.timesteps,
                      "groups": ledger.groups}
            facts = {**{f"ops_{event}": value for event, value in totals.items()},
                     # the MACs a zero-skipping model prices (zero inputs gated): the count set beside ACs
                     "ops_mac_nonzero": ledger.total("mac_nonzero"), "spike_rate": spike_rate(ledger),
                     "nonfinite_values": ledger.total("nonfinite_values"),
                     "deploy_form": outcome.get("deploy_form", "")}
            for name, model in self.models.items():
                report = self.price(ledger, model)
                result_rows.append({
                    **ident, "hardware": name, **shared, **_energy_columns(report), **facts,
                    # weight_bits, accuracy_float_weights, made, chance_accuracy, working (the unit's facts)
                    **outcome.get("facts", {}),
                    # what this pricing applied to this ledger (energy_models.APPLIED_KEYS): the conventions table's row
                    **{f"convention_{key}": value for key, value in report.conventions.items()},
                })
                warning_rows += [{**ident, "hardware": name, "warning": text} for text in report.warnings]
            for alternative in self.alternatives:
                report = self.price(ledger, alternative.model, keep=False)
                sensitivity_rows.append({**ident, "hardware": alternative.hardware, "alternative": alternative.name,
                                         "changes": alternative.changes,
                                         "options": json.dumps(alternative.options, sort_keys=True, default=str),
                                         **_energy_columns(report)})
        return {"results": result_rows, "layers": layers, "sensitivity": sensitivity_rows, "warnings": warning_rows}

    def _crosscheck(self, ledgers: dict[Unit, EventLedger]) -> list[dict[str, Any]]:
        """Per layer of every default-variant ledger: :data:`CROSSCHECK_REFERENCE`'s energy beside each
        ZigZag headline model's, their ratio and, beyond
        :data:`~energy_models.zigzag.crosscheck.FLAG_RATIO` apart, the reason (no row when no ZigZag
        model is priced)."""
        mapped = {name: model for name, model in self.models.items() if is_zigzag_name(name)}
        if not mapped:
            return []
        reference = self.book.model(CROSSCHECK_REFERENCE)
        rows = []
        for unit, ledger in ledgers.items():
            if unit.kind != EVAL or unit.variant != DEFAULT:
                continue
            ours = self.price(ledger, reference)
            for name, model in mapped.items():
                ident = {**unit.row(), "reference": CROSSCHECK_REFERENCE, "hardware": name, "flag_ratio": FLAG_RATIO}
                rows += [{**ident, **row} for row in crosscheck_rows(ours, self.price(ledger, model))]
        return rows
