"""``flops45nm``: the FLOP energy model most SNN papers use (Horowitz, ISSCC 2014, 45 nm).

Default (compute only, as in the OneSpike paper and most SNN papers)::

    E = E_MAC * mac + E_AC * ac,   E_MAC = mult + add = 4.6 pJ,  E_AC = add = 0.9 pJ   (FP32)

Nothing else is priced; the report warns which ledger events were left out. Our ``ac`` is the
exact count of what the literature estimates as firing rate x T x dense ops.

Options (same table):

- ``precision`` (``"fp32"``, ``"fp16"``, ``"int32"``, ``"int8"``): MAC = mult + add at that width,
  AC = add at that width.
- ``neuron_ops=True``: also price ``add`` at the precision's add, ``mul`` and ``mod`` at its
  multiply (a modulus by a non-power-of-two is at least a multiply: a lower bound), ``shift``,
  ``mask`` and ``cmp`` as an integer add of the operand width (``vmem_bits``, else ``out_bits``,
  else the precision's width): 8 bits -> INT8 add, <= 16 -> INT16 add, else INT32 add. A shift by
  a constant is wiring; a variable shift is a barrel shifter, about an add: ``bitop_pj`` sets
  another price for shift/mask/cmp. ``xnor``/``popcount`` are priced per bit at INT8 add / 8
  (derived: a ripple adder's energy is linear in width). Ops of ``neuron`` records go to the
  ``neuron`` component, all others to ``compute``.
- ``memory=True``: every *logical* access of the ledger (no dataflow reuse: each weight read per
  use, each input read per use) is priced as a read of the SRAM size class that holds the data:
  the smallest of 8 KB / 32 KB / 1 MB that fits the layer's weights (``synapses x weight_bits``),
  input map, output map or membrane potentials (``neurons x vmem_bits``); larger data comes from
  DRAM (``dram`` component). A b-bit access costs b/64 of the 64-bit word energy.

OneSpike: the groups are parallel work in one timestep; nothing is carried between steps, and the
ledger's counts already hold every group's work, so no extra term is needed: G groups cost what G
steps cost in this model (it has no notion of time or weight fetch).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from energy_models.base import (
    MEMORY_EVENTS,
    TableModel,
    bits,
    check_choice,
    check_nonneg,
    in_elements,
    out_elements,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
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
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = (
        *(k for v in PRECISIONS.values() for k in v[:2]), "int16_add", *SRAM_CLASSES, "dram", "memory_word_bits",
    )
    ASSUMPTIONS = (
        "compute only by default: E = E_MAC*mac + E_AC*ac (FP32: 4.6 and 0.9 pJ); every other event unpriced",
        "precision option: MAC = mult + add, AC = add at that width (Horowitz 45 nm)",
        "neuron_ops option: shift/mask/cmp priced as an integer add of the operand width (settable: bitop_pj); "
        "mod priced as a multiply (lower bound); xnor/popcount per bit at INT8 add / 8",
        "memory option: every logical access (no reuse) priced as a b/64 share of a 64-bit read from the "
        "smallest SRAM (8 KB/32 KB/1 MB) holding that data, else DRAM",
        "OneSpike: groups are parallel work in one timestep, no membrane carried; the counts hold every group's "
        "work and this model has no weight-fetch term to share",
    )

    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - {"precision", "memory", "neuron_ops", "bitop_pj"})
        if unknown:
            raise ValueError(f"flops45nm: unknown option(s) {unknown}; options: precision, memory, neuron_ops, "
                             "bitop_pj")
        out = {
            "precision": check_choice("precision", options.get("precision", "fp32"), list(PRECISIONS)),
            "memory": bool(options.get("memory", False)),
            "neuron_ops": bool(options.get("neuron_ops", False)),
            "bitop_pj": None if options.get("bitop_pj") is None else check_nonneg("bitop_pj", options["bitop_pj"]),
        }
        return out

    # -- prices ----------------------------------------------------------------------------------
    @property
    def mult_pj(self) -> float:
        return self.table.pj(PRECISIONS[self.options["precision"]][0])

    @property
    def add_pj(self) -> float:
        return self.table.pj(PRECISIONS[self.options["precision"]][1])

    @property
    def width(self) -> int:
        return PRECISIONS[self.options["precision"]][2]

    def int_add_pj(self, width: float) -> float:
        """An integer add of ``width`` bits (INT8/16/32 classes; wider scales linearly from INT32)."""
        if width <= 8:
            return self.table.pj("int8_add")
        if width <= 16:
            return self.table.pj("int16_add")
        return self.table.pj("int32_add") * max(1.0, width / 32)

    def access_pj(self, data_bytes: float, access_bits: float) -> tuple[str, float]:
        """(component class, pJ) of one ``access_bits``-wide access to a store of ``data_bytes``."""
        word = self.table.value("memory_word_bits")
        for key in SRAM_CLASSES:
            if data_bytes <= self.table.constants[key].extra.get("capacity_bytes", 0):
                return "sram", self.table.pj(key) * access_bits / word
        return "dram", self.table.pj("dram") * access_bits / word

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        consumed = {"mac", "ac", "spikes"}
        cost.add("compute", layer.mac * (self.mult_pj + self.add_pj) + layer.ac * self.add_pj)
        if self.options["neuron_ops"]:
            component = "neuron" if layer.kind == "neuron" else "compute"
            width = bits(layer.vmem_bits, bits(layer.out_bits, self.width))
            bitop = self.options["bitop_pj"] if self.options["bitop_pj"] is not None else self.int_add_pj(width)
            cost.add(component, layer.add * self.add_pj + (layer.mul + layer.mod) * self.mult_pj
                     + (layer.shift + layer.mask + layer.cmp) * bitop)
            cost.add("compute", (layer.xnor + layer.popcount) * self.table.pj("int8_add") / 8)
            consumed |= {"add", "mul", "mod", "shift", "mask", "cmp", "xnor", "popcount"}
        if self.options["memory"]:
            wb = bits(layer.weight_bits, self.width)
            ab = bits(layer.act_bits, self.width)
            ob = bits(layer.out_bits, self.width)
            vb = bits(layer.vmem_bits, self.width)
            terms = (
                ("weight_memory", layer.weight_reads, weight_count(layer) * wb / 8, wb),
                ("activation_memory", layer.input_reads, in_elements(layer) * ab / 8, ab),
                ("activation_memory", layer.output_writes, out_elements(layer) * ob / 8, ob),
                ("membrane_memory", layer.vmem_reads + layer.vmem_writes, layer.neurons * vb / 8, vb),
            )
            for component, count, size, width in terms:
                if count <= 0:
                    continue
                where, pj = self.access_pj(size, width)
                cost.add("dram" if where == "dram" else component, count * pj)
            consumed |= set(MEMORY_EVENTS)
        return consumed
