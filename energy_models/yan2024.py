"""``yan2024``: SNN(T) vs a ceil(log2(T+1))-bit QNN, priced for computation *and* data movement, after
Yan, Bai, Tang, Wong, arXiv 2409.08290 (v4) as summarised in ENERGY_MODELS.md §6 (the paper's body
could not be read here; constants from the summary are labelled so in the table).

What is counted, per inference (all per sample, T x G steps as recorded):

- synaptic layers (``compute``): every spike-driven accumulate ``ac`` x E_acc (0.054 pJ); every MAC
  x E_MAC(w, b) = E_acc x (1 + E_mult45(w x b) / E_add45(16)), the multiplier/adder ratio of
  Horowitz's 45 nm table (a labelled default: the summary gives no MAC energy); bias adds x E_acc;
  BNN ``xnor``/``popcount`` bits x E_acc / 16 each (a 1-bit slice of the 16-bit accumulate).
  ``zero_skipping`` (default True): MACs only where the activation is non-zero (``mac_nonzero``: the
  QNN's factor 1 - gamma); spikes are events either way unless ``zero_skipping=False`` (dense).
- weight reads (``weight_memory``): one weight of ``weight_bits`` per synaptic operation (the SNN
  reads a weight per input spike per synapse it reaches; the QNN per non-zero activation per
  synapse), x ``sram_per_bit``.
- data movement (``interconnect``): a spike is one sparse event costing E_s (3.0 pJ) per NoC hop:
  ``spikes x spike_event_pj`` (default E_s x ``hops_per_transfer``; ``spike_move="dram"``, model
  ``yan2024_dram``: one 64-bit DRAM read per spike, 1300 pJ). A non-spiking activation (QNN, ANN,
  BNN output) moves densely as ``out_bits`` bits at E_d (0.25 pJ) per bit per hop, every output
  value of every step, zeros included. With ``fused_activation`` (default) the activation leaves
  the PE at its own width (ceil(log2(L+1)) for a QNN); without, a synaptic layer's pre-activation
  also moves (``psum_bits`` x E_d per value) and the activation or neuron reads it from SRAM
  (spiking or not alike). A QNN's partial sum moved before pooling is ``psum_bits`` wide too.
- membrane (``membrane_memory``): each membrane read and write of a spiking neuron record, of
  ``psum_bits``, x ``sram_per_bit`` (``if_dataflow="time_inner"``: once per neuron per inference).
  ``psum_bits`` (default 16, the width of the E_acc accumulate) is the one width of a stored or
  moved pre-activation, a QNN's partial sum as an SNN's membrane.
- neuron records (``neuron``): add/cmp/shift/mask x E_acc; mul/mod x E_mult at the record's width
  (its ``vmem_bits``, else ``min(act_bits, 16)``). The multiplier/adder ratio comes from Horowitz's
  curves (:mod:`energy_models.horowitz`), read once when the model is made.
- not priced (the same for every method): the network input's movement; pooling adds at E_acc.

The summary's bounds (Thm 2) and compute-only limit follow from these counts; nothing is fitted to its
5.7% break-even. OneSpike: G groups are parallel work in one timestep; its membrane is read and
written once per neuron (as counted) and every group's spikes are events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from energy_models.base import TableModel, psum_option
from energy_models.conventions import convention_defaults
from energy_models.horowitz import horowitz_45nm
from energy_models.layer_facts import (
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    feeds_membrane,
    out_elements,
    preactivation_bits,
    stored_bits,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, bit_width, choice, nonneg
from energy_models.report import LayerCost

#: The break-even spike rates the summary of arXiv 2409.08290 v4 reports (ENERGY_MODELS.md §6), for a
#: study to print beside its own (they are targets to compare with, never used in pricing):
#: ``(condition, timesteps, weight_bits, break-even spike rate)``.
REPORTED_TARGETS: tuple[tuple[str, int, int, float], ...] = (
    ("typical neuromorphic, fan-in 4096", 5, 4, 0.057),
    ("fan-in 64", 5, 4, 0.054),
    ("T = 2, 4-bit weights", 2, 4, 0.104),
    ("T = 2, 8-bit weights", 2, 8, 0.123),
    ("T = 3, 8-bit weights", 3, 8, 0.082),
)
REPORTED_TARGETS_SOURCE = ("secondary summary of arXiv 2409.08290 v4, see ENERGY_MODELS.md §6 (+-50% on any one "
                           "parameter: 3.4-10.8%)")


class Yan2024(TableModel):
    NAME = "yan2024"
    TABLE = "yan2024"
    REQUIRED = ("e_acc", "e_s", "e_d", "dram_spike", "weight_bits", "hops_per_transfer", "sram_per_bit",
                "multiplier_ratio_bits", "psum_bits")
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True, if_dataflow="time_outer")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "weight_bits": Option("one weight width for every method (default: each layer's recorded width)", None,
                              bit_width),
        "hops_per_transfer": Option("NoC hops each spike event or activation crosses", FromTable("hops_per_transfer"),
                                    nonneg),
        "spike_move": Option("'noc' (E_s per hop) or 'dram' (one 64-bit DRAM read per spike)", "noc",
                             choice("noc", "dram")),
        "psum_bits": psum_option(FromTable("psum_bits"), "16, the width of the E_acc accumulate"),
    }
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "constants from a secondary summary of arXiv 2409.08290 v4 (E_acc 0.054 pJ, E_s 3.0 pJ/event/hop, E_d 0.25 "
        "pJ/bit/hop, 4-bit weights where none recorded); SRAM per bit and the MAC/accumulate ratio default from "
        "Horowitz 45 nm (the summary gives none); 1 NoC hop per transfer",
        "a spike moves as one event (E_s per hop); a non-spiking activation moves densely as out_bits x E_d per hop",
        "one weight read per synaptic operation (per spike per synapse; per non-zero activation per synapse)",
        "zero_skipping (default): the QNN skips MACs on zero activations (mac_nonzero)",
        "membrane of spiking neurons read and written as counted (if_dataflow=time_inner: once per inference); "
        "membranes and a QNN's moved partial sums at psum_bits (16) for every method",
        "OneSpike: G groups are parallel work in one timestep, membrane once per neuron, every group's spikes moved",
    )

    def validate_options(self) -> None:
        # Horowitz's multiplier/adder ratio, read once (not per priced operation)
        h = horowitz_45nm()
        self.horowitz = h
        self.reference_add_pj = h.int_add_pj(self.table.value("multiplier_ratio_bits"))

    def default_spike_event_pj(self) -> float:
        if self.options["spike_move"] == "dram":
            return self.table.pj("dram_spike")
        return self.table.pj("e_s") * self.options["hops_per_transfer"]

    # -- unit energies ---------------------------------------------------------------------------
    def mult_pj(self, width_product: float) -> float:
        """E_acc x E_mult45(product) / E_add45(16): a multiply priced by Horowitz's ratio at this node."""
        return self.table.pj("e_acc") * self.horowitz.int_mult_pj(width_product) / self.reference_add_pj

    def weight_width(self, layer: LayerEvents) -> float:
        if self.options["weight_bits"] is not None:
            return self.options["weight_bits"]
        return bits(layer.weight_bits, self.table.value("weight_bits"))

    def dense_move_pj(self) -> float:
        """Per bit of a densely moved activation: E_d x hops."""
        return self.table.pj("e_d") * self.options["hops_per_transfer"]

    # -- pricing ---------------------------------------------------------------------------------
    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        e_acc, sram = t.pj("e_acc"), t.pj("sram_per_bit")
        fused, psum = self.options["fused_activation"], self.options["psum_bits"]
        steps = layer.timesteps * layer.groups
        consumed = {"spikes"}
        self.spike_event_cost(layer, cost)
        if layer.kind in SYNAPTIC_KINDS:
            wb = self.weight_width(layer)
            ab = bits(layer.act_bits, 32)
            mac_pj = e_acc + self.mult_pj(wb * ab)
            ratio_bits = t.value("multiplier_ratio_bits")
            cost.add("compute", layer.ac * e_acc + layer.mac * mac_pj + layer.add * e_acc
                     + (layer.xnor + layer.popcount) * e_acc / ratio_bits)
            cost.add("weight_memory", (layer.ac + layer.mac + layer.xnor) * wb * sram)
            cost.applied.update(weight_bits=wb, act_bits=ab, accumulator_bits=ratio_bits)
            if layer.fused_into:
                cost.applied["fused_activation"] = fused
            if not fused or (not layer.fused_into and not feeds_membrane(ledger, index)):
                width = preactivation_bits(layer, psum)
                moved = out_elements(layer) * steps
                cost.add("interconnect", moved * width * self.dense_move_pj())
                cost.record_psum(width, out_elements(layer), moved)
            cost.details.update(mac_pj=mac_pj, weight_reads=layer.ac + layer.mac + layer.xnor)
            return consumed | {"ac", "mac", "add", "xnor", "popcount", "weight_reads", "input_reads",
                               "output_writes"}
        if layer.kind == "neuron":
            width = bits(layer.vmem_bits, min(bits(layer.act_bits, 16), 16))
            cost.add("neuron", (layer.add + layer.cmp + layer.shift + layer.mask) * e_acc
                     + (layer.mul + layer.mod) * self.mult_pj(width * width))
            if layer.output_spiking:
                vmem = layer.vmem_reads + layer.vmem_writes
                if self.options["if_dataflow"] == "time_inner" and layer.timesteps > 1 and vmem > 0:
                    vmem = 2.0 * layer.neurons * layer.groups
                cost.add("membrane_memory", vmem * psum * sram)
                cost.details["membrane_accesses"] = vmem
                if vmem > 0:
                    cost.record_membrane(psum, layer.neurons, vmem)
            else:
                moved = layer.output_elements if layer.output_elements > 0 else out_elements(layer) * steps
                cost.add("interconnect", moved * bits(layer.out_bits, 32) * self.dense_move_pj())
                cost.details["values_moved"] = moved
            if not fused:  # the pre-activation is read back from SRAM (spiking or not alike)
                width = stored_bits(ledger, index, "in", psum)
                cost.add("activation_memory", layer.input_reads * width * sram)
                if layer.input_reads > 0:
                    cost.record_psum(width, 0.0, layer.input_reads)
            return consumed | {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "input_reads", "output_writes"}
        cost.add("compute", (layer.add + layer.cmp + layer.shift + layer.mask) * e_acc
                 + (layer.mul + layer.mod) * self.mult_pj(256))
        return consumed | {*NEURON_OP_EVENTS, "input_reads", "output_writes"}


#: The model :data:`REPORTED_TARGETS` were reported under: a study prices its own break-even rates with it.
REPORTED_TARGETS_MODEL = Yan2024.NAME
