"""ZigZag-backed hardware models: ``zigzag:<template>`` and ``zigzag:path/to/accelerator.yaml``.

Per conv/linear record of a ledger (after the shared conventions, :mod:`energy_models.conventions`):

========================  ========================================================================
ZigZag layer              K = out_channels, C = synapses / (K x kernel) (a grouped conv's per-group
                          fan-in), OY x OX = the output map (a linear layer: 1 x positions), FY x
                          FX = kernel, strides and paddings as recorded; B = the record's parallel
                          ``groups`` (OneSpike's G groups are G-fold work of one timestep: a batch
                          of G sharing each weight fetch, mapped as such)
runs                      the record's sequential ``timesteps`` (an IF network's T steps are T runs
                          of its layer; the analog first layer once, or T times under
                          ``first_layer="per_step"``): energy and cycles x runs. Under
                          ``if_dataflow="time_inner"`` (a layer runs all its T steps before the
                          next layer) the T steps are one run with batch T x groups instead
precisions                I = 1 bit for spike inputs, else ``act_bits``; W = ``weight_bits``; O =
                          ``psum_bits`` (32 for a float layer); O_final = the fused activation's
                          width (1 for spikes, a QNN's ceil(log2(L+1))) or the stored
                          pre-activation width where the activation is not fused
energy                    ZigZag's per (memory level, operand) energy of the least-energy mapping
                          found: W -> ``weight_memory``, I and O -> ``activation_memory``, a level
                          of >= 128 MiB (DRAM, L3) -> the ``dram`` level; its MAC energy ->
                          ``compute``, x (W x I) / (8 x 8) under ``mac_width_scaling`` (the
                          template's unit energy is an 8 x 8-bit MAC's; an array multiplier has
                          W x I partial-product cells)
zero-gated variant        ``zero_skipping=True``: ``compute`` x the layer's counted active fraction
                          ((mac + ac + xnor) / dense ops, after the shared zero-gating convention);
                          data movement and cycles stay dense (ZigZag maps dense loop nests).
                          Default ``False``: dense, as ZigZag computes
cycles                    ZigZag's latency (``latency_total2``: compute, stalls, on/off-loading) x
                          runs, in ``details["cycles"]``; ``details["ideal_cycles"]``: MACs over
                          the array
========================  ========================================================================

**On top** (the toolkit's own rules, priced at the template's memories and Horowitz's 45 nm logic): a
synaptic record's own adds (bias) and mul/mod (a BNN's output scaling) at ``psum_bits``;
neuron, pool and residual records' add/cmp/shift/mask as integer adds and mul/mod as multiplies of
their width (``vmem_bits``, else ``psum_bits``; ``neuron``/``compute``); a membrane read and written
once per neuron per timestep for IF (``if_dataflow="time_outer"``; ``"time_inner"``: once per
inference), once per neuron for OneSpike, at ``psum_bits``; a neuron's output spikes/activations where
they do not leave a fused PE (ZigZag moved those as O_final), and every pool/residual record's reads
and writes at their stored widths. Each such tensor lives in the smallest memory of the template that
holds the output operand and the tensor's whole set for its lifetime (the placement rule by size), at
that memory's read/write energy per bit. Neuron, pool and residual records take no cycles (the
array's cycles dominate; they are not modelled). Every ZigZag layer is mapped standalone: its inputs
start and its outputs end at the template's top memory, as ZigZag's per-layer cost model has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from energy_models.base import TableModel, psum_option
from energy_models.conventions import convention_defaults
from energy_models.horowitz import Horowitz
from energy_models.layer_facts import (
    NEURON_OP_EVENTS,
    SYNAPTIC_KINDS,
    bits,
    dense_synaptic_ops,
    fused_activation_bits,
    fused_input,
    is_float_layer,
    kernel_area,
    out_elements,
    preactivation_bits,
    spike_input,
    stored_bits,
    weight_count,
)
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import FromTable, Option, flag, multiple_of
from energy_models.report import LayerCost
from energy_models.table import EnergyTable
from energy_models.zigzag.cache import MappingCache, mapping_key, template_key
from energy_models.zigzag.templates import PREFIX, TEMPLATES, require_zigzag, resolve

#: ZigZag operand -> the toolkit's component.
OPERAND_COMPONENT = {"W": "weight_memory", "I": "activation_memory", "O": "activation_memory"}
#: Events a synaptic record's ZigZag mapping accounts for.
SYNAPTIC_CONSUMED = ("mac", "ac", "xnor", "popcount", "add", "mul", "mod", "weight_reads", "input_reads",
                     "output_writes", "spikes")


def _pair(values: tuple[int, ...], default: int) -> tuple[int, int]:
    if not values:
        return default, default
    return (int(values[0]), int(values[-1])) if len(values) >= 2 else (int(values[0]), int(values[0]))


class ZigZagModel(TableModel):
    NAME = "zigzag"
    TABLE = "zigzag"
    REQUIRED = ("int8_mult", "int32_mult", "int8_add", "int16_add", "int32_add", "fp32_mult", "fp32_add",
                "template_mac_bits", "psum_bits")
    OPTIONAL = ()
    CONVENTIONS = convention_defaults(fused_activation=True, zero_skipping=False, if_dataflow="time_outer")
    OPTIONS: ClassVar[dict[str, Option]] = {
        "psum_bits": psum_option(FromTable("psum_bits"), "16, the templates' partial-sum registers"),
        "mac_width_scaling": Option("scale the template's 8 x 8-bit MAC energy by (W x I) / 64 at the widths that "
                                    "ran (False: every MAC at the template's unit energy)", True, flag),
        "max_orderings": Option("temporal loop orderings scored per layer (evenly spaced over LOMA's n! orderings "
                                "with one loop per dimension)", 48, multiple_of(1)),
    }
    ASSUMPTIONS = (
        "conv/linear layers: ZigZag's cost model on the template (one spatial mapping from the template's mapping "
        "file, the least-energy of a bounded LOMA temporal search); energy by memory level and operand, cycles",
        "an IF network's T steps are T runs of each layer (if_dataflow='time_inner': one run with batch T); "
        "OneSpike's G groups one run with batch G (sharing each weight fetch)",
        "operand widths as they ran: 1-bit spike inputs, the method's activation and weight bits, psum_bits partial "
        "sums; MAC energy scaled by (W x I) / (8 x 8) (mac_width_scaling)",
        "dense: ZigZag maps dense loop nests (zero_skipping=True scales the MAC energy by the counted active "
        "fraction; data movement and cycles stay dense)",
        "every layer mapped standalone: inputs start and outputs end at the template's top memory (DRAM)",
        "neurons, pooling and residual adds priced on top: Horowitz 45 nm logic at their widths, membranes and "
        "their tensors in the smallest template memory that holds them; no cycles",
    )

    def __init__(self, target: str = PREFIX + "eyeriss_like", table: EnergyTable | None = None,
                 name: str | None = None, cache_dir: Any = None, **options: Any) -> None:
        self.pipeline = require_zigzag(target)
        self.template, self.hardware_yaml, self.mapping_yaml = resolve(target)
        super().__init__(table=table, name=name or target, **options)
        self.horowitz = Horowitz.from_table(self.table)
        self.cache = MappingCache(cache_dir)
        self.template_key = template_key(self.hardware_yaml, self.mapping_yaml)
        self.levels = self.pipeline.memory_levels(self.hardware_yaml)

    def validate_options(self) -> None:
        if self.options["max_orderings"] < 2:
            raise ValueError(f"{self.name}: max_orderings = {self.options['max_orderings']!r}; at least 2 temporal "
                             "orderings must be scored per layer (default 48)")

    @property
    def provenance(self) -> dict[str, Any]:
        out = dict(super().provenance)
        shipped = TEMPLATES.get(self.template)
        own = shipped is not None and self.name == PREFIX + self.template
        what = shipped.description if own else self.hardware_yaml
        out.update(title=f"{out['title']}: {what}", template=self.template, accelerator=self.hardware_yaml,
                   mapping=self.mapping_yaml, memories=[level["name"] for level in self.levels])
        return out

    # -- the ZigZag layer of a record ----------------------------------------------------------
    def batch_and_runs(self, layer: LayerEvents) -> tuple[int, int]:
        """``(B, runs)``: parallel groups are a batch; sequential timesteps are runs (``time_outer``) or
        part of the batch (``time_inner``: the layer runs all its steps with its weights in place)."""
        if self.options["if_dataflow"] == "time_inner":
            return int(layer.groups) * int(layer.timesteps), 1
        return int(layer.groups), int(layer.timesteps)

    def shape(self, layer: LayerEvents) -> Any:
        K = max(1, int(layer.out_channels))
        area = int(kernel_area(layer))
        C = max(1, round(weight_count(layer) / (K * area))) if weight_count(layer) > 0 else max(1, layer.in_channels)
        if layer.kind == "conv" and len(layer.out_shape) >= 3:
            OY, OX = int(layer.out_shape[-2]), int(layer.out_shape[-1])
        else:
            OY, OX = 1, max(1, round(out_elements(layer) / K))
        FY, FX = _pair(layer.kernel_size, 1)
        SY, SX = _pair(layer.stride, 1)
        PY, PX = _pair(layer.padding, 0)
        return self.pipeline.LayerShape(K=K, C=C, OY=OY, OX=OX, FY=FY, FX=FX, B=self.batch_and_runs(layer)[0], SY=SY,
                                        SX=SX, PY=PY, PX=PX)

    def precisions(self, ledger: EventLedger, index: int, layer: LayerEvents) -> Any:
        psum = round(preactivation_bits(layer, self.options["psum_bits"]))
        act = 1 if spike_input(layer) else int(bits(layer.act_bits, 8))
        final = fused_activation_bits(ledger, layer, self.options["fused_activation"])
        return self.pipeline.Precisions(I=act, W=int(bits(layer.weight_bits, 8)), O=psum,
                                        O_final=round(final) if final is not None else psum)

    def mapped(self, shape: Any, precisions: Any) -> Any:
        """The (cached) ZigZag mapping of one layer shape at these widths on this template."""
        bounds = {"max_orderings": int(self.options["max_orderings"])}
        key = mapping_key(self.template_key, shape, precisions, bounds)
        entry = self.cache.get(key, lambda: self.pipeline.map_layer(
            self.hardware_yaml, self.mapping_yaml, shape, precisions, max_orderings=bounds["max_orderings"]).to_dict())
        return self.pipeline.Mapped.from_dict(entry)

    # -- the rules on top ----------------------------------------------------------------------
    def place(self, tensor_bits: float) -> dict[str, Any]:
        """The smallest template memory holding the output operand and ``tensor_bits`` (its top one if none)."""
        holders = [level for level in self.levels if "O" in level["operands"]]
        fitting = [level for level in holders if level["bits"] >= tensor_bits]
        return min(fitting, key=lambda level: level["bits"]) if fitting else holders[-1]

    def move(self, cost: LayerCost, component: str, reads: float, writes: float, width: float,
             tensor_bits: float) -> None:
        if reads + writes <= 0:
            return
        level = self.place(tensor_bits)
        pj = reads * width * level["read_pj_per_bit"] + writes * width * level["write_pj_per_bit"]
        cost.add(component, pj, level="dram" if level["off_chip"] else "on_chip")
        cost.details[f"{component}_level"] = level["name"]

    def logic(self, layer: LayerEvents, width: float) -> float:
        h = self.horowitz
        add = h.fp32_add if width >= 32 and is_float_layer(layer) else h.int_add_pj(width)
        mult = h.fp32_mult if width >= 32 and is_float_layer(layer) else h.int_mult_pj(width * width)
        return (layer.add + layer.cmp + layer.shift + layer.mask) * add + (layer.mul + layer.mod) * mult

    # -- pricing -------------------------------------------------------------------------------
    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        psum = self.options["psum_bits"]
        if layer.kind in SYNAPTIC_KINDS:
            return self.price_synaptic(ledger, index, layer, cost)
        if layer.kind == "neuron":
            width = bits(layer.vmem_bits, psum)
            cost.add("neuron", self.logic(layer, width))
            if layer.vmem_reads + layer.vmem_writes > 0:
                passes = 1 if self.options["if_dataflow"] == "time_inner" else layer.timesteps
                accesses = layer.neurons * passes
                self.move(cost, "membrane_memory", accesses, accesses, psum, layer.neurons * psum)
                cost.record_membrane(psum, layer.neurons, 2 * accesses)
            fused = fused_input(ledger, layer, self.options["fused_activation"])
            if not fused:
                a = stored_bits(ledger, index, "in", psum)
                self.move(cost, "activation_memory", layer.input_reads, 0.0, a, layer.neurons * a)
                out = stored_bits(ledger, index, "out", psum)
                self.move(cost, "activation_memory", 0.0, layer.output_writes, out, layer.neurons * out)
            return {*NEURON_OP_EVENTS, "vmem_reads", "vmem_writes", "input_reads", "output_writes", "weight_reads",
                    "spikes"}
        a, out = stored_bits(ledger, index, "in", psum), stored_bits(ledger, index, "out", psum)
        cost.add("compute", self.logic(layer, max(a, out)))
        self.move(cost, "activation_memory", layer.input_reads, 0.0, a, out_elements(layer) * a)
        self.move(cost, "activation_memory", 0.0, layer.output_writes, out, out_elements(layer) * out)
        return {*NEURON_OP_EVENTS, "input_reads", "output_writes", "spikes"}

    def price_synaptic(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost) -> set[str]:
        shape, precisions = self.shape(layer), self.precisions(ledger, index, layer)
        mapped = self.mapped(shape, precisions)
        runs = float(self.batch_and_runs(layer)[1])
        for level, by_operand in mapped.energy_pj.items():
            where = "dram" if level in mapped.off_chip_levels else "on_chip"
            for operand, pj in by_operand.items():
                cost.add(OPERAND_COMPONENT[operand], pj * runs, level=where)
                cost.details[f"zigzag_{level}_{operand}_pj"] = pj * runs
        scale = (precisions.W * precisions.I) / self.table.value("template_mac_bits") ** 2
        scale = scale if self.options["mac_width_scaling"] else 1.0
        dense = dense_synaptic_ops(layer)
        active = min(1.0, (layer.mac + layer.ac + layer.xnor) / dense) if dense > 0 else 1.0
        active = active if self.options["zero_skipping"] is True else 1.0
        cost.add("compute", mapped.mac_pj * runs * scale * active + layer.add * self.horowitz.int_add_pj(precisions.O)
                 + (layer.mul + layer.mod) * self.horowitz.int_mult_pj(precisions.O * precisions.O))
        cost.details.update(cycles=mapped.cycles * runs, ideal_cycles=mapped.ideal_cycles * runs, runs=runs,
                            batch=float(shape.B), utilization=mapped.utilization, zigzag_macs=float(shape.macs) * runs,
                            orderings_scored=float(mapped.orderings_scored), active_fraction=active,
                            mac_scale=scale)
        cost.applied.update(weight_bits=float(precisions.W), act_bits=float(precisions.I),
                            accumulator_bits=float(precisions.O))
        if layer.fused_into:
            cost.applied["fused_activation"] = self.options["fused_activation"]
        return set(SYNAPTIC_CONSUMED)


def latency_cycles(report: Any) -> float | None:
    """Cycles per inference of a priced report: the sum of its layers' ``details["cycles"]`` where the
    model provides them (the ZigZag models), else None."""
    values = [layer.details["cycles"] for layer in report.layers if "cycles" in layer.details]
    return float(sum(values)) if values else None
