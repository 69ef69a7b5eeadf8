"""Counted units -> priced tables: everything the report needs about pricing, as tables of the run
folder (the only contract between study and report):

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
- Q7's ``breakeven``/``sweep``/``yan2024_targets``.

Every ledger is priced once per model (and alternative); nothing here runs a network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.methods import Method, Role, get_method, reference_method, with_role
from analysis.study.hardware import Alternative
from analysis.study.plan import EVAL, Unit
from analysis.study.variants import DEFAULT
from energy_models import EnergyModel, EnergyReport, EventLedger, get_model
from energy_models.sensitivity import break_even_sparsity, spike_event_energy_for_break_even, sweep_sparsity
from energy_models.yan2024 import REPORTED_TARGETS, REPORTED_TARGETS_MODEL, REPORTED_TARGETS_SOURCE
from energy_models.zigzag import is_zigzag_name, latency_cycles
from energy_models.zigzag.crosscheck import FLAG_RATIO, crosscheck_rows

__all__ = ["CROSSCHECK_REFERENCE", "PUBLISHED_BREAK_EVEN", "PricedTables", "breakeven_rows", "crosscheck_table",
           "layer_rows", "priced_tables",
           "spike_rate", "yan2024_targets"]

#: arXiv 2409.08290 (v4): a T = 5 SNN must fire below this average rate to beat the equivalent
#: ceil(log2(T+1))-bit QNN "under typical neuromorphic hardware conditions" (ENERGY_MODELS.md §6).
PUBLISHED_BREAK_EVEN = 0.057
#: Our analytical model that every ZigZag headline model is cross-checked against, layer by layer.
CROSSCHECK_REFERENCE = "weight_stationary"
#: Ledger layer kind of activations and spike generation (IF, PSG, QCFS, ReLU).
NEURON_KIND = "neuron"
#: Components that are logic rather than data movement.
LOGIC_COMPONENTS = ("compute", "neuron")
#: Layer facts stored as tuples in a ledger, written as one integer column per axis.
SHAPE_FACTS = {"in_shape": ("in", ("height", "width")), "out_shape": ("out", ("height", "width")),
               "kernel_size": ("kernel", ("height", "width")), "stride": ("stride", ("height", "width")),
               "padding": ("padding", ("height", "width"))}


def spike_rate(ledger: EventLedger) -> float:
    """Spikes per neuron per step over all spiking neuron layers (0 for non-spiking networks)."""
    spiking = [layer for layer in ledger.layers if layer.kind == NEURON_KIND and layer.output_spiking]
    denominator = sum(layer.neurons * layer.timesteps * layer.groups for layer in spiking)
    return sum(layer.spikes for layer in spiking) / denominator if denominator else 0.0


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


@dataclass
class PricedTables:
    """What :func:`priced_tables` returns: the tables and the ledgers by unit."""

    results: pd.DataFrame
    layers: pd.DataFrame
    sensitivity: pd.DataFrame
    warnings: pd.DataFrame
    ledgers: dict[Unit, EventLedger]


def priced_tables(units: Sequence[tuple[Unit, dict[str, Any]]], models: dict[str, EnergyModel],
                  alternatives: Sequence[Alternative] = ()) -> PricedTables:
    """Price every unit's ledger once under each headline model (``results``, ``warnings``) and once
    under each alternative (``sensitivity``)."""
    result_rows, layers, sensitivity_rows, warning_rows, ledgers = [], [], [], [], {}
    for unit, outcome in units:
        ledger = EventLedger.from_dict(outcome["ledger"])
        ledgers[unit] = ledger
        ident = unit.row()
        totals = ledger.totals()
        layers.extend(layer_rows(ident, ledger))
        shared = {"accuracy": outcome["accuracy"], "correct": outcome["correct"],
                  "test_samples": outcome["test_samples"], "latency_steps": ledger.timesteps, "groups": ledger.groups}
        facts = {**{f"ops_{event}": value for event, value in totals.items()},
                 # the MACs a zero-skipping model prices (zero inputs gated): the count Q2 sets beside ACs
                 "ops_mac_nonzero": ledger.total("mac_nonzero"), "spike_rate": spike_rate(ledger),
                 "nonfinite_values": ledger.total("nonfinite_values"), "deploy_form": outcome.get("deploy_form", "")}
        for name, model in models.items():
            report = model.price(ledger)
            result_rows.append({
                **ident, "hardware": name, **shared, **_energy_columns(report), **facts,
                # weight_bits, accuracy_float_weights, made, chance_accuracy, working (the runner's unit facts)
                **outcome.get("facts", {}),
                # what this pricing applied to this ledger (energy_models.APPLIED_KEYS): the conventions table's row
                **{f"convention_{key}": value for key, value in report.conventions.items()},
            })
            warning_rows += [{**ident, "hardware": name, "warning": text} for text in report.warnings]
        for alternative in alternatives:
            report = alternative.model.price(ledger)
            sensitivity_rows.append({**ident, "hardware": alternative.hardware, "alternative": alternative.name,
                                     "changes": alternative.changes,
                                     "options": json.dumps(alternative.options, sort_keys=True, default=str),
                                     **_energy_columns(report)})
    warning_columns = ["arch", "method", "T", "levels", "variant", "seed", "hardware", "warning"]
    return PricedTables(pd.DataFrame(result_rows), pd.DataFrame(layers), pd.DataFrame(sensitivity_rows),
                        pd.DataFrame(warning_rows, columns=warning_columns), ledgers)


def _find(ledgers: dict[Unit, EventLedger], **where: Any) -> EventLedger | None:
    for unit, ledger in ledgers.items():
        if unit.kind == EVAL and all(getattr(unit, key) == value for key, value in where.items()):
            return ledger
    return None


def breakeven_rows(ledgers: dict[Unit, EventLedger], hardware: Sequence[str], archs: Sequence[str],
                   seed: int, levels: int, breakeven_steps: int, sparsities: Sequence[float],
                   spike_event_values: Sequence[float]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Q7's rows for the first seed. ``breakeven``: per arch, SNN method and hardware model, the input
    spike sparsity at which the SNN costs what the quantized ANN with ceil(log2(T+1))-bit activations
    costs, and the per-spike overhead that would put it at the published 5.7%. ``sweep``: energy of
    SNN, QNN and float ANN as the input sparsity and the per-spike overhead vary. An architecture's
    rows need only its own ledgers (the study computes them per architecture, as a cached unit)."""
    rows, sweep_rows = [], []
    # each SNN against the quantized network it is converted from, with as many levels as its steps:
    # IF at the break-even T, OneSpike at G = L
    steps_of = {**dict.fromkeys(with_role(Role.TIME_CONVERSION), breakeven_steps),
                **dict.fromkeys(with_role(Role.GROUP_CONVERSION), levels)}
    for arch in archs:
        ann = _find(ledgers, arch=arch, method=reference_method(), seed=seed, variant=DEFAULT)
        pairs = {method: (_find(ledgers, arch=arch, method=method, steps=steps, seed=seed, variant=DEFAULT),
                          _find(ledgers, arch=arch, method=get_method(method).parent, levels=steps, seed=seed,
                                variant=DEFAULT))
                 for method, steps in steps_of.items()}
        for method, (snn, qnn) in pairs.items():
            if snn is None or qnn is None:
                continue
            steps = snn.timesteps * snn.groups
            for name in hardware:
                found = break_even_sparsity(snn, qnn, name)
                event = spike_event_energy_for_break_even(snn, qnn, name, target_rate=PUBLISHED_BREAK_EVEN)
                rows.append({"arch": arch, "method": method, "T": steps,
                             "qnn_act_bits": math.ceil(math.log2(steps + 1)), "hardware": name,
                             "break_even_sparsity": found.sparsity, "reason": found.reason,
                             "measured_spike_rate": spike_rate(snn),
                             "spike_event_pj_for_published": event.spike_event_pj, "spike_event_reason": event.reason,
                             "published_rate": PUBLISHED_BREAK_EVEN})
                for overhead in spike_event_values:
                    model = get_model(name, spike_event_pj=overhead)
                    qnn_pj = float(model.price(qnn).total_pj)
                    ann_pj = float(model.price(ann).total_pj) if ann is not None else float("nan")
                    for sparsity, energy in sweep_sparsity(snn, model, sparsities):
                        sweep_rows.append({"arch": arch, "method": method, "hardware": name,
                                           "spike_event_pj": float(overhead), "input_sparsity": sparsity,
                                           "snn_energy_pj": energy, "qnn_energy_pj": qnn_pj, "ann_energy_pj": ann_pj})
    return rows, sweep_rows


