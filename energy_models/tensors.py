"""The tensors of a ledger that a model with a memory hierarchy stores, with their sizes and lifetimes,
and their placement (:mod:`energy_models.placement`): one list for every model and every method.

Per synaptic record ``i`` (conv/linear), at the widths the ledger records:

- ``weights``: every weight at ``weight_bits`` (persistent: weights outlive an inference);
- ``input``: the input map of one step at ``act_bits`` (1 for spikes), times the parallel groups that
  hold it at once (a layer's lifetime);
- ``output``: unless the record's current goes straight into a membrane update (fused), its output
  map, at the fused activation's width or as a stored pre-activation (partial sum), times the parallel
  groups (a layer's lifetime).

Per neuron record that spikes or keeps state: ``membrane``, one pre-activation per neuron at the
model's pre-activation width. It lives across the inference when the neuron runs several sequential
timesteps time-outer (every layer's membranes are held while the other layers run their steps), else
while the layer runs. Pooling and residual records: their ``input`` and ``output`` maps at their
stored widths (a layer's lifetime).
"""

from __future__ import annotations

from typing import Any

from energy_models.layer_facts import (
    SUMMING_KINDS,
    SYNAPTIC_KINDS,
    bits,
    consumer,
    feeds_membrane,
    fused_activation_bits,
    in_elements,
    out_elements,
    preactivation_bits,
    spike_input,
    stored_bits,
    weight_count,
)
from energy_models.ledger import EventLedger
from energy_models.placement import Hierarchy, Level, Tensor, place


def membrane_lifetime(ledger: EventLedger, index: int, if_dataflow: str | None) -> str:
    """``inference`` where neuron record ``index``'s membranes are read by later sequential steps
    while other layers run (it runs several timesteps, time-outer), else ``layer``."""
    steps = ledger.layers[index].timesteps
    return "inference" if steps > 1 and if_dataflow != "time_inner" else "layer"


def keeps_membrane(ledger: EventLedger, index: int) -> bool:
    """Whether record ``index`` is a neuron record that spikes or keeps membrane state."""
    layer = ledger.layers[index]
    return layer.kind == "neuron" and (layer.output_spiking or layer.vmem_reads + layer.vmem_writes > 0)


def consumer_index(ledger: EventLedger, index: int) -> int | None:
    """The index of the record :func:`~energy_models.layer_facts.consumer` finds for synaptic record ``index``."""
    after = consumer(ledger, index)
    return next((j for j, other in enumerate(ledger.layers) if other is after), None) if after is not None else None


def ledger_tensors(ledger: EventLedger, options: dict[str, Any], weight_bits: float,
                   act_bits: float) -> list[Tensor]:
    """Every stored tensor of ``ledger`` (see the module docstring) under a model's ``options``
    (``psum_bits``, ``fused_activation``, ``if_dataflow``); ``weight_bits``/``act_bits`` where a
    record gives no width."""
    psum, fused = options["psum_bits"], options["fused_activation"]
    out: list[Tensor] = []
    for i, layer in enumerate(ledger.layers):
        if layer.kind in SYNAPTIC_KINDS:
            a = 1.0 if spike_input(layer) else bits(layer.act_bits, act_bits)
            out.append(Tensor(i, "weights", weight_count(layer) * bits(layer.weight_bits, weight_bits), "persistent"))
            out.append(Tensor(i, "input", in_elements(layer) * a * layer.groups, "layer"))
            if not (feeds_membrane(ledger, i) and fused and layer.fused_into):
                width = fused_activation_bits(ledger, layer, fused) or preactivation_bits(layer, psum)
                out.append(Tensor(i, "output", out_elements(layer) * width * layer.groups, "layer"))
        elif keeps_membrane(ledger, i):
            source = producer(ledger, i)
            width = preactivation_bits(ledger.layers[source], psum) if source is not None else float(psum)
            out.append(Tensor(i, "membrane", max(layer.neurons, out_elements(layer)) * width,
                              membrane_lifetime(ledger, i, options.get("if_dataflow"))))
        elif layer.kind in SUMMING_KINDS:
            out.append(Tensor(i, "input", in_elements(layer) * stored_bits(ledger, i, "in", psum) * layer.groups,
                              "layer"))
            out.append(Tensor(i, "output", out_elements(layer) * stored_bits(ledger, i, "out", psum) * layer.groups,
                              "layer"))
    return out


def placement_plan(hierarchy: Hierarchy, ledger: EventLedger, options: dict[str, Any], weight_bits: float,
                   act_bits: float) -> dict[tuple[int, str], Level]:
    """``{(record index, role): level}`` of every stored tensor of ``ledger`` under ``options["placement"]``."""
    tensors = ledger_tensors(ledger, options, weight_bits, act_bits)
    levels = place(hierarchy, tensors, options["placement"])
    return {(t.layer, t.role): level for t, level in zip(tensors, levels, strict=True)}


def producer(ledger: EventLedger, index: int) -> int | None:
    """The synaptic record whose current neuron record ``index`` integrates (the nearest before it)."""
    for j in range(index - 1, -1, -1):
        if ledger.layers[j].kind in SYNAPTIC_KINDS:
            return j
    return None
