"""``spikesim``: SpikeSim, a compute-in-memory (crossbar) SNN accelerator (Moitra et al., TCAD 2023).

Dense mode reproduces the reference code (``ela_spikesim.py``, ``compute_energy``). For a conv
layer with C_in input and C_out output channels, kernel k_h x k_w, crossbar size X (64), output
H_out x W_out and T timesteps::

    PE cycles     = ceil(C_in/X) * ceil(C_out/X) * H_out * W_out * T            (per sample)
    E per cycle   = patch_control + neuron + (X/8) * k_h * k_w * E_xbar
    patch_control = htree + mem_fetch + tile_buffer + (X/8)*16*sub + (X/8)*temp_buffer + (X/8)^2*(adc + mux)

(X=64, k=3, RRAM: 828.5 pJ per PE cycle.) Independent of spike activity. As in the reference, a
layer whose output is reused by every step (an IF network's analog first layer, counted once with
``repeat_steps`` = T) is recomputed for each (``first_layer="per_step"``, the default here), and so is
OneSpike's, reused by its G groups: one rule for every method (``"once"`` prices both as counted). A
crossbar's word lines take one input bit per read: a multi-bit input (pixels, a QNN's activations,
an ANN's) is read bit-serially, one crossbar read per bit of its width, up to ``analog_input_bits``
(8) for every method alike (``bit_serial_analog=True``, default; a wider input, FP32, is read as
8-bit fixed point, said in the warnings); spikes take one read. ``bit_serial_analog=False`` (model
``spikesim_one_read``) is the reference code's one read per input whatever its width, which has only
spiking layers. A linear layer is a 1x1
conv on a 1x1 map (C_in = in_features). Component split: crossbar and subtractors -> ``compute``;
ADC, MUX and neuron -> ``neuron``; H-tree -> ``interconnect``; tile buffer, temp buffer and memory
fetch -> ``activation_memory``. Weights live in the crossbars (no ``weight_memory``); membrane
potentials are inside the reference's neuron cost (no ``membrane_memory``).

Zero-skipping (``zero_skipping=True``, model ``spikesim_event``; alias ``mode="event"``): crossbar and
ADC energy scaled by the fraction of active (non-zero) input rows, ``input_nonzero / input_elements``
of the layer, for spike and non-spike inputs alike (dense where not recorded, with a warning).
``spike_event_pj`` (default 0) adds a per-spike routing energy (``interconnect``).

OneSpike: the G groups are G crossbar reads in one timestep (same weights, no reload, no membrane
carried), so PE cycles x G; the neuron module runs PSG once per neuron with G outputs (neuron energy
of cycles / G). Neuron records are covered by the per-cycle neuron cost (not priced twice); pool and
residual records have no cost in the reference: their adds are listed in ``warnings``. A binary
(BNN) layer's ``xnor``/``popcount`` are its crossbar reads: the +-1 input applied as one 1-bit read
per step, the +-1 weights as differential cell pairs, the popcount in the ADC (an assumption).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

from energy_models.base import TableModel
from energy_models.conventions import convention_defaults
from energy_models.layer_facts import NEURON_OP_EVENTS, SYNAPTIC_KINDS, active_input_fraction, spatial, spike_input
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, choice, flag, multiple_of
from energy_models.report import LayerCost

#: Why the neuron record's own events cost nothing extra here.
_IN_NEURON_COST = ("inside the reference's fixed neuron energy per PE cycle (neuron_unit x neuron_count): the "
                   "neuron's logic (IF update, PSG's running sum, mask, shift, mul and mod) adds nothing per event")


class SpikeSim(TableModel):
    NAME = "spikesim"
    TABLE = "spikesim"
    OPTIONAL = ()  # every constant it reads is REQUIRED
    REQUIRED = (
        "xbar_size", "tile_buffer", "temp_buffer", "subtractor", "adc", "mux", "htree_unit", "htree_count",
        "mem_fetch", "neuron_unit", "neuron_count", "xbar_rram", "xbar_sram", "analog_input_bits",
    )
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=False, first_layer="per_step")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "device": Option("crossbar cells: 'rram' or 'sram'", "rram", choice("rram", "sram")),
        "xbar_size": Option("crossbar rows/columns X (a multiple of 8)", FromTable("xbar_size"), multiple_of(8)),
        "bit_serial_analog": Option("read non-spike inputs bit-serially, min(act_bits, 8) crossbar reads", True,
                                    flag),
    }
    ZERO_BY_CONSTRUCTION: ClassVar[dict[str, str]] = {
        **dict.fromkeys(NEURON_OP_EVENTS, _IN_NEURON_COST),
        "vmem_reads": "membrane inside the reference's neuron cost",
        "vmem_writes": "membrane inside the reference's neuron cost",
        "popcount": "a binary layer's popcount is its ADC read (priced per PE cycle)",
    }
    PRICES_SPIKE_EVENTS = True
    ASSUMPTIONS = (
        "dense mode = reference ela_spikesim.py: PE cycles = ceil(C_in/X)*ceil(C_out/X)*H_out*W_out*T, a fixed energy "
        "per PE cycle independent of spike activity",
        "first layer per step (the reference) for a layer reused over sequential timesteps (IF), once for one "
        "reused by parallel groups (OneSpike) or first_layer=once; every input one crossbar read per step "
        "(the reference) unless bit_serial_analog=True (min(act_bits, 8) reads for non-spike inputs)",
        "zero_skipping (spikesim_event): crossbar and ADC energy scaled by the layer's active input fraction, "
        "spikes and activations alike",
        "binary (BNN) layers: one 1-bit crossbar read of the +-1 input per step, weights as differential pairs",
        "OneSpike: G groups = G crossbar reads in one timestep with the same weights (no reload, no membrane "
        "carried); PSG neuron once per neuron with G outputs",
        "weights stay in the crossbars; membrane inside the neuron cost; pooling/residual adds not modelled",
    )

    def resolve_aliases(self, options: dict[str, Any]) -> dict[str, Any]:
        if "mode" in options:
            event = choice("dense", "event")("mode", options.pop("mode")) == "event"
            if "zero_skipping" in options and options["zero_skipping"] != event:
                raise ValueError("spikesim: mode and zero_skipping disagree; give zero_skipping only")
            options["zero_skipping"] = event
        return options

    def cycle_energy(self, kernel: float) -> dict[str, float]:
        """Energy per PE cycle, by part (pJ), for a kernel of ``kernel`` = k_h*k_w taps."""
        t, x8 = self.table, self.options["xbar_size"] / 8
        xbar = t.pj("xbar_rram" if self.options["device"] == "rram" else "xbar_sram")
        return {
            "htree": t.pj("htree_unit") * t.value("htree_count"),
            "mem_fetch": t.pj("mem_fetch"),
            "tile_buffer": t.pj("tile_buffer"),
            "subtractor": x8 * 16 * t.pj("subtractor"),
            "temp_buffer": x8 * t.pj("temp_buffer"),
            "adc": x8 * x8 * t.pj("adc"),
            "mux": x8 * x8 * t.pj("mux"),
            "neuron": t.pj("neuron_unit") * t.value("neuron_count"),
            "crossbar": x8 * kernel * xbar,
        }

    def pe_cycles(self, layer: LayerEvents) -> float:
        """Reference PE cycles of one step (one group, one input bit) for a conv/linear record."""
        x = self.options["xbar_size"]
        hw = spatial(layer.out_shape) if layer.kind == "conv" else 1.0
        return math.ceil(layer.in_channels / x) * math.ceil(layer.out_channels / x) * hw

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        consumed = {"spikes", "add", "vmem_reads", "vmem_writes", *NEURON_OP_EVENTS,
                    "output_writes", "input_reads"} if layer.kind == "neuron" else {"spikes"}
        self.spike_event_cost(layer, cost)
        if layer.kind not in SYNAPTIC_KINDS:
            return consumed
        if layer.in_channels <= 0 or layer.out_channels <= 0:
            warnings.append(f"spikesim: layer {layer.name!r} has no in/out channel counts; not priced")
            return consumed
        kernel = (layer.kernel_size[0] * layer.kernel_size[-1]) if layer.kernel_size else 1
        planes = 1.0
        if not spike_input(layer) and self.options["bit_serial_analog"]:
            cap = self.table.value("analog_input_bits")
            planes = min(float(layer.act_bits or cap), cap)
            if layer.act_bits > cap:
                warnings.append(f"{self.name}: inputs wider than {cap:g} bits (FP32 pixels or activations) are read as "
                                f"{cap:g}-bit fixed point, the crossbar's bit-serial input precision; a floating-point "
                                "layer cannot run on a crossbar as such")
        cycles = self.pe_cycles(layer) * layer.timesteps * layer.groups * planes
        parts = self.cycle_energy(kernel)
        active = 1.0
        zs = self.options["zero_skipping"]
        if zs is True or (zs == "spikes_only" and spike_input(layer)):
            fraction = active_input_fraction(layer)
            if fraction is None:
                warnings.append(f"spikesim zero-skipping: layer {layer.name!r} records no input activity; priced dense")
            else:
                active = fraction
        neuron_cycles = cycles / layer.groups  # PSG once per neuron with G outputs (G = 1 otherwise)
        cost.add("compute", cycles * (parts["crossbar"] * active + parts["subtractor"]))
        cost.add("neuron", cycles * (parts["adc"] * active + parts["mux"]) + neuron_cycles * parts["neuron"])
        cost.add("interconnect", cycles * parts["htree"])
        cost.add("activation_memory", cycles * (parts["tile_buffer"] + parts["temp_buffer"] + parts["mem_fetch"]))
        cost.details.update(pe_cycles=cycles, active_fraction=active, input_bit_planes=planes)
        cost.applied.update(act_bits=f"{planes:g} read(s)/step", weight_fetch="in the crossbars")
        return {"mac", "ac", "spikes", "weight_reads", "input_reads", "output_writes", "add", "xnor", "popcount"}
