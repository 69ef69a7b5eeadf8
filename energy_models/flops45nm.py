"""``flops45nm``: 45 nm arithmetic energy per operation (Horowitz, ISSCC 2014), optionally with memory.

Default (``precision="native"``, compute only): every MAC and AC at the operand widths the ledger
records for the layer, so each method is priced at its real widths::

    E = sum_layers mac x (E_mult(w, a) + E_add(acc)) + ac x E_add(acc) + (xnor + popcount) x E_add(8)/8

- ``E_mult(w, a)``: integer multiply of a w-bit weight by an a-bit activation, linear in the
  product w x a between Horowitz's anchors (0, 0), (8x8 = 64, INT8 mult 0.2 pJ), (32x32 = 1024,
  INT32 mult 3.1 pJ) (an array multiplier has w x a partial-product cells; the two anchors agree
  with this to 3%); an operand pair both >= 32 bits is a float ANN: FP32 mult 3.7 + add 0.9 pJ.
- ``E_add(n)``: integer add of n bits, linear between (0, 0), (8, 0.03), (16, 0.05), (32, 0.1 pJ)
  (a ripple adder is n full adders), at the accumulator width ``acc`` = the synaptic layer's
  ``out_bits`` (32 as counted; ``accumulator_bits`` of the table where the ledger has none).
- ``xnor``/``popcount`` (BNN), per bit: one INT8 add / 8 each (an XNOR gate and one popcount-tree
  full adder per input bit, each at most a 1-bit full adder: an assumption, stated in the report).
- ``zero_skipping`` (default True, for every method): ACs as counted (event-driven) and MACs only
  where the activation operand is non-zero (``mac_nonzero``); False: dense ACs and MACs.

``flops45nm_fp32`` is the SNN literature's convention (``precision="fp32"``,
``zero_skipping="spikes_only"``): E = 4.6 pJ x mac + 0.9 pJ x ac (FP32 MAC = mult + add, AC = add)
for every method, dense MACs and event-driven ACs, nothing else priced. Other fixed precisions:
``fp16``, ``int32``, ``int8`` (MAC = mult + add, AC = add at that width).

Options (same table):

- ``neuron_ops=True``: also price ``add`` at the add of the operand width (``vmem_bits``, else the
  record's ``act_bits``, else 32), ``mul`` and ``mod`` at the multiply of that width (a modulus by
  a non-power-of-two is at least a multiply: a lower bound), ``shift``, ``mask`` and ``cmp`` as an
  integer add of that width (a shift by a constant is wiring, a variable shift a barrel shifter,
  about an add): ``bitop_pj`` sets another price for shift/mask/cmp. Ops of ``neuron`` records go
  to ``neuron``, all others to ``compute``.
- ``memory=True``: every *logical* access of the ledger (no dataflow reuse: each weight read per
  use, each input read per use) is priced as a read of the SRAM size class that holds the data:
  the smallest of 8 KB / 32 KB / 1 MB that fits the layer's weights (``synapses x weight_bits``),
  input map, output map or membrane potentials; larger data comes from DRAM (the same component at
  level ``dram``). A b-bit access costs b/64 of the 64-bit word energy. A stored pre-activation (a
  partial sum written by a synaptic layer whose activation is not fused, read by the pooling or
  activation after it; a membrane potential) is ``psum_bits`` wide for every method (default 16,
  the counter's membrane width, so a QNN's partial sum and an SNN's membrane at the same position
  move the same bits; a floating-point layer's stays 32). With ``fused_activation`` (default) a
  synaptic layer whose ``fused_into`` is set writes no output and its activation reads no input
  (the activation leaves the PE at its own ``out_bits``). ``if_dataflow="time_inner"`` prices each
  membrane read and written once per inference (neurons x groups) instead of the recorded per-step
  accesses.
- ``spike_event_pj`` (default 0): energy per emitted spike for addressing/routing (``interconnect``).

OneSpike: the groups are parallel work in one timestep; nothing is carried between steps, and the
ledger's counts already hold every group's work, so no extra term is needed: G groups cost what G
steps cost in this model (it has no notion of time or weight fetch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from energy_models.base import TableModel, psum_option
from energy_models.conventions import convention_defaults
from energy_models.horowitz import HOROWITZ_KEYS, Horowitz
from energy_models.layer_facts import (
    FLOAT_BITS,
    MEMORY_EVENTS,
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    fused_input,
    in_elements,
    out_elements,
    preactivation_bits,
    stored_bits,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, choice, flag, nonneg
from energy_models.report import LayerCost

PRECISIONS: dict[str, tuple[str, str, int]] = {
    "fp32": ("fp32_mult", "fp32_add", 32),
    "fp16": ("fp16_mult", "fp16_add", 16),
    "int32": ("int32_mult", "int32_add", 32),
    "int8": ("int8_mult", "int8_add", 8),
}
SRAM_CLASSES: tuple[str, ...] = ("sram_8kb", "sram_32kb", "sram_1mb")


class Flops45nm(TableModel):
    NAME = "flops45nm"
    TABLE = "flops45nm"
    OPTIONAL = ("accumulator_bits", "psum_bits")  # read where a ledger records no out_bits / for memory=True
    REQUIRED = (
        *dict.fromkeys((*(k for v in PRECISIONS.values() for k in v[:2]), *HOROWITZ_KEYS)), *SRAM_CLASSES, "dram",
        "memory_word_bits",
    )
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True, if_dataflow="time_outer")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "precision": Option("arithmetic: 'native' (each layer's recorded widths) or one fixed precision for all",
                            "native", choice("native", *PRECISIONS)),
        "memory": Option("also price every logical memory access by SRAM size class (no reuse)", False, flag),
        "neuron_ops": Option("also price add/mul/mod/shift/mask/cmp at the operand width", False, flag),
        "bitop_pj": Option("pJ of a shift/mask/cmp under neuron_ops (default: an add of the operand width)", None,
                           nonneg),
        "psum_bits": psum_option(FromTable("psum_bits", required=False),
                                 "16, the counter's membrane width (memory=True only)"),
    }
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "native precision (default): MAC = integer multiply of weight_bits x act_bits (linear in the product between "
        "Horowitz's INT8 and INT32 points) + add at the accumulator width (linear between INT8/16/32 adds); operands "
        "both >= 32 bits are a float ANN (FP32 3.7 + 0.9 pJ); AC = add at the accumulator width",
        "zero_skipping (default on, every method alike): event-driven ACs and zero-gated MACs (mac_nonzero)",
        "flops45nm_fp32 = the literature convention: E = 4.6*mac + 0.9*ac (FP32), dense MACs, event-driven ACs",
        "xnor/popcount (BNN) priced per bit at INT8 add / 8 each (an XNOR gate and a popcount full adder per bit)",
        "neuron_ops option: shift/mask/cmp priced as an integer add of the operand width (settable: bitop_pj); "
        "mod priced as a multiply (lower bound)",
        "memory option: every logical access (no reuse) priced as a b/64 share of a 64-bit read from the "
        "smallest SRAM (8 KB/32 KB/1 MB) holding that data, else DRAM; stored pre-activations (partial sums, "
        "membranes) at psum_bits for every method; fused activations write/read nothing",
        "OneSpike: groups are parallel work in one timestep, no membrane carried; the counts hold every group's "
        "work and this model has no weight-fetch term to share",
    )

    def validate_options(self) -> None:
        self.horowitz = Horowitz.from_table(self.table)
        if self.options["memory"] and self.options["psum_bits"] is None:
            raise ValueError(f"{self.table.path}: memory=True needs the width of stored pre-activations: add a "
                             "'psum_bits' constant (unit 'bit') to the table or pass psum_bits=...")

    def prices_membrane(self) -> bool:
        return bool(self.options["memory"])

    def zero_by_construction(self) -> dict[str, str]:
        out = super().zero_by_construction()
        if not self.options["neuron_ops"]:
            out.update(dict.fromkeys(NEURON_OP_EVENTS, "not priced: compute-only FLOP model of MACs and ACs "
                                     "(neuron_ops=True prices them; each ledger's report warns with the counts)"))
        if not self.options["memory"]:
            out.update(dict.fromkeys(MEMORY_EVENTS, "not priced: no memory term (memory=True prices every logical "
                                     "access; each ledger's report warns with the counts)"))
        return out

    # -- prices ----------------------------------------------------------------------------------
    def mult_pj(self, weight_bits: float = 32, act_bits: float = 32) -> float:
        """A multiply of a ``weight_bits`` by an ``act_bits`` operand (see the module docstring)."""
        p = self.options["precision"]
        if p != "native":
            return self.table.pj(PRECISIONS[p][0])
        return self.horowitz.mult_pj(weight_bits, act_bits)

    def add_pj(self, width: float = 32, floating: bool = False) -> float:
        """An add of ``width`` bits (the precision's add for a fixed precision; FP32 for a float ANN)."""
        p = self.options["precision"]
        if p != "native":
            return self.table.pj(PRECISIONS[p][1])
        if floating:
            return self.horowitz.fp32_add
        return self.int_add_pj(width)

    @property
    def width(self) -> int:
        p = self.options["precision"]
        return PRECISIONS[p][2] if p != "native" else 32

    def int_add_pj(self, width: float) -> float:
        """An integer add of ``width`` bits: linear through Horowitz's (8, 0.03), (16, 0.05), (32, 0.1 pJ)."""
        return self.horowitz.int_add_pj(width)

    def bit_op_pj(self) -> float:
        """One XNOR or one popcount input bit: an INT8 add / 8."""
        return self.horowitz.int8_add / 8

    def access_pj(self, data_bytes: float, access_bits: float) -> tuple[str, float]:
        """(level, pJ) of one ``access_bits``-wide access to a store of ``data_bytes``: ``on_chip``
        for the smallest SRAM class that holds it, else ``dram``."""
        word = self.table.value("memory_word_bits")
        for key in SRAM_CLASSES:
            if data_bytes <= self.table.constants[key].extra.get("capacity_bytes", 0):
                return "on_chip", self.table.pj(key) * access_bits / word
        return "dram", self.table.pj("dram") * access_bits / word

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        consumed = {"mac", "ac", "spikes", "xnor", "popcount"}
        t = self.table
        wb, ab = bits(layer.weight_bits, 32), bits(layer.act_bits, 32)
        acc = bits(layer.out_bits, t.value("accumulator_bits") if "accumulator_bits" in t.constants else 32)
        floating = wb >= FLOAT_BITS and ab >= FLOAT_BITS
        mac_pj = self.mult_pj(wb, ab) + self.add_pj(acc, floating)
        cost.add("compute", layer.mac * mac_pj + layer.ac * self.add_pj(acc) + (layer.xnor + layer.popcount)
                 * self.bit_op_pj())
        cost.details.update(mac_pj=mac_pj, ac_pj=self.add_pj(acc))
        if layer.mac + layer.ac + layer.xnor > 0:
            fixed = self.options["precision"]
            cost.applied.update(weight_bits=fixed if fixed != "native" else wb,
                                act_bits=fixed if fixed != "native" else ab,
                                accumulator_bits=fixed if fixed != "native" else ("fp32" if floating else acc))
        self.spike_event_cost(layer, cost)
        if self.options["neuron_ops"]:
            component = "neuron" if layer.kind == "neuron" else "compute"
            width = bits(layer.vmem_bits, bits(layer.act_bits, self.width))
            bitop = self.options["bitop_pj"] if self.options["bitop_pj"] is not None else self.int_add_pj(width)
            cost.add(component, layer.add * self.add_pj(width, width >= 32 and floating)
                     + (layer.mul + layer.mod) * self.mult_pj(width, width)
                     + (layer.shift + layer.mask + layer.cmp) * bitop)
            consumed |= set(NEURON_OP_EVENTS)
        if self.options["memory"]:
            self._memory(ledger, index, layer, cost)
            consumed |= set(MEMORY_EVENTS)
        return consumed

    def _memory(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost) -> None:
        fused, psum = self.options["fused_activation"], self.options["psum_bits"]
        if self.options["precision"] != "native":
            psum = self.width  # a fixed precision stores everything at that width
        wb = bits(layer.weight_bits, self.width)
        stored_in = stored_out = False  # whether the values read / written are stored pre-activations
        if layer.kind in SYNAPTIC_KINDS:
            ab = bits(layer.act_bits, self.width)
            skipped = fused and bool(layer.fused_into)
            if layer.fused_into:
                cost.applied["fused_activation"] = skipped
            reads, writes = layer.input_reads, 0.0 if skipped else layer.output_writes
            ob, stored_out = preactivation_bits(layer, psum), True
        else:
            ab = stored_bits(ledger, index, "in", psum)
            ob = stored_bits(ledger, index, "out", psum)
            reads = 0.0 if (layer.kind == "neuron" and fused_input(ledger, layer, fused)) else layer.input_reads
            writes = layer.output_writes
            stored_in = not layer.input_spiking and ab == psum
            stored_out = not layer.output_spiking and ob == psum and layer.kind != "neuron"
        vmem = layer.vmem_reads + layer.vmem_writes
        if self.options["if_dataflow"] == "time_inner" and layer.timesteps > 1 and vmem > 0:
            vmem = 2.0 * layer.neurons * layer.groups  # each membrane read and written once per inference
        terms = (
            ("weight_memory", layer.weight_reads, weight_count(layer) * wb / 8, wb, ""),
            ("activation_memory", reads, in_elements(layer) * ab / 8, ab, "psum_in" if stored_in else ""),
            ("activation_memory", writes, out_elements(layer) * ob / 8, ob, "psum_out" if stored_out else ""),
            ("membrane_memory", vmem, layer.neurons * psum / 8, psum, "membrane"),
        )
        for component, count, size, width, stored in terms:
            if count <= 0:
                continue
            level, pj = self.access_pj(size, width)
            cost.add(component, count * pj, level=level)
            on_chip, dram = (count, 0.0) if level == "on_chip" else (0.0, count)
            if stored == "membrane":
                cost.record_membrane(width, layer.neurons, on_chip, dram)
            elif stored:
                cost.record_psum(width, out_elements(layer) if stored == "psum_out" else 0.0, on_chip, dram)
        cost.details["membrane_accesses"] = vmem
