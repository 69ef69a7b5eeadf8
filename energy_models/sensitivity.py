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
- :func:`break_even_sparsity` solves E_snn(s) = E_qann for s in [0, 1] (Brent's method), Q7.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from energy_models.base import (
    SPIKING_METHODS,
    SYNAPTIC_KINDS,
    EnergyModel,
    dense_ops_per_step,
    spike_input,
)
from energy_models.ledger import EventLedger, LayerEvents


class BreakEven(NamedTuple):
    """The input spike sparsity at which the SNN costs what the quantized ANN costs (NaN if none),
    and why there is none."""

    sparsity: float
    reason: str


def _model(model: str | EnergyModel, **options: Any) -> EnergyModel:
    from energy_models.registry import get_model

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

    from energy_models.registry import _BUILTINS

    if model_name not in _BUILTINS:
        from energy_models.registry import get_model

        get_model(model_name)  # raises with a did-you-mean
    cls, fixed, _ = _BUILTINS[model_name]
    base = cls(name=model_name, **{**fixed, **options})
    rows = []
    for value in values:
        table = base.table.with_value(key, value)
        model = cls(table=table, name=model_name, **{**fixed, **options})
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
        data = layer.to_dict()
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
        elif layer.kind == "neuron" and (layer.output_spiking or ledger.method in SPIKING_METHODS):
            data["spikes"] = layer.neurons * layer.timesteps * layer.groups * rate
            if layer.output_elements > 0:
                data["output_nonzero"] = layer.output_elements * rate
        layers.append(LayerEvents.from_dict(data))
    return EventLedger(method=ledger.method, timesteps=ledger.timesteps, groups=ledger.groups,
                       samples=ledger.samples, layers=layers, unsupported=list(ledger.unsupported),
                       meta={**ledger.meta, "rescaled_input_sparsity": s})


def sweep_sparsity(ledger: EventLedger, model: str | EnergyModel, values: Sequence[float],
                   **options: Any) -> list[tuple[float, float]]:
    """``[(sparsity, energy_pj), ...]``: ``ledger`` priced at each input spike sparsity."""
    m = _model(model, **options)
    return [(float(s), m.price(at_sparsity(ledger, s)).total_pj) for s in values]


def break_even_sparsity(snn_ledger: EventLedger, qann_ledger: EventLedger, model: str | EnergyModel,
                        **options: Any) -> BreakEven:
    """The input spike sparsity s in [0, 1] at which ``snn_ledger`` (rescaled with
    :func:`at_sparsity`) costs as much as ``qann_ledger`` under ``model``: (s, "") or (NaN, reason)."""
    from scipy.optimize import brentq

    m = _model(model, **options)
    target = m.price(qann_ledger).total_pj

    def gap(s: float) -> float:
        return m.price(at_sparsity(snn_ledger, s)).total_pj - target

    dense, empty = gap(0.0), gap(1.0)
    if dense == 0.0:
        return BreakEven(0.0, "")
    if empty == 0.0:
        return BreakEven(1.0, "")
    if dense > 0 and empty > 0:
        return BreakEven(math.nan, f"the SNN costs more than the quantized ANN at every sparsity: even with no "
                                   f"input spikes it needs {empty + target:.4g} pJ vs {target:.4g} pJ "
                                   "(its fixed costs alone exceed the ANN's)")
    if dense < 0 and empty < 0:
        return BreakEven(math.nan, f"the SNN costs less than the quantized ANN at every sparsity: even with every "
                                   f"input spiking it needs {dense + target:.4g} pJ vs {target:.4g} pJ")
    return BreakEven(float(brentq(gap, 0.0, 1.0, xtol=1e-9, rtol=1e-12)), "")
