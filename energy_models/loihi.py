"""``loihi``: per-event neuromorphic cost (Davies et al., IEEE Micro 2018, Table 2, 14 nm)::

    E = synops x 23.6 + active_updates x 81 + inactive_updates x 52
        + spikes x (1.7 + hops_per_spike x ((1 - ns) x 3.0 + ns x 4.0))          [pJ]

What is counted:

- synops (``compute``, includes the synaptic memory read): the ``ac`` of conv/linear records; the
  ``add`` of pool and residual records (sum-pooling and shortcuts are synapses on Loihi). A ``mac``
  (a multi-bit input: the first layer's pixels, a QNN's or an ANN's activations) reaches the synapse
  as a bit-plane code, one binary spike per bit of its width (at most ``input_code_bits`` = 8; a wider,
  floating-point input is quantised to 8 bits first, said in the warnings): ``act_bits`` synops per
  MAC, since Loihi 1 carries binary spikes only.
- neuron updates (``neuron``, includes the compartment state): ``neurons x timesteps x groups`` per
  neuron record; a fraction ``active_fraction`` (default 1: in a dense conv net nearly every neuron
  receives input every step) is active, the rest inactive. The record's own add/cmp/shift/... are
  part of the update cost (not priced twice), as are its membrane reads/writes.
- spikes (``interconnect``): every emitted spike costs the within-tile energy plus
  ``hops_per_spike`` tile hops (default 1, an explicit assumption), a fraction
  ``north_south_fraction`` (default 0.5) of them north-south.
- ``xnor`` (BNN): every +-1 input reaching a synapse is one synop (a -1 input is a spike into the
  negated weight; the popcount is the synop's accumulate, not priced twice): an assumption.
- ``zero_skipping`` (default True, event-driven): synops as counted, ``mac`` as ``mac_nonzero``;
  False: every input slot an event (dense synops).
- ``spike_event_pj`` replaces the per-spike routing energy above (default: 1.7 + hops x hop).

OneSpike: the G groups are parallel work in one timestep with no membrane carried between steps;
Loihi has no PSG unit, so PSG runs as G neuron updates (the exact equivalent: a soft-reset IF fed
the constant current for G steps), and the G spike maps are G times the synops and spikes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from energy_models.base import TableModel
from energy_models.conventions import convention_defaults
from energy_models.layer_facts import NEURON_OP_EVENTS, SUMMING_KINDS, SYNAPTIC_KINDS
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, fraction, nonneg
from energy_models.report import LayerCost

_IN_UPDATE = ("inside the per-update neuron energy (81 pJ active / 52 pJ inactive): the neuron's own logic "
              "(IF update, PSG's running sum, mask, shift, mul and mod) adds nothing per event")


class Loihi(TableModel):
    NAME = "loihi"
    TABLE = "loihi"
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = ("synop", "neuron_active", "neuron_inactive", "spike_in_tile", "hop_east_west", "hop_north_south",
                "hops_per_spike", "north_south_fraction", "input_code_bits")
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True)
    OPTIONS: ClassVar[dict[str, Option]] = {
        "hops_per_spike": Option("tile hops each spike crosses", FromTable("hops_per_spike"), nonneg),
        "north_south_fraction": Option("share of the hops that run north-south", FromTable("north_south_fraction"),
                                       fraction),
        "active_fraction": Option("share of neuron updates that are active", 1.0, fraction),
    }
    ZERO_BY_CONSTRUCTION: ClassVar[dict[str, str]] = {
        **{e: _IN_UPDATE for e in NEURON_OP_EVENTS if e != "add"},
        "vmem_reads": "the compartment state is inside the per-update neuron energy",
        "vmem_writes": "the compartment state is inside the per-update neuron energy",
        "popcount": "a binary layer's accumulate is its synop (priced per xnor)",
    }
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "per-event costs of Davies et al. 2018 Table 2 (pre-silicon): synop 23.6, neuron update 81 active / 52 "
        "inactive, spike 1.7 pJ in tile, tile hop 3.0 (E-W) / 4.0 (N-S) pJ",
        "tile hops per spike and their north-south share are explicit parameters (defaults 1 and 0.5)",
        "every neuron update is active unless active_fraction < 1",
        "BNN: each +-1 input reaching a synapse is one synop (xnor count); zero_skipping: mac priced as mac_nonzero",
        "multi-bit inputs (mac) sent as a bit-plane code: one synop per bit of the input's width, at most 8 (Loihi 1 "
        "carries binary spikes; wider inputs quantised to 8 bits, with a warning)",
        "OneSpike: G groups are parallel work in one timestep, no membrane carried; PSG runs as G neuron updates",
    )

    def zero_by_construction(self) -> dict[str, str]:
        # a neuron record's add is inside its update too; a pool's or residual's add is a synop (priced)
        return {**super().zero_by_construction(), "add": "of a neuron record: " + _IN_UPDATE
                + " (a pooling or residual add is a synop, priced)"}

    def spike_pj(self) -> float:
        t, ns = self.table, self.options["north_south_fraction"]
        hop = (1 - ns) * t.pj("hop_east_west") + ns * t.pj("hop_north_south")
        return t.pj("spike_in_tile") + self.options["hops_per_spike"] * hop

    def input_planes(self, layer: LayerEvents) -> float:
        """Binary spikes per multi-bit input: one per bit of its width (a bit-plane code), at most
        ``input_code_bits``; Loihi 1 carries binary spikes only."""
        cap = self.table.value("input_code_bits")
        return min(float(layer.act_bits) if layer.act_bits > 0 else cap, cap)

    def default_spike_event_pj(self) -> float:
        return self.spike_pj()

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        consumed: set[str] = set()
        if layer.kind in SYNAPTIC_KINDS or layer.kind in SUMMING_KINDS:
            planes = self.input_planes(layer) if layer.mac > 0 else 1.0
            synops = layer.ac + layer.mac * planes + layer.xnor + (layer.add if layer.kind in SUMMING_KINDS else 0.0)
            cost.add("compute", synops * t.pj("synop"))
            cost.details.update(synops=synops, input_bit_planes=planes)
            consumed |= {"ac", "mac", "xnor", "popcount", "weight_reads", "input_reads", "output_writes"}
            if layer.kind in SUMMING_KINDS:
                consumed.add("add")
            if layer.mac > 0:
                cost.applied["act_bits"] = f"{planes:g} bit-plane spike(s)"
                if layer.act_bits > t.value("input_code_bits"):
                    warnings.append(f"{self.name}: inputs wider than {t.value('input_code_bits'):g} bits (FP32 pixels "
                                    "or activations) are sent as an 8-bit bit-plane code; Loihi cannot run a "
                                    "floating-point layer as such")
        if layer.kind == "neuron":
            if not layer.output_spiking:
                warnings.append("loihi: ANN activation functions priced as neuron updates (Loihi has no graded "
                                "activations)")
            updates = layer.neurons * layer.timesteps * layer.groups
            active = updates * self.options["active_fraction"]
            cost.add("neuron", active * t.pj("neuron_active") + (updates - active) * t.pj("neuron_inactive"))
            cost.add("interconnect", layer.spikes * self.options["spike_event_pj"])
            cost.details.update(neuron_updates=updates, spikes=layer.spikes)
            consumed |= {"spikes", *NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "input_reads", "output_writes"}
        elif layer.spikes > 0:
            cost.add("interconnect", layer.spikes * self.options["spike_event_pj"])
            consumed.add("spikes")
        return consumed
