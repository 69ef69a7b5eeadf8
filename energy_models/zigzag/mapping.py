"""A lean ZigZag mapping pipeline: one layer, one spatial mapping, a bounded temporal search.

ZigZag's own API (``get_hardware_performance_zigzag``) runs a stack of stages that parse an ONNX or
YAML workload, generate several spatial mappings, score every temporal loop ordering LOMA generates
(5,040 for a small conv at the default ``lpf_limit``), and dump JSON, pickles and figures: 10-24 s
per small conv layer. This module composes the same stages' parts directly:

1. the accelerator is parsed once per template file (:func:`accelerator`);
2. the layer is made by ZigZag's own ``LayerNodeFactory`` from a workload dict (:func:`layer_dict`);
3. **one** spatial mapping: the template mapping's unrolling, completed and reduced to the layer and
   the array by ``SpatialMappingGeneratorStage`` with ``nb_mappings_generated=1`` and converted by
   ``SpatialMappingConversionStage``;
4. a **bounded** temporal search: LOMA's loop prime factors merged down to one loop per dimension
   (``lpf_limit`` = the number of temporal dimensions, so at most n! orderings), of which at most
   ``max_orderings`` evenly spaced ones are allocated to the memories and scored by ZigZag's
   ``CostModelEvaluation``; the one of least energy is kept (latency breaks ties);
5. no result is written anywhere: :func:`map_layer` returns a plain :class:`Mapped` record.

This module imports ZigZag at its top: it is loaded only when a ``zigzag:`` model is built
(:func:`energy_models.zigzag.templates.require_zigzag`).
"""

from __future__ import annotations

import functools
import itertools
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from zigzag.cost_model.cost_model import CostModelEvaluation
from zigzag.hardware.architecture.accelerator import Accelerator
from zigzag.hardware.architecture.imc_array import ImcArray
from zigzag.mapping.temporal_mapping import TemporalMappingType
from zigzag.opt.loma.engine import LomaEngine
from zigzag.opt.loma.memory_allocator import MemoryAllocator, MemoryHierarchyTooSmallException, MemoryTooSmallException
from zigzag.parser.workload_factory import LayerNodeFactory
from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
from zigzag.stages.mapping.spatial_mapping_conversion import SpatialMappingConversionStage
from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
from zigzag.stages.parser.workload_parser import WorkloadParserStage

#: ZigZag logs every reduced unrolling at INFO/WARNING level; a pricing says what it did in its report.
logging.getLogger("zigzag").setLevel(logging.ERROR)

#: ZigZag's layer operands and the workload-file names of their precisions.
OPERANDS: tuple[str, ...] = ("W", "I", "O")
#: A memory at least this large (bits, 128 MiB) is off chip: every shipped template's DRAM/L3 is 10^10 bits.
OFF_CHIP_BITS = 2**30
#: The stages are used for their methods, never run: their constructors want a leaf stage to hand on to.
LEAF = [CostModelStage]


@dataclass(frozen=True)
class LayerShape:
    """A conv/linear layer as ZigZag's loop nest: ``B`` (a batch: OneSpike's parallel groups), output
    channels ``K``, input channels per output ``C``, output map ``OY`` x ``OX``, kernel ``FY`` x ``FX``,
    strides and paddings."""

    K: int
    C: int
    OY: int = 1
    OX: int = 1
    FY: int = 1
    FX: int = 1
    B: int = 1
    SY: int = 1
    SX: int = 1
    PY: int = 0
    PX: int = 0

    def __post_init__(self) -> None:
        for name in ("K", "C", "OY", "OX", "FY", "FX", "B", "SY", "SX"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"layer shape {name} = {getattr(self, name)!r}; every loop size must be >= 1")

    @property
    def macs(self) -> int:
        return self.B * self.K * self.C * self.OY * self.OX * self.FY * self.FX


