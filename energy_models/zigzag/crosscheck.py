"""Cross-check of our analytical ``weight_stationary`` model against a ZigZag mapping, layer by layer.

For each layer of a ledger priced under both: the two energies, their ratio, and, where they differ
by more than :data:`FLAG_RATIO`, the reason: the component whose energy differs most between the two
(in pJ, with both values) and the modelling difference behind that component (:data:`WHY`).
"""

from __future__ import annotations

from typing import Any

from energy_models.report import COMPONENTS, EnergyReport

#: Layers whose energies differ by more than this factor (either way) are flagged with a reason.
FLAG_RATIO = 2.0

#: What differs between weight_stationary and a ZigZag mapping in each component.
WHY: dict[str, str] = {
    "weight_memory": "weights: ZigZag maps each layer standalone and fetches its weights from the template's top "
                     "memory (DRAM) for every run (every IF step), then through its weight RF per reuse the mapping "
                     "allows; weight_stationary keeps a network that fits its 108 KB GLB resident and reads each "
                     "weight from the PE register once per operation at 1x a MAC",
    "activation_memory": "activations and partial sums: ZigZag reads the layer's inputs from and writes its outputs to "
                         "DRAM and keeps partial sums in the PE's output register (read and written per MAC at the "
                         "template's per-access cost); weight_stationary keeps activations in the GLB and writes each "
                         "output once",
    "compute": "MACs: the template's MAC unit energy (width-scaled) against weight_stationary's 45 nm INT8 MAC; "
               "weight_stationary skips zero inputs, ZigZag computes dense",
    "membrane_memory": "membranes: placed in the template's smallest output memory that holds them against "
                       "weight_stationary's GLB (6x a MAC per 8 bits)",
    "neuron": "neuron logic: Horowitz adds at the membrane width on both, differing only by the width rule",
    "interconnect": "interconnect: weight_stationary's inter-PE hop per operation and per delivered input has no "
                    "separate ZigZag term (ZigZag folds data movement into its memory levels)",
}


def crosscheck_rows(reference: EnergyReport, mapped: EnergyReport) -> list[dict[str, Any]]:
    """One row per layer of two pricings of the same ledger: ``layer``, ``kind``, ``reference_pj``,
    ``zigzag_pj``, ``ratio`` (ZigZag over reference; NaN where the reference is 0), ``flagged`` (more
    than :data:`FLAG_RATIO` apart), ``component`` (the one differing most) with its energy under both,
    and ``reason`` (for a flagged layer: that component's energies and :data:`WHY` it differs)."""
    if [c.name for c in reference.layers] != [c.name for c in mapped.layers]:
        raise ValueError("cross-check: the two reports price different layers; price the same ledger under both")
    rows = []
    for ours, theirs in zip(reference.layers, mapped.layers, strict=True):
        a, b = ours.total_pj, theirs.total_pj
        if a <= 0 and b <= 0:
            continue
        ratio = b / a if a > 0 else float("nan")
        flagged = not (1 / FLAG_RATIO <= ratio <= FLAG_RATIO)
        ca, cb = ours.components, theirs.components
        component = max(COMPONENTS, key=lambda c: abs(cb[c] - ca[c]))
        reason = ""
        if flagged:
            reason = (f"{component} {cb[component]:.3g} pJ under ZigZag vs {ca[component]:.3g} pJ: "
                      f"{WHY.get(component, component)}")
        rows.append({"layer": ours.name, "kind": ours.kind, "reference_pj": a, "zigzag_pj": b, "ratio": ratio,
                     "flagged": flagged, "component": component, "component_reference_pj": ca[component],
                     "component_zigzag_pj": cb[component], "reason": reason})
    return rows
