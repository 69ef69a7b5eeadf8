"""``sata``: SATA, a systolic-array SNN accelerator, in the analytical form of its TCAD paper.

Per conv/linear layer (C in, K out channels, R x S kernel, H x W input, E x E output, T sequential
timesteps, G parallel groups, b = 8 the spike word width, all energies of 16-bit units scaled by
bits/16, as in SATA_Sim ``get_workload.py``)::

    moved  = K*C*R*S [weights, once] + T*K*E^2 [membrane or output] + T*G*C*H*W/b [input spikes]
    GLB    = 2 x moved (each datum written into and read out of the buffer; weights kept on chip: read only)
    DRAM   = 1 x moved, for each tensor the shared placement rule puts off chip (energy_models.placement)
    spad   = 2*(K*C*R*S + T*G*C*H*W/b)
    spike-MACs (AND gate + accumulator) = dense ops x T x G       (zero_skipping=True: the counted ``ac``)
    MACs (multiplier + accumulator)     = dense ``mac``           (zero_skipping=True: ``mac_nonzero``)

Where a tensor lives is not this model's choice: its table declares the memory levels (``[memory]``:
the TCAD form's one global buffer of 176 KB, GLB-weight 144 KB + GLB-spike 32 KB, at one energy per
16-bit access, then DRAM; ``sata_hw``: the two CACTI buffers, then DRAM), and
:func:`energy_models.placement.place` puts every tensor (weights, input maps, outputs, partial sums,
membranes) at the cheapest level that holds it for its lifetime, by size alone (``placement``:
``by_size``; the alternatives ``all_on_chip``, ``weights_streamed``, ``all_streamed``). A MAC is
priced at the widths that ran: SATA_Sim's bits/16 scaling of its 16-bit multiplier and accumulator at
the weight width, the multiplier further by Horowitz's array-multiplier ratio (w x a) / (w x w) for
an activation of another width, FP32 by Horowitz's FP32/INT32 ratios for a float layer.

``zero_skipping`` (default False: the AND-gate datapath gates nothing; ``sata_gated``: True, with the
alias ``gated``) applies to spikes and activations alike. The dense spike-MAC term does not depend
on the spike count, so the price is continuous as the spike rate goes to 0. Inputs that are not
spikes (``act_bits`` > 1: ANN/QNN layers, the first layer) move as ``act_bits``-wide values instead of
1-bit spikes. The K*E^2 term of a layer whose output feeds a membrane (its consumer emits spikes or
keeps membrane state: a ledger fact) is the membrane potential read and written every timestep
whatever the spike activity (``membrane_memory``, its DRAM part at level ``dram``;
``if_dataflow="time_inner"``, model ``sata_time_inner``: once per inference); otherwise it is the
output activation (``activation_memory``), written at the consuming activation's width when the
activation is fused into the PE output (``fused_into`` set, ``fused_activation`` on: ceil(log2(L+1))
bits for a QNN), else a stored partial sum. A membrane and a partial sum are the same tensor at the
same position (the pre-activation) and are stored at one width, ``psum_bits``, for every method:
default 8 bits, SATA's membrane register (``sata-config.yaml``), the only storage SATA gives a
pre-activation between steps (the 16-bit accumulator register stays inside the PE); a floating-point
layer's partial sum stays 32-bit. Weight traffic goes to ``weight_memory``, spike/activation traffic
to ``activation_memory``, each with its DRAM part at level ``dram``. ``spike_event_pj`` (default 0)
adds a per-spike routing energy (``interconnect``).

Neuron records: per neuron update (neurons x T x G, records that emit spikes) the LIF unit's 2 mux + 3
registers, plus the record's own ``add``/``cmp``/``shift``/``mask`` (AND) and ``mul``/``mod``
(a multiplier) at the 16-bit unit energies scaled by ``vmem_bits``/16; their ``vmem_*`` and
``output_writes`` are the conv layer's membrane and the next layer's input terms above (not priced
twice). ``add`` of pool/residual records is priced as adds; their memory traffic is not modelled
(reported in ``warnings``). ``xnor``/``popcount`` per bit at AND/16 and add/16 (derived).

OneSpike: the G groups are parallel work in one timestep (T = 1): they share one weight fetch
(weights reused across groups as across a batch) and carry no membrane state, so the membrane term
is K*E^2 once; each group's input spike map is moved (T*G*C*H*W/b); PSG logic is priced from the
record's add/cmp/shift/mask counts with the same units.

``variant="hw_kernels"`` (model ``sata_hw``): spike-MAC = 8-bit AND + 8-bit adder + 16-bit register,
MAC = 8-bit multiplier + 8-bit adder + 16-bit register, compare = 16-bit comparator, add = 8-bit
adder x width/8, from the mW powers of ``hw_kernels.py`` at 400 MHz; buffer and DRAM levels from the
CACTI numbers of ``memory-energy-components.yaml`` (every tensor placed by size in the 32 KB GLB-spike
or the 144 KB GLB-weight buffer, cheapest first); scratchpad from the TCAD value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from energy_models.base import TableModel, psum_option
from energy_models.conventions import convention_defaults
from energy_models.horowitz import Horowitz, horowitz_45nm
from energy_models.layer_facts import (
    FLOAT_BITS,
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    consumer,
    feeds_membrane,
    fused_activation_bits,
    in_elements,
    is_float_operands,
    out_elements,
    preactivation_bits,
    spike_input,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, choice
from energy_models.placement import Level
from energy_models.report import LayerCost
from energy_models.tensors import consumer_index


class Sata(TableModel):
    NAME = "sata"
    TABLE = "sata"
    REQUIRED = (
        "clock", "unit_bits", "spike_word_bits", "membrane_bits", "weight_bits", "mul_16b", "acc_16b", "add_16b",
        "and_16b", "comp_16b", "mux_16b", "reg_16b", "shift_16b", "dram_16b", "glb_16b", "spad_16b",
    )
    ASSUMPTIONS = (
        "timesteps are processed sequentially; weights are read once per layer per inference and reused across "
        "steps and groups (TCAD analytical form)",
        "every tensor (weights, input maps, outputs, membranes) lives where the shared placement rule puts it by its "
        "size and lifetime (placement='by_size': the on-chip global buffer of 176 KB when it fits, else DRAM); "
        "a datum moves into and out of the buffer where it lives (persistent weights kept on chip: read only), a "
        "DRAM-resident one also pays one DRAM access",
        "every neuron's membrane potential is written and read every timestep, whatever the spike activity "
        "(if_dataflow=time_inner: once per inference)",
        "a stored pre-activation (an SNN's membrane, a QNN's partial sum before pooling) is psum_bits wide for every "
        "method (default 8: SATA's membrane register)",
        "the datapath skips no work for zero spikes or zero activations unless zero_skipping=True (sata_gated: "
        "only the counted ACs and the MACs with a non-zero activation)",
        "fused activation: a QNN/ANN output leaves the PE at the activation's width (fused_activation option)",
        "energies of 16-bit units scale by bits/16; spikes packed 8 per word",
        "OneSpike: G groups run in parallel in one timestep, share one weight fetch and carry no membrane state; "
        "PSG logic priced with the same comparator/adder/shift units",
        "pool and residual layers: adds only (their memory traffic is not in the TCAD form)",
    )
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=False, if_dataflow="time_outer")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "variant": Option("'tcad' (analytical form) or 'hw_kernels' (synthesised unit powers, CACTI buffers)", "tcad",
                          choice("tcad", "hw_kernels")),
        "psum_bits": psum_option(FromTable("membrane_bits"), "8, SATA's membrane register (sata-config.yaml)"),
    }
    WEIGHT_BITS = "weight_bits"
    ACT_BITS = "spike_word_bits"
    PLACES_TENSORS = True
    PRICES_SPIKE_EVENTS = True
    HW_REQUIRED = (
        "hw_and_8b", "hw_adder_8b", "hw_comparator_16b", "hw_register_16b", "hw_multiplier_8b", "glb_weight_read",
        "glb_weight_write", "glb_spike_read", "glb_spike_write", "dram_read_128b",
    )
    OPTIONAL = HW_REQUIRED  # read only by variant="hw_kernels"

    def validate_options(self) -> None:
        if self.options["variant"] == "hw_kernels":
            self.table.require(self.HW_REQUIRED)

    def resolve_aliases(self, options: dict[str, Any]) -> dict[str, Any]:
        if "gated" in options:
            gated = options.pop("gated")
            if "zero_skipping" in options and options["zero_skipping"] != bool(gated):
                raise ValueError("sata: gated and zero_skipping disagree; give zero_skipping only")
            options["zero_skipping"] = bool(gated)
        return options

    @property
    def horowitz(self) -> Horowitz:
        return horowitz_45nm()

    # -- unit energies -----------------------------------------------------------------------------
    def unit_pj(self, key: str, width: float) -> float:
        """A 16-bit unit of the TCAD table scaled to ``width`` bits."""
        return self.table.pj(f"{key}_16b") * width / self.table.value("unit_bits")

    def spike_mac_pj(self, wb: float) -> float:
        """A spike-driven accumulate (AND gate + accumulator) of a ``wb``-bit weight; a float weight's
        accumulate scaled to an FP32 add (Horowitz's FP32 / INT32 add)."""
        floating = self.horowitz.add_factor(32, 32, True) if wb >= FLOAT_BITS else 1.0
        if self.options["variant"] == "hw_kernels":
            t = self.table
            return (t.pj("hw_and_8b") + t.pj("hw_adder_8b") * floating) * wb / 8 + t.pj("hw_register_16b")
        return self.unit_pj("acc", wb) * floating + self.unit_pj("and", wb)

    def mac_pj(self, wb: float, ab: float) -> float:
        """A MAC of a ``wb``-bit weight and an ``ab``-bit activation: SATA_Sim's multiplier and
        accumulator scaled by bits/16 at the weight width, the multiplier further by Horowitz's array-
        multiplier ratio w x a / w x w for an activation of another width (a 2-bit QNN activation
        drives a quarter of an 8 x 8 multiplier's partial products), and FP32 multiply and add for a
        float layer (Horowitz's FP32 / INT32 ratios)."""
        h = self.horowitz
        mult = h.mult_factor(wb, ab, wb, wb)
        acc = h.add_factor(32, 32, True) if is_float_operands(wb, ab) else 1.0
        if self.options["variant"] == "hw_kernels":
            t = self.table
            return (t.pj("hw_multiplier_8b") * mult + t.pj("hw_adder_8b") * acc) * wb / 8 + t.pj("hw_register_16b")
        return self.unit_pj("mul", wb) * mult + self.unit_pj("acc", wb) * acc

    def add_pj(self, width: float) -> float:
        if self.options["variant"] == "hw_kernels":
            return self.table.pj("hw_adder_8b") * width / 8
        return self.unit_pj("add", width)

    def cmp_pj(self, width: float) -> float:
        if self.options["variant"] == "hw_kernels":
            return self.table.pj("hw_comparator_16b") * width / 16
        return self.unit_pj("comp", width)

    # -- pricing -----------------------------------------------------------------------------------
    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        wb = bits(layer.weight_bits, t.value("weight_bits"))
        consumed = {"mac", "ac", "spikes"}
        # synaptic work: the conventions already made ac/mac dense or zero-gated (energy_models.conventions)
        cost.add("compute", layer.mac * self.mac_pj(wb, bits(layer.act_bits, t.value("spike_word_bits")))
                 + layer.ac * self.spike_mac_pj(wb))
        cost.details["spike_macs"] = layer.ac
        self.spike_event_cost(layer, cost)
        if layer.xnor or layer.popcount:
            cost.add("compute", layer.xnor * self.unit_pj("and", 1) + layer.popcount * self.unit_pj("add", 1))
            consumed |= {"xnor", "popcount"}
        if layer.kind in SYNAPTIC_KINDS:
            cost.add("compute", layer.add * self.add_pj(16))  # bias / group-current adds in the accumulator
            consumed.add("add")
            self._memory(ledger, index, layer, cost, wb)
            consumed |= {"weight_reads", "input_reads", "output_writes"}
        elif layer.kind == "neuron":
            vb = bits(layer.vmem_bits, t.value("membrane_bits"))
            updates = layer.neurons * layer.timesteps * layer.groups if layer.output_spiking else 0.0
            lif_overhead = 2 * self.unit_pj("mux", vb) + 3 * self.unit_pj("reg", vb)
            cost.add("neuron", updates * lif_overhead + layer.add * self.add_pj(vb) + layer.cmp * self.cmp_pj(vb)
                     + layer.shift * self.unit_pj("shift", vb) + layer.mask * self.unit_pj("and", vb)
                     + (layer.mul + layer.mod) * self.unit_pj("mul", vb))
            cost.details["neuron_updates"] = updates
            consumed |= {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "output_writes", "input_reads"}
        else:
            width = bits(layer.out_bits, 16)
            cost.add("compute", layer.add * self.add_pj(width) + layer.cmp * self.cmp_pj(width)
                     + layer.shift * self.unit_pj("shift", width) + layer.mask * self.unit_pj("and", width)
                     + (layer.mul + layer.mod) * self.unit_pj("mul", width))
            consumed |= set(NEURON_OP_EVENTS)
        return consumed

    def spad_per_bit(self) -> float:
        """pJ per bit of an operand staged through the PE scratchpad (written and read: 2 accesses)."""
        return 2 * self.table.pj("spad_16b") / self.table.value("unit_bits")

    def traffic_pj_per_bit(self, level: Level, persistent: bool, direction: str) -> tuple[float, float]:
        """``(off_chip, on_chip)`` pJ per bit of one tensor's traffic at ``level`` in the TCAD form: a
        datum moves into and out of an on-chip buffer (write + read) where it lives (a persistent tensor
        kept on chip is only read: it was written when the network was loaded); a datum that lives off
        chip also pays one off-chip access (``direction``: ``read`` for an operand, ``write`` for an
        output) and is staged through the largest on-chip buffer."""
        if level.on_chip:
            return 0.0, level.read_pj_per_bit if persistent else level.read_pj_per_bit + level.write_pj_per_bit
        stage = self.hierarchy.largest_on_chip
        off = level.read_pj_per_bit if direction == "read" else level.write_pj_per_bit
        return off, stage.read_pj_per_bit + stage.write_pj_per_bit

    def _memory(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost, wb: float) -> None:
        t = self.table
        T, G = layer.timesteps, layer.groups
        w_bits = weight_count(layer) * wb
        a = 1.0 if spike_input(layer) else bits(layer.act_bits, t.value("spike_word_bits"))
        in_bits = T * G * in_elements(layer) * a
        membrane = feeds_membrane(ledger, index)
        activation = fused_activation_bits(ledger, layer, self.options["fused_activation"])
        if layer.fused_into:
            cost.applied["fused_activation"] = activation is not None or membrane
        passes = T
        if membrane:
            ob, out_component = preactivation_bits(layer, self.options["psum_bits"]), "membrane_memory"
            # the membrane is updated every timestep of the neuron that keeps it (an IF network's first
            # layer is computed once but its neurons run T steps); once per inference time-inner
            passes = 1 if self.options["if_dataflow"] == "time_inner" else max(T, consumer(ledger, index).timesteps)
        elif activation is not None:
            ob, out_component = activation, "activation_memory"
        else:  # a stored partial sum (pooling or an unfused activation comes after)
            ob, out_component = preactivation_bits(layer, self.options["psum_bits"]), "activation_memory"
        values = out_elements(layer)
        out_bits = passes * values * ob
        w_level = self.level(index, "weights", cost)
        in_level = self.level(index, "input", cost)
        out_level = self.level(consumer_index(ledger, index), "membrane", cost) if membrane \
            else self.level(index, "output", cost)
        off = 0.0 if out_level.on_chip else 1.0
        if membrane:
            cost.record_membrane(ob, values, 2.0 * passes * values, off * passes * values)
        elif activation is None:
            cost.record_psum(ob, values, 2.0 * passes * values, off * passes * values)
        cost.applied.update(weight_bits=wb, act_bits=a, accumulator_bits=wb)
        spad = self.spad_per_bit()
        for component, moved, level, persistent, direction, staged in (
                ("weight_memory", w_bits, w_level, True, "read", True),
                ("activation_memory", in_bits, in_level, False, "read", True),
                (out_component, out_bits, out_level, False, "write", False)):
            off_chip, on_chip = self.traffic_pj_per_bit(level, persistent, direction)
            if off_chip:
                cost.add(component, moved * off_chip, level="dram")
            cost.add(component, moved * (on_chip + (spad if staged else 0.0)))
        cost.details.update(weight_bits_moved=w_bits, input_bits_moved=in_bits, output_bits_moved=out_bits)