@dataclass(frozen=True)
class Precisions:
    """Operand widths (bits) ZigZag moves: input ``I`` (1 for spikes), weight ``W``, partial sum ``O``
    and the final output ``O_final``."""

    I: int
    W: int
    O: int
    O_final: int

    def __post_init__(self) -> None:
        for name in ("I", "W", "O", "O_final"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"precision {name} = {getattr(self, name)!r}; every operand width must be >= 1 bit")


@dataclass
class Mapped:
    """What one mapping of a layer costs: ``energy_pj`` per ``(memory level, operand)`` (operand
    ``W``, ``I`` or ``O``; level by its template name), ``mac_pj``, ``cycles`` (ZigZag's total
    latency, with data on/off-loading and stalls), ``ideal_cycles`` (the MACs over the whole array),
    ``utilization`` (spatial), the spatial mapping and temporal ordering kept, and how many orderings
    were scored of how many there are."""

    energy_pj: dict[str, dict[str, float]]
    mac_pj: float
    cycles: float
    ideal_cycles: float
    utilization: float
    spatial: str
    temporal: str
    orderings_scored: int
    orderings_total: int
    off_chip_levels: list[str] = field(default_factory=list)

    @property
    def total_pj(self) -> float:
        return self.mac_pj + sum(sum(by_op.values()) for by_op in self.energy_pj.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mapped:
        return cls(**data)


@functools.lru_cache(maxsize=32)
def accelerator(hardware_yaml: str) -> Accelerator:
    """The accelerator of a ZigZag hardware YAML file, parsed and validated once per process."""
    try:
        return AcceleratorParserStage.parse_accelerator(hardware_yaml)
    except (ValueError, AssertionError, KeyError, TypeError) as error:
        raise ValueError(f"ZigZag could not read the accelerator {hardware_yaml}: {error}") from error


@functools.lru_cache(maxsize=32)
def mapping_data(mapping_yaml: str) -> tuple[dict[str, Any], ...]:
    """The validated entries of a ZigZag mapping YAML file, read once per process."""
    return tuple(WorkloadParserStage.parse_mapping_data(mapping_yaml))


def memory_levels(hardware_yaml: str) -> list[dict[str, Any]]:
    """The template's memories, innermost first: ``name``, ``bits`` (capacity), ``operands`` (the
    layer operands it holds: ``W``/``I``/``O``), ``read_pj_per_bit`` and ``write_pj_per_bit`` (an
    access's energy over the port's widest bandwidth), ``off_chip`` (:data:`OFF_CHIP_BITS`)."""
    names = {"I1": "I", "I2": "W", "O": "O"}
    out = []
    for level in accelerator(hardware_yaml).memory_hierarchy.mem_level_list:
        widths = [port.bw_max for port in level.memory_instance.ports if port.bw_max]
        width = max(widths) if widths else 1
        out.append({"name": level.name, "bits": float(level.memory_instance.size),
                    "operands": sorted(names[str(op)] for op in level.operands if str(op) in names),
                    "read_pj_per_bit": level.read_energy / width, "write_pj_per_bit": level.write_energy / width,
                    "off_chip": level.memory_instance.size >= OFF_CHIP_BITS})
    return out


def layer_dict(shape: LayerShape, precisions: Precisions) -> dict[str, Any]:
    """The ZigZag workload entry of a conv (or, with a 1 x 1 map and kernel, a linear) layer."""
    return {
        "id": 0, "name": "layer", "operator_type": "Conv",
        "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
        "dimension_relations": [f"ix={shape.SX}*ox+1*fx", f"iy={shape.SY}*oy+1*fy"],
        "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
        "loop_sizes": [shape.B, shape.K, shape.C, shape.OY, shape.OX, shape.FY, shape.FX],
        "operand_precision": {"I": precisions.I, "W": precisions.W, "O": precisions.O, "O_final": precisions.O_final},
        "operand_source": {"I": 0},
        "pr_loop_dims": ["IX", "IY"],
        "padding": [[shape.PX, shape.PX], [shape.PY, shape.PY]],
    }


def _spread(items: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``items``, evenly spaced, first and last included."""
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def map_layer(hardware_yaml: str, mapping_yaml: str, shape: LayerShape, precisions: Precisions,
              max_orderings: int = 48, max_enumerated: int = 5040) -> Mapped:
    """Map one layer on a template: one spatial mapping, at most ``max_orderings`` temporal orderings
    scored (of at most ``max_enumerated`` enumerated), the least-energy one kept."""
    if max_orderings < 2:
        raise ValueError(f"max_orderings = {max_orderings!r}; at least 2 orderings must be scored")
    acc = accelerator(hardware_yaml)
    if isinstance(acc.operational_array, ImcArray):
        raise ValueError(f"{hardware_yaml} is an in-memory-computing accelerator; the zigzag: models map digital PE "
                         "arrays only (ZigZag's IMC cost model needs its own mapping stages)")
    layer = LayerNodeFactory(layer_dict(shape, precisions), list(mapping_data(mapping_yaml))).create()
    spatial = SpatialMappingGeneratorStage(LEAF, accelerator=acc, layer=layer, nb_mappings_generated=1)
    chosen = next(iter(spatial.generate_spatial_mappings()))
    layer.spatial_mapping = chosen
    converter = SpatialMappingConversionStage(LEAF, accelerator=acc, layer=layer)
    spatial_int, spatial_int_int = converter.convert_user_spatial_mapping(chosen)
    engine = LomaEngine(accelerator=acc, layer=layer, spatial_mapping=spatial_int,
                        mapping_type=TemporalMappingType.UNEVEN, loma_lpf_limit=1)
    engine.temporal_loop_dim_size = engine.get_temporal_loops()
    engine.update_min_lpf_factor(engine.temporal_loop_dim_size)
    engine.get_prime_factors()
    engine.compute_nb_permutations()
    orderings = _spread(list(itertools.islice(engine.ordering_generator(), max_enumerated)), max_orderings)
    best, scored = None, 0
    for ordering in orderings:
        try:
            temporal = MemoryAllocator(acc, layer, spatial_int, ordering, TemporalMappingType.UNEVEN).run()
        except (MemoryHierarchyTooSmallException, MemoryTooSmallException):
            continue
        cme = CostModelEvaluation(accelerator=acc, layer=layer, spatial_mapping=spatial_int,
                         spatial_mapping_int=spatial_int_int, temporal_mapping=temporal,
                         access_same_data_considered_as_no_access=True)
        scored += 1
        if best is None or (cme.energy_total, cme.latency_total2) < (best.energy_total, best.latency_total2):
            best = cme
    if best is None:
        raise ValueError(f"ZigZag found no temporal mapping of {shape} on {hardware_yaml}: the layer does not fit "
                         "the template's memories")
    levels = memory_levels(hardware_yaml)
    energy: dict[str, dict[str, float]] = {}
    for layer_op, per_level in best.mem_energy_breakdown.items():
        names = [lv.name for lv in acc.memory_hierarchy.get_memory_levels(best.memory_operand_links.layer_to_mem_op(
            layer_op))]
        for name, pj in zip(names, per_level, strict=True):
            energy.setdefault(name, {})[str(layer_op)] = energy.get(name, {}).get(str(layer_op), 0.0) + float(pj)
    return Mapped(energy_pj=energy, mac_pj=float(best.mac_energy), cycles=float(best.latency_total2),
                  ideal_cycles=float(best.ideal_cycle), utilization=float(best.mac_spatial_utilization),
                  spatial=str(chosen), temporal=str(best.temporal_mapping), orderings_scored=scored,
                  orderings_total=int(engine.nb_permutations),
                  off_chip_levels=[lv["name"] for lv in levels if lv["off_chip"]])
