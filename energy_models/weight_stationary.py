"""``weight_stationary``: an Eyeriss-like weight-stationary dataflow with a memory hierarchy.

Access energies relative to one MAC (Chen et al., Eyeriss): register file 1x, inter-PE 2x,
global buffer (GLB) 6x, DRAM 200x, anchored to a 45 nm INT8 MAC (0.23 pJ) per 8-bit word; a b-bit
datum costs b/8 of a word (spikes 1/8). What is counted, per conv/linear layer (T sequential
timesteps, G parallel groups, W weights)::

    dram          = W x DRAM                     weights read from DRAM once per layer per inference
                                                 (weight_memory at level dram; none when resident)
    weight_memory = W x GLB + (mac + ac) x RF    staged once through the GLB into the PE register files,
                                                 then read from the RF by every operation (reused across
                                                 all output positions, timesteps and groups)
    compute       = mac x E_MAC + (ac + add) x E_add      zero_skipping (default True, as Eyeriss gates
                                                 zero activations): counted ACs and mac_nonzero MACs;
                                                 False: dense ACs and dense MACs
    activation    = in_elements x T x G x GLB    input map read (broadcast) from the GLB each step/group,
                                                 1-bit for spikes, act_bits otherwise
                  + out_elements x T x G x GLB   outputs written: at the fused activation's width (QNN:
                                                 ceil(log2(L+1))); a stored pre-activation (pooling or an
                                                 unfused activation comes after) at psum_bits, for every
                                                 method (an SNN's current before pooling too), read back
                                                 by an unfused activation; a current fused into its
                                                 membrane is priced at the neuron record
    interconnect  = delivered inputs x inter-PE  non-zero inputs (input_nonzero; every input if not
                                                 recorded or zero_skipping=False) carried to the PEs
    interconnect  += spikes x spike_event_pj     (default 0)
                  + (mac + ac) x inter-PE        one psum_bits partial-sum hop between PEs per operation

``psum_bits`` (default 16, Eyeriss's partial-sum width) is the one width of every stored
pre-activation: partial sums and membrane potentials alike. ``weights_resident`` (default ``"auto"``):
a network whose weights fit the 108 KB global buffer keeps them on chip between inferences (no DRAM
fetch; still staged from the GLB once per inference); ``True``/``False`` force either.

Per neuron record: membrane potentials live in the GLB and are read and written once per neuron per
timestep for IF (``if_dataflow="time_outer"``; ``"time_inner"``, model ``weight_stationary_time_inner``:
once per neuron per inference), once per neuron for OneSpike (``neurons x timesteps x 2`` accesses of ``psum_bits``;
only where the record has membrane traffic), the emitted spike maps are written to the GLB (1 bit per
neuron per step/group), and the record's own add/cmp/shift/mask are priced as INT8 adds and mul/mod
as INT8 multiplies, scaled by ``vmem_bits``/8. Pool/residual records: adds, and their logical input
reads / output writes at GLB cost (a pre-activation at ``psum_bits``, spikes 1 bit, a QNN's
activations at their width). ``xnor``/``popcount`` per bit at INT8 add / 8 (derived). Activations never spill to DRAM.

OneSpike: the G groups are parallel work in one timestep: they share the one weight fetch (like a
batch), carry no membrane state (membrane read and written once per neuron), and each group's input
and output spike maps move through the GLB.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from energy_models.base import TableModel, psum_option, record_fetch, resident_option
from energy_models.conventions import convention_defaults
from energy_models.layer_facts import (
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    feeds_membrane,
    fused_activation_bits,
    in_elements,
    out_elements,
    preactivation_bits,
    spike_input,
    stored_bits,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option
from energy_models.report import LayerCost


class WeightStationary(TableModel):
    NAME = "weight_stationary"
    TABLE = "weight_stationary"
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = ("mac", "add", "mult", "rf_ratio", "inter_pe_ratio", "glb_ratio", "dram_ratio", "word_bits",
                "psum_bits", "glb_bytes")
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True, if_dataflow="time_outer")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "psum_bits": psum_option(FromTable("psum_bits"), "16, Eyeriss's partial-sum width (JSSC 2017)"),
        "weights_resident": resident_option(),
    }
    WEIGHT_BITS = "word_bits"
    WEIGHT_BUFFER = "glb_bytes"
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "Eyeriss relative access costs RF 1x, inter-PE 2x, GLB 6x, DRAM 200x of an INT8 MAC (0.23 pJ) per 8-bit word",
        "each weight read from DRAM once per layer per inference (none when the network's weights fit the 108 KB "
        "GLB: weights_resident='auto'), staged through the GLB once, then read from the PE register file by every "
        "operation (reused across positions, timesteps and groups)",
        "inputs read from the GLB as dense maps each step/group (spikes 1 bit) and delivered to PEs when non-zero; "
        "one psum_bits partial-sum hop between PEs per operation",
        "membrane potentials in the GLB, read and written once per neuron per timestep for IF (time_inner: once "
        "per inference), once per neuron for OneSpike; activations never spill to DRAM",
        "stored pre-activations (partial sums before pooling, membranes) at psum_bits (16) for every method",
        "zero activations and zero spikes are skipped alike (Eyeriss data gating; zero_skipping=False: dense)",
        "activations fused on the PE output: written at their own width (fused_activation option)",
        "OneSpike: G groups are parallel work in one timestep sharing one weight fetch, no membrane carried",
    )

    def per_bit(self, ratio_key: str) -> float:
        """pJ per bit accessed at the level ``ratio_key``."""
        t = self.table
        return t.value(ratio_key) * t.pj("mac") / t.value("word_bits")

    def prepare(self, ledger: EventLedger, warnings: list[str]) -> None:
        self.resident = self.weights_resident(ledger)

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        rf, pe, glb, dram = (self.per_bit(k) for k in ("rf_ratio", "inter_pe_ratio", "glb_ratio", "dram_ratio"))
        add, mult, word = t.pj("add"), t.pj("mult"), t.value("word_bits")
        psum = self.options["psum_bits"]
        T, G = layer.timesteps, layer.groups
        self.spike_event_cost(layer, cost)
        cost.add("compute", layer.mac * t.pj("mac") + layer.ac * add + (layer.xnor + layer.popcount) * add / word)
        consumed = {"mac", "ac", "xnor", "popcount", "spikes"}
        if layer.kind in SYNAPTIC_KINDS:
            wb = bits(layer.weight_bits, word)
            a = 1.0 if spike_input(layer) else bits(layer.act_bits, word)
            ops = layer.mac + layer.ac
            W = weight_count(layer)
            cost.add("compute", layer.add * add)
            record_fetch(cost, layer, self.resident)
            if not self.resident:
                cost.add("weight_memory", W * wb * dram, level="dram")
            cost.add("weight_memory", W * wb * glb + ops * wb * rf)
            cost.add("activation_memory", in_elements(layer) * T * G * a * glb)
            cost.applied.update(weight_bits=wb, act_bits=a, accumulator_bits=word)
            self._output(ledger, index, layer, cost, glb)
            zs = self.options["zero_skipping"]
            skips = zs is True or (zs == "spikes_only" and spike_input(layer))
            delivered = layer.input_nonzero if layer.input_elements > 0 and skips else in_elements(layer) * T * G
            cost.add("interconnect", delivered * a * pe + ops * psum * pe)
            cost.details.update(weights=W, operations=ops, delivered_inputs=delivered)
            consumed |= {"add", "weight_reads", "input_reads", "output_writes"}
        elif layer.kind == "neuron":
            scale = bits(layer.vmem_bits, psum) / word
            cost.add("neuron", (layer.add + layer.cmp + layer.shift + layer.mask) * add * scale
                     + (layer.mul + layer.mod) * mult * scale)
            if layer.vmem_reads + layer.vmem_writes > 0:
                passes = 1 if self.options["if_dataflow"] == "time_inner" else T
                accesses = layer.neurons * passes * 2
                cost.add("membrane_memory", accesses * psum * glb)
                cost.details["membrane_accesses"] = accesses
                cost.record_membrane(psum, layer.neurons, accesses)
            if layer.output_spiking:
                cost.add("activation_memory", layer.neurons * T * G * 1.0 * glb)
            consumed |= {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "output_writes", "input_reads",
                         "weight_reads"}
        else:
            a, ob = stored_bits(ledger, index, "in", psum), stored_bits(ledger, index, "out", psum)
            cost.add("compute", (layer.add + layer.cmp + layer.shift + layer.mask) * add
                     + (layer.mul + layer.mod) * mult)
            cost.add("activation_memory", layer.input_reads * a * glb + layer.output_writes * ob * glb)
            stored_in = a == psum and not layer.input_spiking and layer.input_reads > 0
            stored_out = ob == psum and not layer.output_spiking and layer.output_writes > 0
            if stored_in or stored_out:
                accesses = (layer.input_reads if stored_in else 0.0) + (layer.output_writes if stored_out else 0.0)
                cost.record_psum(psum, out_elements(layer) if stored_out else 0.0, accesses)
            consumed |= {*NEURON_OP_EVENTS, "input_reads", "output_writes"}
        return consumed

    def _output(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost, glb: float) -> None:
        """The synaptic layer's output: nothing where its current is fused into a membrane update, the
        activation at its width where fused, else a pre-activation stored at ``psum_bits`` (written, and
        read back here when an unfused activation consumes it directly; a pooling reads it itself)."""
        fused = self.options["fused_activation"]
        activation = fused_activation_bits(ledger, layer, fused)
        membrane = feeds_membrane(ledger, index)
        if layer.fused_into:
            cost.applied["fused_activation"] = fused
        values = out_elements(layer) * layer.timesteps * layer.groups
        if fused and layer.fused_into and membrane:
            return
        if activation is not None:
            cost.add("activation_memory", values * activation * glb)
            return
        width = preactivation_bits(layer, self.options["psum_bits"])
        accesses = values * (2.0 if layer.fused_into else 1.0)
        cost.add("activation_memory", accesses * width * glb)
        cost.record_psum(width, out_elements(layer), accesses)
