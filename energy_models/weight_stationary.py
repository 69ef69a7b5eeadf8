"""``weight_stationary``: an Eyeriss-like weight-stationary dataflow with a memory hierarchy.

Access energies relative to one MAC (Chen et al., Eyeriss): register file 1x, inter-PE 2x,
global buffer (GLB) 6x, DRAM 200x, anchored to a 45 nm INT8 MAC (0.23 pJ) per 8-bit word; a b-bit
datum costs b/8 of a word (spikes 1/8). What is counted, per conv/linear layer (T sequential
timesteps, G parallel groups, W weights)::

    dram          = W x DRAM                     weights read from DRAM once per layer per inference
    weight_memory = W x GLB + (mac + ac) x RF    staged once through the GLB into the PE register files,
                                                 then read from the RF by every operation (reused across
                                                 all output positions, timesteps and groups)
    compute       = mac x E_MAC + (ac + add) x E_add      zero_skipping (default True, as Eyeriss gates
                                                 zero activations): counted ACs and mac_nonzero MACs;
                                                 False: dense ACs and dense MACs
    activation    = in_elements x T x G x GLB    input map read (broadcast) from the GLB each step/group,
                                                 1-bit for spikes, act_bits otherwise
                  + out_elements x T x G x GLB   outputs written where the output does not feed a membrane
                                                 (ledger fact), at the fused activation's width (QNN:
                                                 ceil(log2(L+1)); fused_activation=False: out_bits);
                                                 a current into a membrane is priced at the neuron record
    interconnect  = delivered inputs x inter-PE  non-zero inputs (input_nonzero; every input if not
                                                 recorded or zero_skipping=False) carried to the PEs
    interconnect  += spikes x spike_event_pj     (default 0)
                  + (mac + ac) x inter-PE        one 16-bit partial-sum hop between PEs per operation

Per neuron record: membrane potentials live in the GLB and are read and written once per neuron per
timestep for IF (``if_dataflow="time_outer"``; ``"time_inner"``, model ``weight_stationary_time_inner``:
once per neuron per inference), once per neuron for OneSpike (``neurons x timesteps x 2`` accesses of ``vmem_bits``;
only where the record has membrane traffic), the emitted spike maps are written to the GLB (1 bit per
neuron per step/group), and the record's own add/cmp/shift/mask are priced as INT8 adds and mul/mod
as INT8 multiplies, scaled by ``vmem_bits``/8. Activation functions are fused on the output path
(no extra memory). Pool/residual records: adds, and their logical input reads / output writes at GLB
cost. ``xnor``/``popcount`` per bit at INT8 add / 8 (derived). Activations never spill to DRAM.

OneSpike: the G groups are parallel work in one timestep: they share the one weight fetch (like a
batch), carry no membrane state (membrane read and written once per neuron), and each group's input
and output spike maps move through the GLB.
"""

from __future__ import annotations

from collections.abc import Iterable

from energy_models.base import (
    SYNAPTIC_KINDS,
    TableModel,
    bits,
    convention_defaults,
    feeds_membrane,
    fused_output_bits,
    in_elements,
    out_elements,
    spike_input,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.report import LayerCost


class WeightStationary(TableModel):
    NAME = "weight_stationary"
    TABLE = "weight_stationary"
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = ("mac", "add", "mult", "rf_ratio", "inter_pe_ratio", "glb_ratio", "dram_ratio", "word_bits",
                "psum_bits")
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True, if_dataflow="time_outer")
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "Eyeriss relative access costs RF 1x, inter-PE 2x, GLB 6x, DRAM 200x of an INT8 MAC (0.23 pJ) per 8-bit word",
        "each weight read from DRAM once per layer per inference, staged through the GLB once, then read from the PE "
        "register file by every operation (reused across positions, timesteps and groups)",
        "inputs read from the GLB as dense maps each step/group (spikes 1 bit) and delivered to PEs when non-zero; "
        "one 16-bit partial-sum hop between PEs per operation",
        "membrane potentials in the GLB, read and written once per neuron per timestep for IF (time_inner: once "
        "per inference), once per neuron for OneSpike; activations never spill to DRAM",
        "zero activations and zero spikes are skipped alike (Eyeriss data gating; zero_skipping=False: dense)",
        "activations fused on the PE output: written at their own width (fused_activation option)",
        "OneSpike: G groups are parallel work in one timestep sharing one weight fetch, no membrane carried",
    )

    def _check_options(self, options):
        if options:
            raise ValueError(f"weight_stationary: unknown option(s) {sorted(options)}; options: zero_skipping, "
                             "fused_activation, first_layer, if_dataflow, spike_event_pj")
        return {}

    def per_bit(self, ratio_key: str) -> float:
        """pJ per bit accessed at the level ``ratio_key``."""
        t = self.table
        return t.value(ratio_key) * t.pj("mac") / t.value("word_bits")

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        rf, pe, glb, dram = (self.per_bit(k) for k in ("rf_ratio", "inter_pe_ratio", "glb_ratio", "dram_ratio"))
        add, mult, word = t.pj("add"), t.pj("mult"), t.value("word_bits")
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
            cost.add("dram", W * wb * dram)
            cost.add("weight_memory", W * wb * glb + ops * wb * rf)
            cost.add("activation_memory", in_elements(layer) * T * G * a * glb)
            if not feeds_membrane(ledger, index):
                ob = fused_output_bits(ledger, layer, self.options["fused_activation"], word)
                cost.add("activation_memory", out_elements(layer) * T * G * ob * glb)
            zs = self.options["zero_skipping"]
            skips = zs is True or (zs == "spikes_only" and spike_input(layer))
            delivered = layer.input_nonzero if layer.input_elements > 0 and skips else in_elements(layer) * T * G
            cost.add("interconnect", delivered * a * pe + ops * t.value("psum_bits") * pe)
            cost.details.update(weights=W, operations=ops, delivered_inputs=delivered)
            consumed |= {"add", "weight_reads", "input_reads", "output_writes"}
        elif layer.kind == "neuron":
            vb = bits(layer.vmem_bits, t.value("psum_bits"))
            scale = vb / word
            cost.add("neuron", (layer.add + layer.cmp + layer.shift + layer.mask) * add * scale
                     + (layer.mul + layer.mod) * mult * scale)
            if layer.vmem_reads + layer.vmem_writes > 0:
                passes = 1 if self.options["if_dataflow"] == "time_inner" else T
                accesses = layer.neurons * passes * 2
                cost.add("membrane_memory", accesses * vb * glb)
                cost.details["membrane_accesses"] = accesses
            if layer.output_spiking:
                cost.add("activation_memory", layer.neurons * T * G * 1.0 * glb)
            consumed |= {"add", "cmp", "shift", "mask", "mul", "mod", "vmem_reads", "vmem_writes", "output_writes",
                         "input_reads", "weight_reads"}
        else:
            a = 1.0 if layer.input_spiking else bits(layer.act_bits, word)
            ob = 1.0 if layer.output_spiking else bits(layer.out_bits, word)
            cost.add("compute", (layer.add + layer.cmp + layer.shift + layer.mask) * add
                     + (layer.mul + layer.mod) * mult)
            cost.add("activation_memory", layer.input_reads * a * glb + layer.output_writes * ob * glb)
            consumed |= {"add", "cmp", "shift", "mask", "mul", "mod", "input_reads", "output_writes"}
        return consumed
