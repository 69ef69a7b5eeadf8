"""Energy tables: constants in TOML, each with a value, a unit and a source.

Every hardware model reads its constants from one TOML file under ``energy_models/tables/``. A
table is loaded and validated once (cached by path); any problem is an :class:`EnergyTableError`
(a ``ValueError``) that names the file, the key and what was expected.

Format
------
.. code-block:: toml

    [model]                       # facts the report prints (all optional except in user tables)
    name = "my_chip"
    title = "My accelerator"
    paper = "Author et al., Venue Year, Table 2"
    repository = "github.com/owner/repo, path/to/file.py"
    technology = "28 nm, 0.9 V"
    assumptions = ["weights stay on chip", "..."]
    base = "sata"                 # optional: price with a built-in model's code using these constants

    [constants]                   # numbers a model's code uses, by key
    mul_16b = { value = 0.239, unit = "pJ", source = "SATA_Sim energy_configs.py" }
    clock   = { value = 400, unit = "MHz", source = "SATA_Sim archs/sata-config.yaml" }
    adder_8b = { value = [7.62e-3, 9.27e-3], unit = "mW", source = "hw_kernels.py (internal + switching)" }

    [events.ac]                   # user tables only: energy per ledger event, and its component
    value = 0.9
    unit = "pJ"
    component = "compute"
    source = "Horowitz ISSCC 2014, FP32 add"
    per = "event"                 # or "bit": multiply by the event's bit width (see USER_EVENT_BITS)

Rules
-----
- ``value`` is a finite number >= 0, or a list of such numbers which is summed (for example the
  internal and switching parts of a dynamic power).
- ``unit`` is one of :data:`ACCEPTED_UNITS`. Energies in ``fJ``, ``nJ``, ``uJ`` are converted to pJ.
  A power in ``mW`` is turned into energy per active clock cycle with the table's ``clock``
  constant (``MHz`` or ``GHz``): E[pJ] = P[mW] / f[MHz] x 1000. ``1`` marks a plain number (a
  ratio, a count, a size), ``bit`` and ``byte`` a width or capacity.
- ``source`` is a non-empty string: the paper and table/figure, or the repository path, or
  "derived: <how>" for a number computed from other cited numbers.
- Other fields (``note``, ``capacity_bytes``, ``component``, ``per``) are kept as given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

#: Energy units and their factor to pJ.
ENERGY_UNITS: dict[str, float] = {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6}
#: Power units (need a ``clock`` constant in the same table) and their factor to mW.
POWER_UNITS: dict[str, float] = {"mW": 1.0}
#: Frequency units and their factor to MHz (for the ``clock`` constant).
FREQUENCY_UNITS: dict[str, float] = {"MHz": 1.0, "GHz": 1e3}
#: Plain quantities: ratios and counts ("1"), widths ("bit"), capacities ("byte").
PLAIN_UNITS: tuple[str, ...] = ("1", "bit", "byte")
ACCEPTED_UNITS: tuple[str, ...] = (*ENERGY_UNITS, *POWER_UNITS, *FREQUENCY_UNITS, *PLAIN_UNITS)

#: Where the packaged tables live.
TABLES_DIR = Path(__file__).resolve().parent / "tables"


class EnergyTableError(ValueError):
    """A table is malformed: the message names the file, the key and what was expected."""


@dataclass(frozen=True)
class Constant:
    """One validated constant. ``value`` is in ``unit`` as written; :meth:`EnergyTable.pj` converts."""

    key: str
    value: float
    unit: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnergyTable:
    """A validated table: ``meta`` (the ``[model]`` section), ``constants`` and ``events``."""

    path: str
    meta: dict[str, Any]
    constants: dict[str, Constant]
    events: dict[str, Constant] = field(default_factory=dict)

    # -- access ----------------------------------------------------------------------------------
    def _get(self, key: str) -> Constant:
        try:
            return self.constants[key]
        except KeyError:
            raise EnergyTableError(
                f"{self.path}: key 'constants.{key}' is missing; expected a {{value, unit, source}} entry"
            ) from None

    def pj(self, key: str) -> float:
        """The constant ``key`` as energy in pJ (energies converted; powers divided by the clock)."""
        c = self._get(key)
        if c.unit in ENERGY_UNITS:
            return c.value * ENERGY_UNITS[c.unit]
        if c.unit in POWER_UNITS:
            return power_to_pj(c.value * POWER_UNITS[c.unit], self.clock_mhz())
        raise EnergyTableError(f"{self.path}: key 'constants.{key}' has unit {c.unit!r}; expected an energy or power")

    def value(self, key: str) -> float:
        """A plain constant (ratio, count, width, capacity) as written."""
        c = self._get(key)
        if c.unit in ENERGY_UNITS or c.unit in POWER_UNITS:
            raise EnergyTableError(f"{self.path}: key 'constants.{key}' is an energy ({c.unit}); use pj()")
        return c.value

    def clock_mhz(self) -> float:
        c = self._get("clock")
        return c.value * FREQUENCY_UNITS[c.unit]

    def event_pj(self, event: str) -> float:
        c = self.events[event]
        if c.unit in ENERGY_UNITS:
            return c.value * ENERGY_UNITS[c.unit]
        return power_to_pj(c.value * POWER_UNITS[c.unit], self.clock_mhz())

    def require(self, keys: Iterable[str]) -> None:
        """Raise naming the first of ``keys`` the table lacks."""
        for key in keys:
            self._get(key)

    def with_value(self, key: str, value: float) -> EnergyTable:
        """A copy with constant ``key`` set to ``value`` (in the constant's own unit); for sweeps."""
        c = self._get(key)
        if not math.isfinite(float(value)) or float(value) < 0:
            raise EnergyTableError(f"{self.path}: key 'constants.{key}': value {value!r} must be finite and >= 0")
        constants = dict(self.constants)
        constants[key] = replace(c, value=float(value), source=f"{c.source} [swept]")
        return replace(self, constants=constants)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per constant (key, value, unit, pJ where it is an energy, source)."""
        out = []
        for section, items in (("constants", self.constants), ("events", self.events)):
            for c in items.values():
                energy = c.unit in ENERGY_UNITS or c.unit in POWER_UNITS
                out.append({"section": section, "key": c.key, "value": c.value, "unit": c.unit,
                            "pj": (self.pj(c.key) if section == "constants" else self.event_pj(c.key))
                            if energy else None, "source": c.source})
        return out


def power_to_pj(power_mw: float, clock_mhz: float) -> float:
    """Energy per active cycle in pJ of a unit drawing ``power_mw`` at ``clock_mhz``."""
    return power_mw / clock_mhz * 1e3


def _check_constant(path: str, section: str, key: str, raw: Any, *, need_component: bool = False) -> Constant:
    where = f"{path}: key '{section}.{key}'"
    if not isinstance(raw, Mapping):
        raise EnergyTableError(f"{where}: expected a table {{value, unit, source}}, got {raw!r}")
    for name in ("value", "unit", "source"):
        if name not in raw:
            raise EnergyTableError(f"{where}: missing {name!r}; expected value, unit and source")
    value = raw["value"]
    parts = value if isinstance(value, list) else [value]
    if not parts or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in parts):
        raise EnergyTableError(f"{where}: value {value!r} is not a number or a list of numbers")
    if not all(math.isfinite(v) for v in parts):
        raise EnergyTableError(f"{where}: value {value!r} is not finite")
    unit = raw["unit"]
    if unit not in ACCEPTED_UNITS:
        raise EnergyTableError(f"{where}: unknown unit {unit!r}; accepted units: {', '.join(ACCEPTED_UNITS)}")
    if any(v < 0 for v in parts):
        what = "negative energy" if unit in ENERGY_UNITS or unit in POWER_UNITS else "negative value"
        raise EnergyTableError(f"{where}: {what} {value!r}; expected a value >= 0")
    source = raw["source"]
    if not isinstance(source, str) or not source.strip():
        raise EnergyTableError(f"{where}: source must be a non-empty string (paper and table, or repository path)")
    if need_component and unit not in ENERGY_UNITS and unit not in POWER_UNITS:
        raise EnergyTableError(f"{where}: an event needs an energy or power unit, got {unit!r}")
    extra = {k: v for k, v in raw.items() if k not in ("value", "unit", "source")}
    return Constant(key=key, value=float(sum(parts)), unit=unit, source=source, extra=extra)


def parse_table(data: Mapping[str, Any], path: str) -> EnergyTable:
    """Validate the parsed TOML ``data`` of the file ``path`` (see the module docstring)."""
    from energy_models.ledger import EVENTS
    from energy_models.report import COMPONENTS

    meta = data.get("model", {})
    if not isinstance(meta, Mapping):
        raise EnergyTableError(f"{path}: key 'model' must be a table")
    unknown = sorted(set(data) - {"model", "constants", "events"})
    if unknown:
        raise EnergyTableError(f"{path}: unknown section(s) {unknown}; expected [model], [constants], [events]")
    raw_constants = data.get("constants", {})
    raw_events = data.get("events", {})
    if not isinstance(raw_constants, Mapping) or not isinstance(raw_events, Mapping):
        raise EnergyTableError(f"{path}: [constants] and [events] must be tables")
    if not raw_constants and not raw_events:
        raise EnergyTableError(f"{path}: key 'constants' (or 'events') is missing; a table needs at least one")
    constants = {key: _check_constant(path, "constants", key, raw) for key, raw in raw_constants.items()}
    events: dict[str, Constant] = {}
    for key, raw in raw_events.items():
        if key not in EVENTS:
            raise EnergyTableError(f"{path}: key 'events.{key}': unknown event; known events: {', '.join(EVENTS)}")
        c = _check_constant(path, "events", key, raw, need_component=True)
        component = c.extra.get("component")
        if component not in COMPONENTS:
            raise EnergyTableError(
                f"{path}: key 'events.{key}': component {component!r}; expected one of {', '.join(COMPONENTS)}"
            )
        per = c.extra.get("per", "event")
        if per not in ("event", "bit"):
            raise EnergyTableError(f"{path}: key 'events.{key}': per = {per!r}; expected 'event' or 'bit'")
        events[key] = c
    table = EnergyTable(path=path, meta=dict(meta), constants=constants, events=events)
    uses_power = any(c.unit in POWER_UNITS for c in (*constants.values(), *events.values()))
    if uses_power:
        if "clock" not in constants:
            raise EnergyTableError(f"{path}: key 'constants.clock' is missing; a table with mW values needs "
                                   "a clock frequency (unit MHz or GHz) to turn power into energy per cycle")
        if constants["clock"].unit not in FREQUENCY_UNITS or constants["clock"].value <= 0:
            raise EnergyTableError(f"{path}: key 'constants.clock': expected a frequency > 0 in MHz or GHz")
    return table


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> EnergyTable:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise EnergyTableError(f"{path}: TOML syntax error: {exc}") from None
    return parse_table(data, path)


def read_table(path: str | Path) -> EnergyTable:
    """Load and validate the table at ``path`` (cached: each file is parsed once per version)."""
    p = Path(path)
    if not p.is_file():
        raise EnergyTableError(f"{p}: no such energy table file")
    p = p.resolve()
    return _load_cached(str(p), p.stat().st_mtime_ns)


def builtin_table(name: str) -> EnergyTable:
    """The packaged table ``energy_models/tables/<name>.toml``."""
    return read_table(TABLES_DIR / f"{name}.toml")
