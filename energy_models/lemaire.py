"""``lemaire``: the memory-aware analytical model of Lemaire et al., ICONIP 2022 (arXiv 2210.13107).

E_add = 0.1 pJ, E_mul = 3.1 pJ (Horowitz int32); a memory access to a store of N elements of b
bits costs E_RAM(N, b) = 1.09e-5 * N * b + 13.2 pJ. With theta_in input spikes and theta_out output
spikes per inference, a spiking conv layer (C_out channels, k x k kernel, stride S, H_out x W_out
output, T = timesteps x groups neuron updates per neuron) costs:

- weight reads ``theta_in * C_out * k^2`` at E_RAM(weights, weight_bits)      -> ``weight_memory``
- potential writes ``theta_in * C_out * k^2 + C_out * H_out * W_out`` at
  E_RAM(C_out * H_out * W_out, vmem bits)                                       -> ``membrane_memory``
- accumulates ``theta_in * ceil(k/S)^2 * C_out`` (synaptic)                     -> ``compute``
  and ``T * C_out * H_out * W_out + theta_out`` (leak/threshold, reset)         -> ``neuron``
- addressing ``2 theta_in`` MACs + ``theta_in * k^2`` adds                     -> ``interconnect``
- input reads ``theta_in`` and output writes ``theta_out`` (1-bit events) at
  E_RAM(input / output map size, 1)                                            -> ``activation_memory``

``zero_skipping`` (default True): theta_in is the counted input spikes and ANN layers perform
``mac_nonzero`` MACs; False: theta_in = every input slot (``input_elements``) and dense MACs. Binary
(BNN) layers are ANN layers whose ``xnor`` and ``popcount`` bits cost E_add/32 each (a 1-bit slice of
the int32 adder: an assumption) and read a 1-bit weight per xnor. An ANN layer's output is written at
the fused activation's width (``fused_activation``); otherwise its output (a partial sum, or the
current into an SNN's potentials) and every spiking potential are stored at ``psum_bits``, one width
for every method (default 32: Lemaire's int32 data). ``spike_event_pj`` (default
0) adds a routing energy per emitted spike (``interconnect``).

A fully connected layer uses N_out in place of C_out * k^2 (and of ceil(k/S)^2 * C_out). theta_in
is the layer's ``input_nonzero`` (estimated from ``ac`` with a warning when not recorded); theta_out
is the ``spikes`` of the next neuron record. Layers without spike input (the first layer, ANNs)
are ANN layers: ``mac`` multiply-adds (E_mul + E_add scaled from INT32 to the operand widths that ran
by Horowitz's curves: an array multiplier's w x a, FP32 for a float layer), every weight read once
per MAC, each input read and each output written once per step (outputs into potentials for SNN
methods). Neuron records are covered by the layer terms above; pool/residual adds are priced as adds
(their memory is not modelled: warned).

OneSpike: groups are parallel work in one timestep with no membrane carried; theta counts every
group's spikes and T = G updates per neuron (the formula has no weight-fetch sharing: weights are
read per spike, as for any SNN in this model).
"""

from __future__ import annotations

import math
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
    fused_activation_bits,
    in_elements,
    is_float_operands,
    kernel_area,
    out_elements,
    preactivation_bits,
    spike_input,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option
from energy_models.report import LayerCost

_IN_LAYER_TERMS = ("covered by the synaptic layer's terms (potential writes, T*n + theta_out neuron adds): the "
                   "neuron's own logic (PSG's running sum, mask, shift, mul and mod) adds nothing per event")


