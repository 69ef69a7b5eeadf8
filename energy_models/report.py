"""The result of pricing a ledger: pJ per inference, per layer and per component.

Every report uses the same seven components (absent ones are zero), so reports of different
hardware models line up column by column:

=====================  ===========================================================================
``compute``            MACs, accumulates, crossbar reads, other arithmetic in the datapath
``weight_memory``      weight buffers and register files (on chip)
``activation_memory``  activations/spikes read and written, tile/input buffers (on chip)
``membrane_memory``    membrane potentials (or partial sums carried between steps) in on-chip memory
``neuron``             threshold/LIF/PSG logic, ADCs and their multiplexers
``interconnect``       NoC, H-tree, inter-PE links, spike routing
``dram``               off-chip memory traffic
=====================  ===========================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

COMPONENTS: tuple[str, ...] = (
    "compute",
    "weight_memory",
    "activation_memory",
    "membrane_memory",
    "neuron",
    "interconnect",
    "dram",
)


#: The shared pricing conventions a report prints (see :mod:`energy_models.conventions`).
CONVENTION_KEYS: tuple[str, ...] = ("zero_skipping", "fused_activation", "first_layer", "if_dataflow",
                                    "spike_event_pj")


@dataclass
class LayerCost:
    """Energy of one ledger layer, in pJ per inference, by component; ``details`` holds the counts
    the model derived (PE cycles, accesses, ...) so a reader can check the arithmetic."""

    name: str
    kind: str
    components: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0.0))
    details: dict[str, float] = field(default_factory=dict)

    def add(self, component: str, pj: float) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component {component!r} is not one of {COMPONENTS}")
        pj = float(pj)
        if not math.isfinite(pj) or pj < 0:
            raise ValueError(f"layer {self.name!r}: {component} energy {pj!r} must be finite and >= 0")
        self.components[component] += pj

    @property
    def total_pj(self) -> float:
        return float(sum(self.components.values()))


@dataclass
class EnergyReport:
    """Energy of one ledger under one hardware model (pJ per inference)."""

    model: str
    method: str
    layers: list[LayerCost]
    provenance: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timesteps: int = 1
    groups: int = 1

    @property
    def total_pj(self) -> float:
        """Total energy per inference in pJ (the sum of every layer's components)."""
        return float(sum(layer.total_pj for layer in self.layers))

    def by_component(self) -> dict[str, float]:
        """``{component: pJ}`` over all layers, every component of :data:`COMPONENTS` present."""
        out = dict.fromkeys(COMPONENTS, 0.0)
        for layer in self.layers:
            for name, value in layer.components.items():
                out[name] += value
        return out

    def by_layer(self):
        """A DataFrame: one row per ledger layer (index ``layer``), one column per component, plus
        ``kind`` and ``total_pj``. Rows sum to :meth:`by_component`, ``total_pj`` to :attr:`total_pj`."""
        import pandas as pd

        rows = [{"layer": layer.name, "kind": layer.kind, **layer.components, "total_pj": layer.total_pj}
                for layer in self.layers]
        frame = pd.DataFrame(rows, columns=["layer", "kind", *COMPONENTS, "total_pj"])
        return frame.set_index("layer")

    def to_frame(self):
        """Long form for plots and CSV: one row per (layer, component) with ``energy_pj``."""
        import pandas as pd

        rows = [
            {"model": self.model, "method": self.method, "index": i, "layer": layer.name, "kind": layer.kind,
             "component": name, "energy_pj": value}
            for i, layer in enumerate(self.layers)
            for name, value in layer.components.items()
        ]
        return pd.DataFrame(rows, columns=["model", "method", "index", "layer", "kind", "component", "energy_pj"])

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
        for name, value in self.by_component().items():
            if value > 0:
                parts.append(f"  {name:<18} {value:14,.1f} pJ  {100 * value / total if total else 0:5.1f}%")
        parts.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"EnergyReport(model={self.model!r}, method={self.method!r}, total_pj={self.total_pj:.6g})"
