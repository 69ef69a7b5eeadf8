"""Where an SNN's price meets the quantized ANN's (the tables ``breakeven``, ``sweep`` and
``yan2024_targets``), from ledgers already counted and models from the pricing stage.

Which SNNs are compared is read from the methods' roles (:class:`~analysis.methods.Role`, from their
properties), never from their names: a spiking conversion of a quantized network is compared with
that network at as many levels as its steps, one on T at the break-even T, one on G at G = L.
Nothing here builds a model or reads a ledger: :class:`~analysis.study.pricing.PricingStage` passes
``model(name, **options)``, its models built once and their prices of the run's ledgers remembered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from analysis.methods import Role, first_with_role, get_method, reference_method, with_role
from analysis.study.config import StudyConfig
from analysis.study.units import EVAL, Unit
from analysis.study.variants import DEFAULT
from energy_models import EnergyReport, EventLedger
from energy_models.sensitivity import break_even_sparsity, spike_event_energy_for_break_even
from energy_models.yan2024 import REPORTED_TARGETS, REPORTED_TARGETS_MODEL, REPORTED_TARGETS_SOURCE

__all__ = ["NEURON_KIND", "PUBLISHED_BREAK_EVEN", "Pricer", "Prices", "breakeven_rows", "compared_snns", "spike_rate",
           "yan2024_rows"]

#: arXiv 2409.08290 (v4): a T = 5 SNN must fire below this average rate to beat the equivalent
#: ceil(log2(T+1))-bit QNN "under typical neuromorphic hardware conditions" (ENERGY_MODELS.md §6).
PUBLISHED_BREAK_EVEN = 0.057
#: Ledger layer kind of activations and spike generation (IF, PSG, QCFS, ReLU).
NEURON_KIND = "neuron"


class Pricer(Protocol):
    """What the break-even solver prices with: a model's ``price``."""

    def price(self, ledger: EventLedger) -> EnergyReport: ...


class Prices(Protocol):
    """What the rows are computed from (:class:`~analysis.study.pricing.PricingStage`): ``model(name,
    **options)``, the model of that identity, and ``rescaled(ledger, sparsity)``, a ledger at another
    input spike sparsity (:func:`energy_models.sensitivity.at_sparsity`), each made once."""

    def model(self, name: str, **options: Any) -> Pricer: ...

    def rescaled(self, ledger: EventLedger, sparsity: float) -> EventLedger: ...


def spike_rate(ledger: EventLedger) -> float:
    """Spikes per neuron per step over all spiking neuron layers (0 for non-spiking networks)."""
    spiking = [layer for layer in ledger.layers if layer.kind == NEURON_KIND and layer.output_spiking]
    denominator = sum(layer.neurons * layer.timesteps * layer.groups for layer in spiking)
    return sum(layer.spikes for layer in spiking) / denominator if denominator else 0.0


def compared_snns(methods: Iterable[str], breakeven_steps: int, levels: int) -> dict[str, int]:
    """The SNN methods of ``methods`` compared with their quantized parent (also in ``methods``), each
    at its steps: a time conversion at ``breakeven_steps``, a group conversion at ``levels`` (G = L)."""
    methods = list(methods)
    steps_of = {**dict.fromkeys(with_role(Role.TIME_CONVERSION, methods), breakeven_steps),
                **dict.fromkeys(with_role(Role.GROUP_CONVERSION, methods), levels)}
    return {method: steps for method, steps in steps_of.items() if get_method(method).parent in methods}


def _find(ledgers: Mapping[Unit, EventLedger], **where: Any) -> EventLedger | None:
    for unit, ledger in ledgers.items():
        if unit.kind == EVAL and all(getattr(unit, key) == value for key, value in where.items()):
            return ledger
    return None


