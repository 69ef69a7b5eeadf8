"""The result of pricing a ledger: pJ per inference, per layer, per component and per memory level.

Components say *what* moves or works, so reports of different hardware models line up column by
column (absent ones are zero):

=====================  ===========================================================================
``compute``            MACs, accumulates, crossbar reads, other arithmetic in the datapath
``weight_memory``      weights moved (buffers, register files, and their DRAM fetch)
``activation_memory``  activations/spikes read and written, partial sums of non-spiking layers
``membrane_memory``    membrane potentials (state carried between steps), wherever they are stored
``neuron``             threshold/LIF/PSG logic, ADCs and their multiplexers
``interconnect``       NoC, H-tree, inter-PE links, spike routing
=====================  ===========================================================================

The memory level is a second axis (:data:`LEVELS`): ``on_chip`` (buffers, scratchpads, register
files, crossbars) or ``dram`` (off-chip). Only the three memory components have a ``dram`` part:
membrane traffic that a model sends to DRAM is membrane energy at level ``dram``, not a component of
its own. :meth:`EnergyReport.by_component` sums the levels; :meth:`EnergyReport.by_component_and_level`
keeps them apart; :meth:`EnergyReport.results_row` gives the flat columns of a results table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from energy_models.checks import check_choice

COMPONENTS: tuple[str, ...] = (
    "compute",
    "weight_memory",
    "activation_memory",
    "membrane_memory",
    "neuron",
    "interconnect",
)
#: Memory levels: the second axis of a report.
LEVELS: tuple[str, ...] = ("on_chip", "dram")
#: Components that move data, so have a level other than ``on_chip``.
MEMORY_COMPONENTS: tuple[str, ...] = ("weight_memory", "activation_memory", "membrane_memory")
#: Every (component, level) pair a report can hold.
COMPONENT_LEVELS: tuple[tuple[str, str], ...] = tuple(
    (component, level) for component in COMPONENTS for level in LEVELS
    if level == "on_chip" or component in MEMORY_COMPONENTS
)
#: The pricing conventions a report prints where its model takes them (see :mod:`energy_models.conventions`).
CONVENTION_KEYS: tuple[str, ...] = ("zero_skipping", "fused_activation", "first_layer", "if_dataflow",
                                    "spike_event_pj", "psum_bits", "placement")


def results_columns() -> list[str]:
    """The energy columns of :meth:`EnergyReport.results_row`, in order: ``energy_pj``, one
    ``<component>_pj`` per component (all levels summed), one ``<component>_dram_pj`` per memory
    component (its DRAM part, included in ``<component>_pj``)."""
    return ["energy_pj", *(f"{c}_pj" for c in COMPONENTS), *(f"{c}_dram_pj" for c in MEMORY_COMPONENTS)]


@dataclass
class LayerCost:
    """Energy of one ledger layer, in pJ per inference, by component and level; ``details`` holds the
    counts the model derived (PE cycles, accesses, ...) so a reader can check the arithmetic, and
    ``applied`` the conventions this layer was priced under (see :mod:`energy_models.conventions`)."""

    name: str
    kind: str
    levels: dict[tuple[str, str], float] = field(default_factory=lambda: dict.fromkeys(COMPONENT_LEVELS, 0.0))
    details: dict[str, float] = field(default_factory=dict)
    applied: dict[str, Any] = field(default_factory=dict)

    def add(self, component: str, pj: float, level: str = "on_chip") -> None:
        """Charge ``pj`` to ``component`` at memory ``level`` (``on_chip`` or ``dram``)."""
        if component not in COMPONENTS:  # the check's message; a component name is a string, never a bool
            hint = " ('dram' is a memory level: add(component, pj, level='dram'))" if component == "dram" else ""
            check_choice("component", component, COMPONENTS, hint)
        if (component, level) not in self.levels:
            raise ValueError(f"layer {self.name!r}: {component} has no level {level!r}; levels: "
                             f"{', '.join(lv for c, lv in COMPONENT_LEVELS if c == component)}")
        pj = float(pj)
        if not math.isfinite(pj) or pj < 0:
            raise ValueError(f"layer {self.name!r}: {component} energy {pj!r} must be finite and >= 0")
        self.levels[(component, level)] += pj

    def record_psum(self, bits: float, values: float = 0.0, accesses: float = 0.0, dram_accesses: float = 0.0) -> None:
        """Note in ``applied`` a stored partial sum the pricing charged: its width, the values stored
        (positions, once per layer), and the on-chip and DRAM accesses (reads + writes) priced."""
        self._accumulate("psum", bits, values, accesses, dram_accesses)

    def record_membrane(self, bits: float, neurons: float, accesses: float, dram_accesses: float = 0.0) -> None:
        """Note in ``applied`` the membrane potentials the pricing charged: width, neurons, on-chip and
        DRAM accesses (reads + writes) priced."""
        self._accumulate("membrane", bits, neurons, accesses, dram_accesses)

    def _accumulate(self, what: str, bits: float, values: float, accesses: float, dram_accesses: float) -> None:
        self.applied["preactivation_bits"] = float(bits)
        for key, value in (("values", values), ("accesses", accesses), ("dram_accesses", dram_accesses)):
            name = f"{what}_{key}"
            self.applied[name] = self.applied.get(name, 0.0) + float(value)

    @property
    def components(self) -> dict[str, float]:
        """``{component: pJ}``, levels summed."""
        out = dict.fromkeys(COMPONENTS, 0.0)
        for (component, _), value in self.levels.items():
            out[component] += value
        return out

    @property
    def total_pj(self) -> float:
        return float(sum(self.levels.values()))


@dataclass
class EnergyReport:
    """Energy of one ledger under one hardware model (pJ per inference).

    ``conventions`` records what the pricing applied to this ledger (first-layer multiplier,
    zero-skipping of ACs and MACs, widths priced, stored pre-activation accesses, fusion, weight
    fetch): the rows of :func:`energy_models.conventions_table` are built from it."""

    model: str
    method: str
    layers: list[LayerCost]
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timesteps: int = 1
    groups: int = 1
    conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def total_pj(self) -> float:
        """Total energy per inference in pJ (the sum of every layer's components)."""
        return float(sum(layer.total_pj for layer in self.layers))

    def by_component(self) -> dict[str, float]:
        """``{component: pJ}`` over all layers and memory levels, every component of :data:`COMPONENTS` present."""
        out = dict.fromkeys(COMPONENTS, 0.0)
        for layer in self.layers:
            for name, value in layer.components.items():
                out[name] += value
        return out

    def by_component_and_level(self) -> dict[str, dict[str, float]]:
        """``{component: {level: pJ}}`` over all layers: every component with ``on_chip`` and, for the
        memory components, ``dram``. Summing the levels gives :meth:`by_component`."""
        out: dict[str, dict[str, float]] = {c: {} for c in COMPONENTS}
        for component, level in COMPONENT_LEVELS:
            out[component][level] = float(sum(layer.levels[(component, level)] for layer in self.layers))
        return out

    def by_level(self) -> dict[str, float]:
        """``{level: pJ}`` over all layers and components."""
        out = dict.fromkeys(LEVELS, 0.0)
        for layer in self.layers:
            for (_, level), value in layer.levels.items():
                out[level] += value
        return out

    def results_row(self) -> dict[str, float]:
        """The flat energy columns of a results table (see :func:`results_columns`)."""
        split = self.by_component_and_level()
        row = {"energy_pj": self.total_pj}
        row.update({f"{c}_pj": float(sum(split[c].values())) for c in COMPONENTS})
        row.update({f"{c}_dram_pj": split[c]["dram"] for c in MEMORY_COMPONENTS})
        return row

    def by_layer(self):
        """A DataFrame: one row per ledger layer (index ``layer``), one column per component, plus
        ``kind`` and ``total_pj``. Rows sum to :meth:`by_component`, ``total_pj`` to :attr:`total_pj`."""
        import pandas as pd

        rows = [{"layer": layer.name, "kind": layer.kind, **layer.components, "total_pj": layer.total_pj}
                for layer in self.layers]
        frame = pd.DataFrame(rows, columns=["layer", "kind", *COMPONENTS, "total_pj"])
        return frame.set_index("layer")

    def to_frame(self):
        """Long form for plots and CSV: one row per (layer, component, level) with ``energy_pj``
        (``level``: ``on_chip`` for every component, ``dram`` for the memory components)."""
        import pandas as pd

        rows = [
            {"model": self.model, "method": self.method, "index": i, "layer": layer.name, "kind": layer.kind,
             "component": component, "level": level, "energy_pj": layer.levels[(component, level)]}
            for i, layer in enumerate(self.layers)
            for component, level in COMPONENT_LEVELS
        ]
        return pd.DataFrame(rows, columns=["model", "method", "index", "layer", "kind", "component", "level",
                                           "energy_pj"])

    def details(self) -> dict[str, dict[str, float]]:
        """``{layer: {quantity: value}}``: the intermediate counts each layer was priced from."""
        return {layer.name: dict(layer.details) for layer in self.layers}

    def summary(self) -> str:
        """A few lines for a terminal: total, the pricing conventions, component shares, warnings."""
        total = self.total_pj
        parts = [f"{self.model} / {self.method}: {total:,.1f} pJ per inference"]
        options = self.provenance.get("options", {})
        shown = [f"{k}={options[k]}" for k in CONVENTION_KEYS if k in options]
        if shown:
            parts.append("  conventions: " + ", ".join(shown))
        split = self.by_component_and_level()
        for name, value in self.by_component().items():
            if value > 0:
                dram = split[name].get("dram", 0.0)
                where = f"  (DRAM {100 * dram / value:.0f}%)" if dram > 0 else ""
                parts.append(f"  {name:<18} {value:14,.1f} pJ  {100 * value / total if total else 0:5.1f}%{where}")
        parts.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"EnergyReport(model={self.model!r}, method={self.method!r}, total_pj={self.total_pj:.6g})"
