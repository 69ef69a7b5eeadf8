"""``weight_stationary``: an Eyeriss-like weight-stationary dataflow with a memory hierarchy.

Access energies relative to one MAC (Chen et al., Eyeriss): register file 1x, inter-PE 2x,
global buffer (GLB) 6x, DRAM 200x, anchored to a 45 nm INT8 MAC (0.23 pJ) per 8-bit word; a b-bit
datum costs b/8 of a word (spikes 1/8). What is counted, per conv/linear layer (T sequential
timesteps, G parallel groups, W weights)::

    dram          = W x DRAM                     weights read from DRAM once per layer per inference where
                                                 the placement rule puts them off chip (weight_memory at
                                                 level dram)
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
pre-activation: partial sums and membrane potentials alike. Where each tensor lives is decided by the
shared placement rule (:mod:`energy_models.placement`) over the table's ``[memory]`` levels (the 108
KB GLB, then DRAM): weights, input and output maps, partial sums and membranes alike at the cheapest
level that holds them for their lifetime; a tensor off chip costs a DRAM access per bit moved (and a
GLB read where a PE uses it) in place of the GLB access (``placement``: ``by_size``, ``all_on_chip``,
``weights_streamed``, ``all_streamed``). Arithmetic at the widths that ran: the INT8 multiply and add
of the table scaled by Horowitz's width curves (a w x a array multiplier, the add at the 16-bit
partial-sum width; FP32 multiply and add in a float layer, 20x an INT8 MAC).

Per neuron record: membrane potentials live in the GLB and are read and written once per neuron per
timestep for IF (``if_dataflow="time_outer"``; ``"time_inner"``, model ``weight_stationary_time_inner``:
once per neuron per inference), once per neuron for OneSpike (``neurons x timesteps x 2`` accesses of ``psum_bits``;
only where the record has membrane traffic), the emitted spike maps are written to the GLB (1 bit per
neuron per step/group), and the record's own add/cmp/shift/mask are priced as INT8 adds and mul/mod
as INT8 multiplies, scaled by ``vmem_bits``/8. Pool/residual records: adds, and their logical input
reads / output writes at GLB cost (a pre-activation at ``psum_bits``, spikes 1 bit, a QNN's
activations at their width). ``xnor``/``popcount`` per bit at INT8 add / 8 (derived). GLB traffic moves
to DRAM for any tensor placed off chip.

OneSpike: the G groups are parallel work in one timestep: they share the one weight fetch (like a
batch), carry no membrane state (membrane read and written once per neuron), and each group's input
and output spike maps move through the GLB.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from energy_models.base import TableModel, psum_option
from energy_models.conventions import convention_defaults
from energy_models.horowitz import Horowitz, horowitz_45nm
from energy_models.layer_facts import (
    FLOAT_BITS,
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    feeds_membrane,
    fused_activation_bits,
    in_elements,
    is_float_operands,
    out_elements,
    preactivation_bits,
    spike_input,
    stored_bits,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option
from energy_models.placement import Level
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
    }
    WEIGHT_BITS = "word_bits"
    ACT_BITS = "word_bits"
    PLACES_TENSORS = True
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "Eyeriss relative access costs RF 1x, inter-PE 2x, GLB 6x, DRAM 200x of an INT8 MAC (0.23 pJ) per 8-bit word",
        "each weight read once per layer per inference from where the shared placement rule puts it (the 108 KB GLB "
        "when it fits, else DRAM), staged through the GLB once, then read from the PE register file by every "
        "operation (reused across positions, timesteps and groups)",
        "inputs read from the GLB as dense maps each step/group (spikes 1 bit) and delivered to PEs when non-zero; "
        "one psum_bits partial-sum hop between PEs per operation",
        "membrane potentials in the GLB, read and written once per neuron per timestep for IF (time_inner: once "
        "per inference), once per neuron for OneSpike; activations, partial sums and membranes placed by the same "
        "size-and-lifetime rule as weights (placement option)",
        "a MAC at the widths that ran: Horowitz's width curves on the INT8 anchor (FP32 20x INT8)",
        "stored pre-activations (partial sums before pooling, membranes) at psum_bits (16) for every method",
        "zero activations and zero spikes are skipped alike (Eyeriss data gating; zero_skipping=False: dense)",
        "activations fused on the PE output: written at their own width (fused_activation option)",
        "OneSpike: G groups are parallel work in one timestep sharing one weight fetch, no membrane carried",
    )

    @property
    def horowitz(self) -> Horowitz:
        return horowitz_45nm()

    def per_bit(self, ratio_key: str) -> float:
        """pJ per bit accessed at the level ``ratio_key`` (the RF and inter-PE links; the placement levels
        are the table's ``[memory]`` sections)."""
        t = self.table
        return t.value(ratio_key) * t.pj("mac") / t.value("word_bits")

    def mac_pj(self, weight_bits: float, act_bits: float, acc_bits: float) -> float:
        """A MAC at the widths that ran: the table's INT8 multiply and add scaled by Horowitz's width
        curves (:mod:`energy_models.horowitz`): a w x a array multiplier, an add at the accumulator
        width; FP32 multiply and add for a float layer (both operands 32-bit or wider)."""
        t, h = self.table, self.horowitz
        floating = is_float_operands(weight_bits, act_bits)
        word = t.value("word_bits")
        return (t.pj("mult") * h.mult_factor(weight_bits, act_bits, word, word)
                + t.pj("add") * h.add_factor(acc_bits, word, floating))

    def add_pj(self, acc_bits: float, weight_bits: float, act_bits: float) -> float:
        """An accumulate (spike-driven AC, bias, group current) at the accumulator width; an FP32 add where
        the weights are floats (a float weight is accumulated in floating point)."""
        word = self.table.value("word_bits")
        return self.table.pj("add") * self.horowitz.add_factor(acc_bits, word, weight_bits >= FLOAT_BITS)

    def move(self, cost: LayerCost, component: str, moved_bits: float, level: Level, direction: str,
             staged: bool = False) -> None:
        """Charge ``moved_bits`` read or written at ``level``; an off-chip datum that a PE uses (``staged``)
        is also read through the largest on-chip buffer."""
        if moved_bits <= 0:
            return
        pj = level.read_pj_per_bit if direction == "read" else level.write_pj_per_bit
        cost.add(component, moved_bits * pj, level="on_chip" if level.on_chip else "dram")
        if staged and not level.on_chip:
            cost.add(component, moved_bits * self.hierarchy.largest_on_chip.read_pj_per_bit)

    def spike_map_level(self, ledger: EventLedger, index: int, cost: LayerCost) -> Level:
        """Where neuron record ``index``'s output spikes live: the input map of the next synaptic layer."""
        for j in range(index + 1, len(ledger.layers)):
            if ledger.layers[j].kind in SYNAPTIC_KINDS:
                return self.level(j, "input", cost)
        return self.hierarchy.largest_on_chip

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        rf, pe = self.per_bit("rf_ratio"), self.per_bit("inter_pe_ratio")
        add, mult, word = t.pj("add"), t.pj("mult"), t.value("word_bits")
        psum = self.options["psum_bits"]
        T, G = layer.timesteps, layer.groups
        self.spike_event_cost(layer, cost)
        cost.add("compute", (layer.xnor + layer.popcount) * add / word)
        consumed = {"mac", "ac", "xnor", "popcount", "spikes"}
        if layer.kind in SYNAPTIC_KINDS:
            wb = bits(layer.weight_bits, word)
            a = 1.0 if spike_input(layer) else bits(layer.act_bits, word)
            ops = layer.mac + layer.ac
            W = weight_count(layer)
            mac_pj, ac_pj = self.mac_pj(wb, a, float(psum)), self.add_pj(float(psum), wb, a)
            cost.add("compute", layer.mac * mac_pj + layer.ac * ac_pj + layer.add * ac_pj)
            self.move(cost, "weight_memory", W * wb, self.level(index, "weights", cost), "read", staged=True)
            cost.add("weight_memory", ops * wb * rf)
            self.move(cost, "activation_memory", in_elements(layer) * T * G * a, self.level(index, "input", cost),
                      "read", staged=True)
            cost.applied.update(weight_bits=wb, act_bits=a, accumulator_bits=psum)
            self._output(ledger, index, layer, cost)
            zs = self.options["zero_skipping"]
            skips = zs is True or (zs == "spikes_only" and spike_input(layer))
            delivered = layer.input_nonzero if layer.input_elements > 0 and skips else in_elements(layer) * T * G
            cost.add("interconnect", delivered * a * pe + ops * psum * pe)
            cost.details.update(weights=W, operations=ops, delivered_inputs=delivered, mac_pj=mac_pj, ac_pj=ac_pj)
            consumed |= {"add", "weight_reads", "input_reads", "output_writes"}
        elif layer.kind == "neuron":
            scale = bits(layer.vmem_bits, psum) / word
            cost.add("neuron", (layer.add + layer.cmp + layer.shift + layer.mask) * add * scale
                     + (layer.mul + layer.mod) * mult * scale)
            if layer.vmem_reads + layer.vmem_writes > 0:
                passes = 1 if self.options["if_dataflow"] == "time_inner" else T
                accesses = layer.neurons * passes * 2
                level = self.level(index, "membrane", cost)
                self.move(cost, "membrane_memory", accesses / 2 * psum, level, "read")
                self.move(cost, "membrane_memory", accesses / 2 * psum, level, "write")
                cost.details["membrane_accesses"] = accesses
                cost.record_membrane(psum, layer.neurons, 0.0 if not level.on_chip else accesses,
                                     accesses if not level.on_chip else 0.0)
            if layer.output_spiking:
                self.move(cost, "activation_memory", layer.neurons * T * G * 1.0,
                          self.spike_map_level(ledger, index, cost), "write")
            consumed |= {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "output_writes", "input_reads",
                         "weight_reads"}
        else:
            a, ob = stored_bits(ledger, index, "in", psum), stored_bits(ledger, index, "out", psum)
            cost.add("compute", (layer.add + layer.cmp + layer.shift + layer.mask) * add
                     + (layer.mul + layer.mod) * mult)
            in_level = self.level(index, "input", cost) if (index, "input") in self.plan \
                else self.hierarchy.largest_on_chip
            out_level = self.level(index, "output", cost) if (index, "output") in self.plan \
                else self.hierarchy.largest_on_chip
            self.move(cost, "activation_memory", layer.input_reads * a, in_level, "read")
            self.move(cost, "activation_memory", layer.output_writes * ob, out_level, "write")
            stored_in = a == psum and not layer.input_spiking and layer.input_reads > 0
            stored_out = ob == psum and not layer.output_spiking and layer.output_writes > 0
            if stored_in or stored_out:
                accesses = (layer.input_reads if stored_in else 0.0) + (layer.output_writes if stored_out else 0.0)
                off = not (in_level.on_chip and out_level.on_chip)
                cost.record_psum(psum, out_elements(layer) if stored_out else 0.0, 0.0 if off else accesses,
                                 accesses if off else 0.0)
            consumed |= {*NEURON_OP_EVENTS, "input_reads", "output_writes"}
        return consumed

    def _output(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost) -> None:
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
        level = self.level(index, "output", cost)
        if activation is not None:
            self.move(cost, "activation_memory", values * activation, level, "write")
            return
        width = preactivation_bits(layer, self.options["psum_bits"])
        self.move(cost, "activation_memory", values * width, level, "write")
        if layer.fused_into:
            self.move(cost, "activation_memory", values * width, level, "read")
        accesses = values * (2.0 if layer.fused_into else 1.0)
        cost.record_psum(width, out_elements(layer), accesses if level.on_chip else 0.0,
                         0.0 if level.on_chip else accesses)