class Lemaire(TableModel):
    NAME = "lemaire"
    TABLE = "lemaire"
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = ("e_add", "e_mul", "ram_per_element_bit", "ram_offset", "data_bits")
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=True)
    OPTIONS: ClassVar[dict[str, Option]] = {
        "psum_bits": psum_option(FromTable("data_bits"), "32, Lemaire et al.'s int32 data"),
    }
    ZERO_BY_CONSTRUCTION: ClassVar[dict[str, str]] = dict.fromkeys(
        (*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes"), "of a neuron record: " + _IN_LAYER_TERMS)
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "Lemaire et al. 2022 formulas: per-spike weight reads and potential writes, E_RAM = 1.09e-5*N*b + 13.2 pJ",
        "int32 arithmetic (E_add 0.1, E_mul 3.1 pJ), a MAC scaled to the widths that ran by Horowitz's width curves "
        "(FP32 multiply and add for a float layer); 32-bit data where the ledger records no width; stored "
        "pre-activations (partial sums, potentials) at psum_bits (32) for every method",
        "ANN layers read every weight once per MAC; inputs read and outputs written once per step",
        "zero_skipping (default): counted input spikes and zero-gated MACs; BNN xnor/popcount bits at E_add/32",
        "OneSpike: groups are parallel work in one timestep, no membrane carried; every group's spikes counted",
    )

    def e_ram(self, elements: float, width: float) -> float:
        t = self.table
        return t.pj("ram_per_element_bit") * elements * width + t.pj("ram_offset")

    def prepare(self, ledger: EventLedger, warnings: list[str]) -> None:
        # theta_out of each synaptic layer: the spikes of the first neuron record after it
        self.theta_out: dict[int, float] = {}
        pending: int | None = None
        for i, layer in enumerate(ledger.layers):
            if layer.kind in SYNAPTIC_KINDS:
                pending = i
                self.theta_out[i] = 0.0
            elif layer.kind == "neuron" and pending is not None:
                self.theta_out[pending] = layer.spikes
                pending = None

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        t = self.table
        e_add, e_mul, db = t.pj("e_add"), t.pj("e_mul"), t.value("data_bits")
        consumed = {"spikes"}
        self.spike_event_cost(layer, cost)
        if layer.kind not in SYNAPTIC_KINDS:
            if layer.kind == "neuron":
                return consumed | {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "input_reads", "output_writes"}
            cost.add("compute", layer.add * e_add + (layer.mul + layer.mod) * e_mul)
            return consumed | {"add", "mul", "mod"}
        consumed |= {"mac", "ac", "add", "weight_reads", "input_reads", "output_writes", "xnor", "popcount"}
        wb = bits(layer.weight_bits, db)
        W = weight_count(layer)
        n_out = out_elements(layer)
        steps = layer.timesteps * layer.groups
        vb = preactivation_bits(layer, self.options["psum_bits"])
        if layer.fused_into:
            cost.applied["fused_activation"] = self.options["fused_activation"]
        if not spike_input(layer):
            ab = bits(layer.act_bits, db)
            membrane = feeds_membrane(ledger, index)
            activation = None if membrane else fused_activation_bits(ledger, layer, self.options["fused_activation"])
            ob = vb if activation is None else activation
            h, floating = horowitz_45nm(), is_float_operands(wb, ab)
            # Lemaire's E_mul/E_add are Horowitz's INT32 ops: scaled to the widths that ran (FP32 for a float layer)
            mac_pj = e_mul * h.mult_factor(wb, ab, db, db) + e_add * h.add_factor(db, db, floating)
            cost.details["mac_pj"] = mac_pj
            cost.add("compute", layer.mac * mac_pj + layer.add * e_add
                     + (layer.xnor + layer.popcount) * e_add / db)
            cost.add("weight_memory", (layer.mac + layer.xnor) * self.e_ram(W, wb))
            cost.add("activation_memory", in_elements(layer) * steps * self.e_ram(in_elements(layer), ab))
            target = "membrane_memory" if membrane else "activation_memory"
            cost.add(target, n_out * steps * self.e_ram(n_out, ob))
            cost.applied.update(weight_bits=wb, act_bits=ab, accumulator_bits=db)
            if membrane:
                cost.record_membrane(vb, n_out, steps * n_out)
            elif activation is None:
                cost.record_psum(vb, n_out, steps * n_out)
            return consumed
        if layer.input_elements > 0:
            theta_in = layer.input_nonzero if self.options["zero_skipping"] is not False else layer.input_elements
        else:
            reach = layer.out_channels * kernel_area(layer) / max(1, layer.stride[0] if layer.stride else 1) ** 2 \
                if layer.kind == "conv" else n_out
            theta_in = layer.ac / reach if reach > 0 else 0.0
            warnings.append(f"lemaire: layer {layer.name!r} records no input activity; input spikes estimated from ac")
        theta_out = self.theta_out.get(index, 0.0)
        if layer.kind == "conv":
            k = math.sqrt(kernel_area(layer))
            s = layer.stride[0] if layer.stride else 1
            c_out = float(layer.out_channels)
            fan_out = c_out * k * k
            synaptic_adds = theta_in * math.ceil(k / s) ** 2 * c_out
            address_adds = theta_in * k * k
        else:
            fan_out = n_out
            synaptic_adds = theta_in * n_out
            address_adds = theta_in
        weight_reads = theta_in * fan_out
        potential_writes = theta_in * fan_out + n_out
        cost.add("weight_memory", weight_reads * self.e_ram(W, wb))
        cost.add("membrane_memory", potential_writes * self.e_ram(n_out, vb))
        cost.add("compute", synaptic_adds * e_add + layer.add * e_add)
        cost.add("neuron", (steps * n_out + theta_out) * e_add)
        cost.add("interconnect", 2 * theta_in * (e_mul + e_add) + address_adds * e_add)
        cost.add("activation_memory", theta_in * self.e_ram(in_elements(layer), 1) + theta_out * self.e_ram(n_out, 1))
        cost.details.update(theta_in=theta_in, theta_out=theta_out, weight_reads=weight_reads,
                            potential_writes=potential_writes)
        cost.applied.update(weight_bits=wb, act_bits=1.0, accumulator_bits=db)
        cost.record_membrane(vb, n_out, potential_writes)
        return consumed
