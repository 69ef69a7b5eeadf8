"""The energy-table format's vocabulary and its checks: the accepted units and sections, the bounds
that catch a unit mistake, and the validation of one raw ``[constants]`` / ``[events]`` entry and of
``[model]``. :mod:`energy_models.table` reads a file and assembles the validated
:class:`~energy_models.table.EnergyTable` from these (the format itself is documented there).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Energy units and their factor to pJ.
ENERGY_UNITS: dict[str, float] = {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6}
#: Power units (need a ``clock`` constant in the same table) and their factor to mW.
POWER_UNITS: dict[str, float] = {"mW": 1.0}
#: Frequency units and their factor to MHz (for the ``clock`` constant).
FREQUENCY_UNITS: dict[str, float] = {"MHz": 1.0, "GHz": 1e3}
#: Plain quantities: ratios and counts ("1"), widths ("bit"), capacities ("byte").
PLAIN_UNITS: tuple[str, ...] = ("1", "bit", "byte")
ACCEPTED_UNITS: tuple[str, ...] = (*ENERGY_UNITS, *POWER_UNITS, *FREQUENCY_UNITS, *PLAIN_UNITS)

#: Keys of the ``[model]`` section (strings, except ``assumptions``: a list of strings).
MODEL_KEYS: tuple[str, ...] = ("name", "title", "paper", "repository", "technology", "assumptions", "base", "note",
                               "published_gain")
#: Fields of a ``[constants]`` entry.
CONSTANT_FIELDS: tuple[str, ...] = ("value", "unit", "source", "note", "capacity_bytes", "width_bits")
#: Fields of an ``[events.<event>]`` entry.
EVENT_FIELDS: tuple[str, ...] = ("value", "unit", "source", "note", "component", "per", "level")
SECTIONS: tuple[str, ...] = ("model", "constants", "events", "memory")

#: Largest energy accepted for one event, access or clock cycle, in pJ: 1e9 pJ = 1 mJ. The largest real
#: per-event energies in the packaged tables are DRAM accesses of a few hundred pJ, so anything near this
#: bound is a unit mistake (J or uJ typed where pJ was meant), not a chip.
MAX_ENERGY_PJ = 1e9
#: Largest clock accepted, in MHz (100 GHz).
MAX_CLOCK_MHZ = 1e5
#: Largest bit width accepted (unit ``bit`` and ``width_bits``).
MAX_BITS = 65536
#: Largest plain number accepted (unit ``1`` or ``byte``, ``capacity_bytes``): 1e15 (a petabyte).
MAX_PLAIN_VALUE = 1e15
#: Largest table file read, in bytes (1 MiB; a table holds tens of constants and is a few kB). Checked
#: before reading: a 10 MB TOML file took 40 s to parse.
MAX_TABLE_BYTES = 1 << 20

class EnergyTableError(ValueError):
    """A table is malformed: the message names the file, the key and what was expected."""


def did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown_key(path: str, where: str, key: str, known: Iterable[str], what: str) -> EnergyTableError:
    known = tuple(known)
    return EnergyTableError(f"{path}: unknown key '{where}{key}'; {did_you_mean(key, known)}{what}: "
                            f"{', '.join(known) if known else 'none'}")


@dataclass(frozen=True)
class Constant:
    """One validated constant. ``value`` is in ``unit`` as written; :meth:`EnergyTable.pj` converts."""

    key: str
    value: float
    unit: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


def power_to_pj(power_mw: float, clock_mhz: float) -> float:
    """Energy per active cycle in pJ of a unit drawing ``power_mw`` at ``clock_mhz``."""
    return power_mw / clock_mhz * 1e3


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_bounds(where: str, parts: list[float], unit: str) -> None:
    """Finite, >= 0 and within the documented bound of the unit (energies converted to pJ)."""
    value = parts[0] if len(parts) == 1 else parts
    if not all(math.isfinite(v) for v in parts):
        raise EnergyTableError(f"{where}: value {value!r} is not finite; expected a finite number >= 0")
    if any(v < 0 for v in parts):
        what = "negative energy" if unit in ENERGY_UNITS or unit in POWER_UNITS else "negative value"
        raise EnergyTableError(f"{where}: {what} {value!r}; expected a value >= 0")
    total = math.fsum(parts)
    if unit in ENERGY_UNITS and total * ENERGY_UNITS[unit] > MAX_ENERGY_PJ:
        raise EnergyTableError(f"{where}: {total:g} {unit} = {total * ENERGY_UNITS[unit]:.3g} pJ per event is over the "
                               f"bound of {MAX_ENERGY_PJ:g} pJ (1 mJ); check the unit (pJ, fJ, nJ, uJ)")
    if unit in FREQUENCY_UNITS and not 0 < total * FREQUENCY_UNITS[unit] <= MAX_CLOCK_MHZ:
        raise EnergyTableError(f"{where}: clock {total:g} {unit}; expected a frequency > 0 and at most "
                               f"{MAX_CLOCK_MHZ:g} MHz")
    if unit == "bit" and total > MAX_BITS:
        raise EnergyTableError(f"{where}: {total:g} bits is over the bound of {MAX_BITS} bits")
    if unit in ("1", "byte") and total > MAX_PLAIN_VALUE:
        raise EnergyTableError(f"{where}: {total:g} ({unit}) is over the bound of {MAX_PLAIN_VALUE:g}")


def check_constant(path: str, section: str, key: str, raw: Any, *, need_component: bool = False) -> Constant:
    where = f"{path}: key '{section}.{key}'"
    if not isinstance(raw, Mapping):
        raise EnergyTableError(f"{where}: expected a table {{value, unit, source}}, got {raw!r}")
    fields = EVENT_FIELDS if section == "events" else CONSTANT_FIELDS
    for name in raw:
        if name not in fields:
            raise unknown_key(path, f"{section}.{key}.", name, fields, "accepted fields")
    for name in ("value", "unit", "source"):
        if name not in raw:
            raise EnergyTableError(f"{where}: missing {name!r}; expected value, unit and source")
    value = raw["value"]
    parts = value if isinstance(value, list) else [value]
    if not parts or not all(is_number(v) for v in parts):
        raise EnergyTableError(f"{where}: value {value!r} is not a number or a list of numbers")
    unit = raw["unit"]
    if not isinstance(unit, str) or unit not in ACCEPTED_UNITS:
        raise EnergyTableError(f"{where}: unknown unit {unit!r}; accepted units: {', '.join(ACCEPTED_UNITS)}")
    check_bounds(where, [float(v) for v in parts], unit)
    source = raw["source"]
    if not isinstance(source, str) or not source.strip():
        raise EnergyTableError(f"{where}: source must be a non-empty string (paper and table, or repository path)")
    if need_component and unit not in ENERGY_UNITS and unit not in POWER_UNITS:
        raise EnergyTableError(f"{where}: an event needs an energy or power unit, got {unit!r}")
    for name, bound in (("capacity_bytes", MAX_PLAIN_VALUE), ("width_bits", MAX_BITS)):
        if name in raw:
            v = raw[name]
            if not is_number(v) or not math.isfinite(v) or v < 0 or v > bound or (name == "width_bits" and v == 0):
                low = "> 0" if name == "width_bits" else ">= 0"
                raise EnergyTableError(f"{where}: {name} = {v!r}; expected a number {low} and at most {bound:g}")
    for name in ("note", "component", "per", "level"):
        if name in raw and not isinstance(raw[name], str):
            raise EnergyTableError(f"{where}: {name} = {raw[name]!r}; expected a string")
    extra = {k: v for k, v in raw.items() if k not in ("value", "unit", "source")}
    return Constant(key=key, value=float(math.fsum(parts)), unit=unit, source=source, extra=extra)


def check_meta(path: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in meta.items():
        if key not in MODEL_KEYS:
            raise unknown_key(path, "model.", key, MODEL_KEYS, "[model] keys")
        if key == "assumptions":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise EnergyTableError(f"{path}: key 'model.assumptions': expected a list of strings, got {value!r}")
        elif not isinstance(value, str):
            raise EnergyTableError(f"{path}: key 'model.{key}': expected a string, got {value!r}")
    return dict(meta)