def breakeven_rows(ledgers: Mapping[Unit, EventLedger], prices: Prices, hardware: Sequence[str],
                   config: StudyConfig, archs: Sequence[str] | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The break-even rows for the first seed (``ledgers``: its counted units; ``archs``: of these
    architectures, None: the study's). ``breakeven``: per arch, SNN
    method (:func:`compared_snns`) and hardware model, the input spike sparsity at which the SNN costs
    what the quantized ANN with ceil(log2(T+1))-bit activations costs, and the per-spike overhead that
    would put it at the published 5.7%. ``sweep``: energy of SNN, QNN and float ANN as the input
    sparsity (``config.sparsity_sweep``) and the per-spike overhead (``config.spike_event_sweep``) vary."""
    rows, sweep_rows = [], []
    seed, model = config.seed, prices.model
    steps_of = compared_snns(config.methods, config.breakeven_timesteps, config.levels)
    for arch in config.archs if archs is None else archs:
        ann = _find(ledgers, arch=arch, method=reference_method(), seed=seed, variant=DEFAULT)
        for method, steps in steps_of.items():
            snn = _find(ledgers, arch=arch, method=method, steps=steps, seed=seed, variant=DEFAULT)
            qnn = _find(ledgers, arch=arch, method=get_method(method).parent, levels=steps, seed=seed,
                        variant=DEFAULT)
            if snn is None or qnn is None:
                continue
            steps = snn.timesteps * snn.groups
            for name in hardware:
                found = break_even_sparsity(snn, qnn, model(name))
                at = lambda pj, name=name: model(name, spike_event_pj=pj)  # noqa: E731
                event = spike_event_energy_for_break_even(snn, qnn, at, target_rate=PUBLISHED_BREAK_EVEN)
                rows.append({"arch": arch, "method": method, "T": steps,
                             "qnn_act_bits": math.ceil(math.log2(steps + 1)), "hardware": name,
                             "break_even_sparsity": found.sparsity, "reason": found.reason,
                             "measured_spike_rate": spike_rate(snn),
                             "spike_event_pj_for_published": event.spike_event_pj, "spike_event_reason": event.reason,
                             "published_rate": PUBLISHED_BREAK_EVEN})
                for overhead in config.spike_event_sweep:
                    priced = model(name, spike_event_pj=float(overhead))
                    qnn_pj = float(priced.price(qnn).total_pj)
                    ann_pj = float(priced.price(ann).total_pj) if ann is not None else float("nan")
                    # the SNN rescaled once per sparsity, whatever the model (sweep_sparsity's prices)
                    for sparsity in (float(s) for s in config.sparsity_sweep):
                        energy = priced.price(prices.rescaled(snn, sparsity)).total_pj
                        sweep_rows.append({"arch": arch, "method": method, "hardware": name,
                                           "spike_event_pj": float(overhead), "input_sparsity": sparsity,
                                           "snn_energy_pj": energy, "qnn_energy_pj": qnn_pj, "ann_energy_pj": ann_pj})
    return rows, sweep_rows


def yan2024_rows(ledgers: Mapping[Unit, EventLedger], prices: Prices, config: StudyConfig,
                 archs: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The break-even average spike rate of the study's time conversion (its first, the IF SNN where
    it is one of them) against the ceil(log2(T+1))-bit QNN under the model of arXiv
    2409.08290 with the weight width of each target it reports, beside it. A target our networks
    cannot be set to (a fan-in other than the architecture's) is a row with its reason. ``archs``: of
    these architectures (None: the study's)."""
    seed = config.seed
    snn_method = first_with_role(Role.TIME_CONVERSION, config.methods)
    rows = []
    for arch in config.archs if archs is None else archs:
        for case, steps, weight_bits, published in REPORTED_TARGETS:
            row = {"arch": arch, "case": case, "T": steps, "weight_bits": weight_bits, "published_rate": published,
                   "published_source": REPORTED_TARGETS_SOURCE}
            snn = qnn = None
            if snn_method is not None:
                snn = _find(ledgers, arch=arch, method=snn_method, steps=steps, seed=seed, variant=DEFAULT)
                qnn = _find(ledgers, arch=arch, method=get_method(snn_method).parent, levels=steps, seed=seed,
                            variant=DEFAULT)
            if "fan-in" in case and "4096" not in case:
                rows.append({**row, "our_rate": float("nan"),
                             "note": "not modelled: the fan-in is the architecture's own, not a parameter"})
                continue
            if snn is None or qnn is None:
                shown = get_method(snn_method).display(steps) if snn_method else f"a time-stepped SNN (T={steps})"
                rows.append({**row, "our_rate": float("nan"), "note": f"{shown} not in this run"})
                continue
            found = break_even_sparsity(snn, qnn, prices.model(REPORTED_TARGETS_MODEL, weight_bits=weight_bits))
            rate = 1.0 - found.sparsity if math.isfinite(found.sparsity) else float("nan")
            fan_in = f"fan-in as {arch} has it (per layer), not the reported one" if "fan-in" in case else ""
            rows.append({**row, "our_rate": rate, "note": found.reason or fan_in})
    return rows
