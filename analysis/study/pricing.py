"""Counted units -> priced tables: ``results``, ``layers`` and the Q7 ``breakeven``/``sweep``.

Every ledger is priced under every hardware model of the study; nothing here runs a network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.methods import Method, get_method, reference_method
from analysis.study.plan import EVAL, Unit
from analysis.study.variants import DEFAULT
from energy_models import EnergyModel, EventLedger, get_model
from energy_models.sensitivity import break_even_sparsity, spike_event_energy_for_break_even, sweep_sparsity
from energy_models.yan2024 import REPORTED_TARGETS, REPORTED_TARGETS_SOURCE

__all__ = ["PUBLISHED_BREAK_EVEN", "breakeven_tables", "priced_tables", "spike_rate", "yan2024_targets"]

#: arXiv 2409.08290 (v4): a T = 5 SNN must fire below this average rate to beat the equivalent
#: ceil(log2(T+1))-bit QNN "under typical neuromorphic hardware conditions" (ENERGY_MODELS.md §6).
PUBLISHED_BREAK_EVEN = 0.057


def spike_rate(ledger: EventLedger) -> float:
    """Spikes per neuron per step over all spiking neuron layers (0 for non-spiking networks)."""
    spiking = [layer for layer in ledger.layers if layer.kind == "neuron" and layer.output_spiking]
    denominator = sum(layer.neurons * layer.timesteps * layer.groups for layer in spiking)
    return sum(layer.spikes for layer in spiking) / denominator if denominator else 0.0


def priced_tables(units: Sequence[tuple[Unit, dict[str, Any]]],
                  models: dict[str, EnergyModel]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """``(results, layers, ledgers)``: one results row per (unit, hardware model), one layers row
    per (unit, layer), and the ledgers by unit."""
    result_rows, layer_rows, ledgers = [], [], {}
    for unit, outcome in units:
        ledger = EventLedger.from_dict(outcome["ledger"])
        ledgers[unit] = ledger
        ident = unit.row()
        totals = ledger.totals()
        layer_rows.extend({**ident, **record} for record in ledger.to_records())
        for name, model in models.items():
            report = model.price(ledger)
            result_rows.append({
                **ident,
                "hardware": name,
                "accuracy": outcome["accuracy"],
                "correct": outcome["correct"],
                "test_samples": outcome["test_samples"],
                "latency_steps": ledger.timesteps,
                "groups": ledger.groups,
                **report.results_row(),  # energy_pj, <component>_pj (all levels), <memory component>_dram_pj
                **{f"ops_{event}": value for event, value in totals.items()},
                "spike_rate": spike_rate(ledger),
                "nonfinite_values": ledger.total("nonfinite_values"),
                "deploy_form": outcome.get("deploy_form", ""),
                # weight_bits, accuracy_float_weights, made, chance_accuracy, working (the runner's unit facts)
                **outcome.get("facts", {}),
                "warnings": " | ".join(report.warnings),
                # what this pricing applied to this ledger (energy_models.APPLIED_KEYS): the conventions table's row
                **{f"convention_{key}": value for key, value in report.conventions.items()},
            })
    return pd.DataFrame(result_rows), pd.DataFrame(layer_rows), ledgers


def _find(ledgers: dict[Unit, EventLedger], **where: Any) -> EventLedger | None:
    for unit, ledger in ledgers.items():
        if unit.kind == EVAL and all(getattr(unit, key) == value for key, value in where.items()):
            return ledger
    return None


def breakeven_tables(ledgers: dict[Unit, EventLedger], hardware: Sequence[str], archs: Sequence[str],
                     seed: int, levels: int, breakeven_steps: int, sparsities: Sequence[float],
                     spike_event_values: Sequence[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Q7 for the first seed. ``breakeven``: per arch, SNN method and hardware model, the input
    spike sparsity at which the SNN costs what the quantized ANN with ceil(log2(T+1))-bit activations
    costs, and the per-spike overhead that would put it at the published 5.7%. ``sweep``: energy of
    SNN, QNN and float ANN as the input sparsity and the per-spike overhead vary."""
    rows, sweep_rows = [], []
    # each SNN against the quantized network it is converted from, with as many levels as its steps:
    # IF at the break-even T, OneSpike at G = L
    steps_of = {Method.IF: breakeven_steps, Method.ONESPIKE: levels}
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
    return pd.DataFrame(rows), pd.DataFrame(sweep_rows)


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
            found = break_even_sparsity(snn, qnn, get_model("yan2024", weight_bits=weight_bits))
            rate = 1.0 - found.sparsity if math.isfinite(found.sparsity) else float("nan")
            fan_in = f"fan-in as {arch} has it (per layer), not the reported one" if "fan-in" in case else ""
            rows.append({**row, "our_rate": rate, "note": found.reason or fan_in})
    return pd.DataFrame(rows)