def yan2024_targets(ledgers: dict[Unit, EventLedger], archs: Sequence[str], seed: int) -> pd.DataFrame:
    """Q7: the break-even average spike rate of IF(T) against the ceil(log2(T+1))-bit QNN under
    ``yan2024`` with the weight width of each target arXiv 2409.08290 reports, beside it. A target
    our networks cannot be set to (a fan-in other than the architecture's) is a row with its reason."""
    quantized = get_method(Method.IF).parent
    rows = []
    for arch in archs:
        for case, steps, weight_bits, published in REPORTED_TARGETS:
            row = {"arch": arch, "case": case, "T": steps, "weight_bits": weight_bits, "published_rate": published,
                   "published_source": REPORTED_TARGETS_SOURCE}
            snn = _find(ledgers, arch=arch, method=Method.IF, steps=steps, seed=seed, variant=DEFAULT)
            qnn = _find(ledgers, arch=arch, method=quantized, levels=steps, seed=seed, variant=DEFAULT)
            if "fan-in" in case and "4096" not in case:
                rows.append({**row, "our_rate": float("nan"),
                             "note": "not modelled: the fan-in is the architecture's own, not a parameter"})
                continue
            if snn is None or qnn is None:
                rows.append({**row, "our_rate": float("nan"), "note": f"IF(T={steps}) not in this run"})
                continue
            found = break_even_sparsity(snn, qnn, get_model(REPORTED_TARGETS_MODEL, weight_bits=weight_bits))
            rate = 1.0 - found.sparsity if math.isfinite(found.sparsity) else float("nan")
            fan_in = f"fan-in as {arch} has it (per layer), not the reported one" if "fan-in" in case else ""
            rows.append({**row, "our_rate": rate, "note": found.reason or fan_in})
    return pd.DataFrame(rows)


def crosscheck_table(ledgers: dict[Unit, EventLedger], models: dict[str, EnergyModel], seed: int) -> pd.DataFrame:
    """Per layer of every default-variant ledger of ``seed``: :data:`CROSSCHECK_REFERENCE`'s energy beside
    each ZigZag headline model's, their ratio and, beyond :data:`~energy_models.zigzag.crosscheck.FLAG_RATIO`
    apart, the reason (empty when no ZigZag model is priced)."""
    mapped = {name: model for name, model in models.items() if is_zigzag_name(name)}
    if not mapped:
        return pd.DataFrame()
    reference = models.get(CROSSCHECK_REFERENCE) or get_model(CROSSCHECK_REFERENCE)
    rows = []
    for unit, ledger in ledgers.items():
        if unit.kind != EVAL or unit.variant != DEFAULT or unit.seed != seed:
            continue
        ours = reference.price(ledger)
        for name, model in mapped.items():
            ident = {**unit.row(), "reference": CROSSCHECK_REFERENCE, "hardware": name, "flag_ratio": FLAG_RATIO}
            rows += [{**ident, **row} for row in crosscheck_rows(ours, model.price(ledger))]
    return pd.DataFrame(rows)
