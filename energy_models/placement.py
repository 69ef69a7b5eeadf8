"""Where every tensor lives: one placement rule, by size and lifetime, for every model and method.

A hardware model with a memory hierarchy declares it as data, in its table's ``[memory.<level>]``
sections (cheapest level first; the last one off chip and unbounded)::

    [memory.glb]
    capacity = "glb_bytes"            # a constant of the table, in bytes; "unbounded" off chip
    read = "glb_16b"                  # energy constant of one access of `access_bits` bits
    write = "glb_16b"
    access_bits = "unit_bits"         # a constant, or the access width in bits
    # relative_to = "mac"             # where read/write are ratios (unit 1): times this energy constant
    on_chip = true
    variants = ["tcad"]               # optional: only under these values of the model's `variant`

and :func:`place` puts every tensor of a ledger at a level with one rule, whatever its kind:

- ``persistent`` tensors (weights: they outlive an inference) first, then ``inference`` tensors (they
  live across the sequential timesteps of an inference: the membranes of a time-outer multi-step
  network, all layers' at once), then ``layer`` tensors (they live while one layer runs: its input and
  output maps, a membrane that no later step reads, a stored partial sum), each layer's after the
  other, with what the earlier classes hold still held;
- within a class, tensors in order of size, smallest first, each at the cheapest level with room left
  for it; a tensor no on-chip level holds goes off chip.

A tensor's kind (``role``) is a label for the report: no rule reads it. Alternatives re-price the
same ledger under other placements (:data:`PLACEMENTS`): ``all_on_chip`` (every tensor on the
largest on-chip level, as if it were big enough), ``weights_streamed`` (persistent tensors fetched
from off chip every inference, the others by size) and ``all_streamed`` (every tensor off chip).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from energy_models.checks import check_choice
from energy_models.table import EnergyTable, EnergyTableError

Lifetime = Literal["persistent", "inference", "layer"]
#: Lifetimes in the order tensors are placed (longest-lived first).
LIFETIMES: tuple[Lifetime, ...] = ("persistent", "inference", "layer")
#: The placement conventions (the ``placement`` option of a model with a memory hierarchy).
PLACEMENTS: tuple[str, ...] = ("by_size", "all_on_chip", "weights_streamed", "all_streamed")
#: Keys of a ``[memory.<level>]`` section.
LEVEL_KEYS: tuple[str, ...] = ("capacity", "read", "write", "access_bits", "relative_to", "on_chip", "variants",
                                "note")


@dataclass(frozen=True)
class Level:
    """One memory level: its name, capacity in bits (``math.inf`` off chip), energy per bit read and
    written (pJ), and whether it is on chip."""

    name: str
    capacity_bits: float
    read_pj_per_bit: float
    write_pj_per_bit: float
    on_chip: bool


@dataclass(frozen=True)
class Tensor:
    """A tensor to place: the ledger record it belongs to, a label (``role``: weights, input, output,
    membrane, ...; read by no rule), its footprint in bits and its lifetime."""

    layer: int
    role: str
    bits: float
    lifetime: Lifetime


@dataclass(frozen=True)
class Hierarchy:
    """Memory levels, cheapest first; on-chip levels before the one off-chip level."""

    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        if not self.levels or self.levels[-1].on_chip or any(not lv.on_chip for lv in self.levels[:-1]):
            raise ValueError("a memory hierarchy needs its on-chip levels first and exactly one off-chip level last")

    @property
    def on_chip(self) -> tuple[Level, ...]:
        return self.levels[:-1]

    @property
    def off_chip(self) -> Level:
        return self.levels[-1]

    @property
    def largest_on_chip(self) -> Level:
        return max(self.on_chip, key=lambda lv: lv.capacity_bits)

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(f"no memory level {name!r}; levels: {', '.join(lv.name for lv in self.levels)}")


def _constant_or_number(table: EnergyTable, where: str, raw: Any, what: str) -> float:
    if isinstance(raw, bool):
        raise EnergyTableError(f"{table.path}: key '{where}': {what} = {raw!r}; expected a constant name or a number")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        if raw not in table.constants:
            raise EnergyTableError(f"{table.path}: key '{where}': {what} names {raw!r}, which is not a constant of "
                                   "the table")
        return table.value(raw)
    raise EnergyTableError(f"{table.path}: key '{where}': {what} = {raw!r}; expected a constant name or a number")


def _energy(table: EnergyTable, where: str, raw: Any, relative_to: Any) -> float:
    """pJ of the constant ``raw``; a ratio (unit ``1``) times the energy constant ``relative_to``."""
    if not isinstance(raw, str) or raw not in table.constants:
        raise EnergyTableError(f"{table.path}: key '{where}' = {raw!r}; expected the name of an energy constant of "
                               "the table")
    if relative_to is None:
        return table.pj(raw)
    if not isinstance(relative_to, str) or relative_to not in table.constants:
        raise EnergyTableError(f"{table.path}: key '{where}': relative_to = {relative_to!r}; expected the name of "
                               "an energy constant of the table")
    return table.value(raw) * table.pj(relative_to)


def referenced_constants(table: EnergyTable) -> tuple[str, ...]:
    """The constants a table's ``[memory.<level>]`` sections name (so a model reads them)."""
    out = []
    for raw in table.memory.values():
        if isinstance(raw, Mapping):
            out += [v for k, v in raw.items() if k in ("capacity", "read", "write", "access_bits", "relative_to")
                    and isinstance(v, str) and v != "unbounded" and v in table.constants]
    return tuple(dict.fromkeys(out))


