"""Sensitivity of a price to one constant or to the input spike sparsity, and break-even sparsity.

- :func:`sweep_constant` re-prices one ledger while a table constant takes each of ``values``
  (in the constant's own unit).
- :func:`at_sparsity` rescales a ledger's spike-driven events to a target input spike sparsity s
  (firing rate 1 - s): in every layer fed by spikes, ``ac``, ``weight_reads`` and ``input_reads``
  (spike reads) scale by (1 - s)/(1 - s_measured) and ``input_nonzero`` becomes
  ``input_elements x (1 - s)``; every spiking neuron record emits ``neurons x T x G x (1 - s)``
  spikes (and ``output_nonzero`` follows). A layer whose measured input had no spikes takes its
  dense op count x (1 - s). Dense costs (membrane updates, MACs of analog layers) are unchanged.
- :func:`sweep_sparsity` prices the ledger at each sparsity.
- :func:`break_even_sparsity` solves E_snn(s) = E_qann for s in [0, 1] (Brent's method on the first
  sign change of a 17-point scan), Q7. It reports "no crossing" (NaN with the reason) when the curves
  do not cross (one lies above the other at every sparsity: offset curves), and when the sign change
  is a jump of the price rather than a crossing (the gap at the bracketed root is not ~0).
- :func:`spike_event_energy_for_break_even`: the per-spike addressing/routing energy
  (``spike_event_pj``, which every built-in model takes) that puts the break-even spike rate at a
  target (e.g. 5.7%, arXiv 2409.08290 at T = 5), or NaN with the reason;
  :func:`sweep_spike_event_energy`: the break-even rate at each of several per-spike energies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from energy_models.base import EnergyModel
from energy_models.layer_facts import SYNAPTIC_KINDS, dense_ops_per_step, spike_input
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.registry import get_model, model_spec


class BreakEven(NamedTuple):
    """The input spike sparsity at which the SNN costs what the quantized ANN costs (NaN if none),
    and why there is none."""

    sparsity: float
    reason: str


def _model(model: str | EnergyModel, **options: Any) -> EnergyModel:
    if isinstance(model, str):
        return get_model(model, **options)
    if options:
        raise ValueError("options can only be given with a model name")
    return model


def sweep_constant(ledger: EventLedger, model_name: str, key: str, values: Iterable[float], **options: Any):
    """Price ``ledger`` under ``model_name`` with constant ``key`` set to each of ``values`` (in the
    constant's unit). Returns a DataFrame: ``value``, ``energy_pj`` and one ``<component>_pj`` column
    per component."""
    import pandas as pd

    spec = model_spec(model_name)  # a wrong name raises with a did-you-mean
    base = spec.build(**options)
    rows = []
    for value in values:
        table = base.table.with_value(key, value)
        model = spec.build(table=table, **options)
        report = model.price(ledger)
        rows.append({"value": float(value), "energy_pj": report.total_pj,
                     **{f"{c}_pj": v for c, v in report.by_component().items()}})
    return pd.DataFrame(rows)


def _check_sparsity(sparsity: float) -> float:
    s = float(sparsity)
    if not math.isfinite(s) or not 0.0 <= s <= 1.0:
        raise ValueError(f"sparsity = {sparsity!r}; expected a number in [0, 1]")
    return s


def at_sparsity(ledger: EventLedger, sparsity: float) -> EventLedger:
    """A copy of ``ledger`` with every spike-driven count rescaled to input spike sparsity ``sparsity``."""
    s = _check_sparsity(sparsity)
    rate = 1.0 - s
    layers: list[LayerEvents] = []
    for layer in ledger.layers:
        data: dict[str, float] = {}
        if layer.kind in SYNAPTIC_KINDS and spike_input(layer):
            measured = 1.0 - layer.input_sparsity if layer.input_elements > 0 else None
            if measured is not None and measured > 0:
                factor = rate / measured
                for name in ("ac", "weight_reads", "input_reads"):
                    data[name] = getattr(layer, name) * factor
            else:
                dense = dense_ops_per_step(layer) * layer.timesteps * layer.groups
                data["ac"] = dense * rate
                data["weight_reads"] = dense * rate
                if layer.input_reads > 0 or measured is not None:
                    data["input_reads"] = layer.input_elements * rate
            if layer.input_elements > 0:
                data["input_nonzero"] = layer.input_elements * rate
        elif layer.kind == "neuron" and layer.output_spiking:
            data["spikes"] = layer.neurons * layer.timesteps * layer.groups * rate
            if layer.output_elements > 0:
                data["output_nonzero"] = layer.output_elements * rate
        layers.append(replace(layer, **data) if data else layer)
    return EventLedger(method=ledger.method, timesteps=ledger.timesteps, groups=ledger.groups,
                       samples=ledger.samples, layers=layers, unsupported=list(ledger.unsupported),
                       meta={**ledger.meta, "rescaled_input_sparsity": s})


def sweep_sparsity(ledger: EventLedger, model: str | EnergyModel, values: Sequence[float],
                   **options: Any) -> list[tuple[float, float]]:
    """``[(sparsity, energy_pj), ...]``: ``ledger`` priced at each input spike sparsity."""
    m = _model(model, **options)
    return [(float(s), m.price(at_sparsity(ledger, s)).total_pj) for s in values]


#: Points of the scan that brackets the first crossing.
SCAN_POINTS = 17


def break_even_sparsity(snn_ledger: EventLedger, qann_ledger: EventLedger, model: str | EnergyModel,
                        **options: Any) -> BreakEven:
    """The input spike sparsity s in [0, 1] at which ``snn_ledger`` (rescaled with
    :func:`at_sparsity`) costs as much as ``qann_ledger`` under ``model``: (s, "") or (NaN, reason).

    The gap E_snn(s) - E_qann is scanned at 17 points; Brent's method refines the first sign change,
    and the root is accepted only if the gap there is ~0 (|gap| <= 1e-6 of the prices): a price that
    jumps across the QNN's is reported as "no crossing", as are curves offset at every sparsity."""
    from scipy.optimize import brentq

    m = _model(model, **options)
    target = m.price(qann_ledger).total_pj

    def gap(s: float) -> float:
        return m.price(at_sparsity(snn_ledger, s)).total_pj - target

    grid = [i / (SCAN_POINTS - 1) for i in range(SCAN_POINTS)]
    gaps = [gap(s) for s in grid]
    for s, g in zip(grid, gaps, strict=True):
        if g == 0.0:
            return BreakEven(s, "")
    if all(g > 0 for g in gaps):
        return BreakEven(math.nan, f"no crossing: the SNN costs more than the quantized ANN at every sparsity: even "
                                   f"with no input spikes it needs {gaps[-1] + target:.4g} pJ vs {target:.4g} pJ "
                                   "(its fixed costs alone exceed the ANN's)")
    if all(g < 0 for g in gaps):
        return BreakEven(math.nan, f"no crossing: the SNN costs less than the quantized ANN at every sparsity: even "
                                   f"with every input spiking it needs {gaps[0] + target:.4g} pJ vs {target:.4g} pJ")
    i = next(i for i in range(len(grid) - 1) if (gaps[i] > 0) != (gaps[i + 1] > 0))
    root = float(brentq(gap, grid[i], grid[i + 1], xtol=1e-10, rtol=1e-12))
    tolerance = 1e-6 * max(abs(target), max(abs(g) + abs(target) for g in gaps), 1e-300)
    if abs(gap(root)) > tolerance:
        return BreakEven(math.nan, f"no crossing: the SNN's price jumps across the quantized ANN's "
                                   f"({target:.4g} pJ) near sparsity {root:.6g} (a discontinuity, not a crossing)")
    return BreakEven(root, "")


class SpikeEventBreakEven(NamedTuple):
    """The per-spike energy (pJ) that puts the break-even at the target rate (NaN if none), and why none."""

    spike_event_pj: float
    reason: str


ModelFactory = Callable[[float], EnergyModel]


def _factory(model: str | ModelFactory, options: dict[str, Any]) -> ModelFactory:
    if isinstance(model, str):
        get_model(model, **options)  # a wrong name or option raises here
        return lambda pj: get_model(model, **{**options, "spike_event_pj": pj})
    if options:
        raise ValueError("options can only be given with a model name")
    if not callable(model):
        raise TypeError(f"model must be a model name or a factory spike_event_pj -> model, got {model!r}")
    return model


def spike_event_energy_for_break_even(snn_ledger: EventLedger, qann_ledger: EventLedger,
                                      model: str | ModelFactory, target_rate: float = 0.057,
                                      **options: Any) -> SpikeEventBreakEven:
    """The ``spike_event_pj`` (pJ per emitted spike) at which ``snn_ledger`` rescaled to input spike rate
    ``target_rate`` (sparsity 1 - rate) costs what ``qann_ledger`` costs under ``model`` (a name, priced
    with ``spike_event_pj`` set, or a factory ``pj -> model``): then the break-even rate is ``target_rate``.

    Prices are affine in ``spike_event_pj`` (it multiplies spike counts), so two pricings at 0 and 1 pJ
    give it exactly. None (NaN with the reason) when the SNN at that rate costs more than the QNN even
    at 0 pJ per spike, or when the ledgers hold no more spikes for the SNN than for the QNN."""
    rate = 1.0 - _check_sparsity(1.0 - float(target_rate))
    make = _factory(model, options)
    snn = at_sparsity(snn_ledger, 1.0 - rate)
    zero, one = make(0.0), make(1.0)
    s0, s1 = zero.price(snn).total_pj, one.price(snn).total_pj
    q0, q1 = zero.price(qann_ledger).total_pj, one.price(qann_ledger).total_pj
    slope = (s1 - s0) - (q1 - q0)
    if slope <= 0:
        return SpikeEventBreakEven(math.nan, f"none: at spike rate {rate:.4g} the SNN emits no more priced spikes "
                                             "than the QNN, so no per-spike energy moves the break-even")
    value = (q0 - s0) / slope
    if value < 0:
        return SpikeEventBreakEven(math.nan, f"none: at spike rate {rate:.4g} the SNN costs more than the QNN even "
                                             f"with 0 pJ per spike ({s0:.4g} vs {q0:.4g} pJ)")
    return SpikeEventBreakEven(value, "")


def sweep_spike_event_energy(snn_ledger: EventLedger, qann_ledger: EventLedger, model: str | ModelFactory,
                             values: Iterable[float], **options: Any) -> list[dict[str, Any]]:
    """The break-even at each per-spike energy of ``values`` (pJ): one dict per value with
    ``spike_event_pj``, ``break_even_sparsity``, ``break_even_rate`` (1 - sparsity) and ``reason``."""
    make = _factory(model, options)
    rows = []
    for pj in values:
        found = break_even_sparsity(snn_ledger, qann_ledger, make(float(pj)))
        rows.append({"spike_event_pj": float(pj), "break_even_sparsity": found.sparsity,
                     "break_even_rate": 1.0 - found.sparsity, "reason": found.reason})
    return rows