def hierarchy_from_table(table: EnergyTable, variant: str | None = None) -> Hierarchy:
    """The memory hierarchy a table declares in its ``memory`` sections (levels whose ``variants``
    name ``variant``, or that name none), in the order written."""
    levels = []
    for name, raw in table.memory.items():
        where = f"memory.{name}"
        if not isinstance(raw, Mapping):
            raise EnergyTableError(f"{table.path}: key '{where}' must be a table of {', '.join(LEVEL_KEYS)}")
        unknown = sorted(set(raw) - set(LEVEL_KEYS))
        if unknown:
            raise EnergyTableError(f"{table.path}: key '{where}.{unknown[0]}' is unknown; a level has "
                                   f"{', '.join(LEVEL_KEYS)}")
        variants = raw.get("variants")
        if variants is not None and variant not in variants:
            continue
        on_chip = raw.get("on_chip")
        if not isinstance(on_chip, bool):
            raise EnergyTableError(f"{table.path}: key '{where}.on_chip' = {on_chip!r}; expected true or false")
        capacity = raw.get("capacity")
        if capacity == "unbounded":
            capacity_bits = math.inf
        else:
            capacity_bits = 8 * _constant_or_number(table, f"{where}.capacity", capacity, "capacity (bytes)")
        access_bits = _constant_or_number(table, f"{where}.access_bits", raw.get("access_bits"), "access_bits")
        if access_bits <= 0:
            raise EnergyTableError(f"{table.path}: key '{where}.access_bits' must be > 0")
        base = raw.get("relative_to")
        levels.append(Level(name, capacity_bits, _energy(table, f"{where}.read", raw.get("read"), base) / access_bits,
                            _energy(table, f"{where}.write", raw.get("write"), base) / access_bits, on_chip))
    if not levels:
        raise EnergyTableError(f"{table.path}: no [memory.<level>] sections (for variant {variant!r}); a model that "
                               "places tensors needs its memory levels")
    try:
        return Hierarchy(tuple(levels))
    except ValueError as exc:
        raise EnergyTableError(f"{table.path}: {exc}") from None


def _place_greedy(tensors: Iterable[tuple[int, Tensor]], room: dict[str, float], hierarchy: Hierarchy,
                  out: dict[int, Level]) -> None:
    """Each tensor, smallest first, at the cheapest level with room for it (taking that room)."""
    for key, tensor in sorted(tensors, key=lambda kt: (kt[1].bits, kt[0])):
        for level in hierarchy.on_chip:
            if tensor.bits <= room[level.name]:
                room[level.name] -= tensor.bits
                out[key] = level
                break
        else:
            out[key] = hierarchy.off_chip


def place(hierarchy: Hierarchy, tensors: Sequence[Tensor], placement: str = "by_size") -> list[Level]:
    """The level of each of ``tensors`` (in their order) under ``placement`` (:data:`PLACEMENTS`):
    a function of the tensors' sizes and lifetimes only (see the module docstring)."""
    check_choice("placement", placement, PLACEMENTS)
    for tensor in tensors:
        if tensor.lifetime not in LIFETIMES:  # the check's message (its f-string is made only here)
            check_choice(f"the lifetime of tensor {tensor.role!r} of layer {tensor.layer}", tensor.lifetime, LIFETIMES)
        if not math.isfinite(tensor.bits) or tensor.bits < 0:
            raise ValueError(f"tensor {tensor.role!r} of layer {tensor.layer}: size {tensor.bits!r} bits")
    if placement == "all_on_chip":
        return [hierarchy.largest_on_chip] * len(tensors)
    if placement == "all_streamed":
        return [hierarchy.off_chip] * len(tensors)
    out: dict[int, Level] = {}
    room = {level.name: level.capacity_bits for level in hierarchy.on_chip}
    indexed = list(enumerate(tensors))
    persistent = [(k, t) for k, t in indexed if t.lifetime == "persistent"]
    if placement == "weights_streamed":
        out.update({k: hierarchy.off_chip for k, _ in persistent})
    else:
        _place_greedy(persistent, room, hierarchy, out)
    _place_greedy([(k, t) for k, t in indexed if t.lifetime == "inference"], room, hierarchy, out)
    per_layer: dict[int, list[tuple[int, Tensor]]] = {}  # each layer's own tensors, in their order
    for k, t in indexed:
        if t.lifetime == "layer":
            per_layer.setdefault(t.layer, []).append((k, t))
    for layer in sorted(per_layer):
        _place_greedy(per_layer[layer], dict(room), hierarchy, out)
    return [out[k] for k in range(len(tensors))]
