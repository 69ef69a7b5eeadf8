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
    published_gain = "3-9x (Author et al., Table 4)"  # optional: a paper's SNN gain over the ANN under it
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
    level = "on_chip"             # or "dram" (memory components only): the memory level the energy is at

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
- Other fields are kept as given: ``note`` (any string) anywhere; ``capacity_bytes`` (>= 0) and
  ``width_bits`` (> 0) in ``[constants]``; ``component``, ``per`` and ``level`` in ``[events]``.

Refused (each an :class:`EnergyTableError` naming the file and the key, with a did-you-mean):

- an unknown key at any level: a section other than [model], [constants], [events]; a ``[model]``
  key other than :data:`MODEL_KEYS`; a field other than :data:`CONSTANT_FIELDS` /
  :data:`EVENT_FIELDS` (``pre = "bit"`` for ``per`` used to be ignored and the energy dropped 5.7x);
  an event name that is not a ledger event; a constant name the model does not read (checked by
  :meth:`EnergyTable.check_names`, which every model calls with its ``REQUIRED + OPTIONAL`` names);
- a value that is not finite, a negative value, an energy over :data:`MAX_ENERGY_PJ` (1e9 pJ = 1 mJ)
  per event or per clock cycle, a clock outside (0, :data:`MAX_CLOCK_MHZ`], a ``bit`` width over
  :data:`MAX_BITS`, any other plain number over :data:`MAX_PLAIN_VALUE`;
- a file over :data:`MAX_TABLE_BYTES` (1 MiB; checked before it is read), or not UTF-8 text.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from energy_models.checks import check_choice
from energy_models.ledger import EVENTS
from energy_models.report import COMPONENTS, LEVELS, MEMORY_COMPONENTS
from energy_models.table_format import (
    ACCEPTED_UNITS,
    CONSTANT_FIELDS,
    ENERGY_UNITS,
    EVENT_FIELDS,
    FREQUENCY_UNITS,
    MAX_BITS,
    MAX_CLOCK_MHZ,
    MAX_ENERGY_PJ,
    MAX_PLAIN_VALUE,
    MAX_TABLE_BYTES,
    MODEL_KEYS,
    PLAIN_UNITS,
    POWER_UNITS,
    SECTIONS,
    Constant,
    EnergyTableError,
    check_bounds,
    check_constant,
    check_meta,
    did_you_mean,
    power_to_pj,
    unknown_key,
)

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ACCEPTED_UNITS", "CONSTANT_FIELDS", "ENERGY_UNITS", "EVENT_FIELDS", "FREQUENCY_UNITS", "MAX_BITS",
    "MAX_CLOCK_MHZ", "MAX_ENERGY_PJ", "MAX_PLAIN_VALUE", "MAX_TABLE_BYTES", "MODEL_KEYS", "PLAIN_UNITS",
    "POWER_UNITS", "SECTIONS", "TABLES_DIR", "Constant", "EnergyTable", "EnergyTableError", "builtin_table",
    "parse_table", "power_to_pj", "read_table",
]

#: Where the packaged tables live.
TABLES_DIR = Path(__file__).resolve().parent / "tables"


@dataclass(frozen=True)
class EnergyTable:
    """A validated table: ``meta`` (the ``[model]`` section), ``constants`` and ``events``."""

    path: str
    meta: dict[str, Any]
    constants: dict[str, Constant]
    events: dict[str, Constant] = field(default_factory=dict)
    #: ``[memory.<level>]`` sections as written (checked by :func:`energy_models.placement.hierarchy_from_table`).
    memory: dict[str, Any] = field(default_factory=dict)
    #: the energies :meth:`pj` has converted, by key (a table never changes: :meth:`with_value` makes a
    #: new one, with an empty cache); a model prices every layer of every ledger from the same few keys
    converted: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        known = self.converted.get(key)
        if known is None:
            known = self.converted[key] = self._pj(key)
        return known

    def _pj(self, key: str) -> float:
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

    def check_names(self, known: Iterable[str], section: str = "constants", reader: str = "this model",
                    strict: bool = True) -> None:
        """Refuse entries of ``section`` (``"constants"`` or ``"events"``) whose names are not in ``known``.

        A table cannot know which constant names are valid: the model reading it does. Every model calls
        this with the names it can read (``REQUIRED + OPTIONAL``), so that a misspelt name is an error
        with a did-you-mean instead of a constant silently left unused. With ``strict=False`` (a model
        class that does not declare its ``OPTIONAL`` names) the problem is a ``UserWarning`` instead.
        """
        if section not in ("constants", "events"):
            raise ValueError(f"section = {section!r}; expected 'constants' or 'events'")
        known = tuple(dict.fromkeys(known))
        entries = self.constants if section == "constants" else self.events
        unknown = [key for key in entries if key not in known]
        if not unknown:
            return
        more = f" (and {len(unknown) - 1} more: {', '.join(unknown[1:4])}{', ...' if len(unknown) > 4 else ''})" \
            if len(unknown) > 1 else ""
        if section == "events" and not known:
            message = (f"{self.path}: key 'events.{unknown[0]}'{more}: {reader} does not read [events] entries (only "
                       "a table without [model] base prices events); remove [events] or the base key")
        else:
            message = (f"{self.path}: unknown key '{section}.{unknown[0]}'{more}; {did_you_mean(unknown[0], known)}"
                       f"{reader} reads only: {', '.join(known) if known else 'no ' + section}")
        if strict:
            raise EnergyTableError(message)
        warnings.warn(f"{message} (not refused: {reader} does not declare the OPTIONAL names it reads)",
                      UserWarning, stacklevel=3)

    def with_value(self, key: str, value: float) -> EnergyTable:
        """A copy with constant ``key`` set to ``value`` (in the constant's own unit); for sweeps."""
        c = self._get(key)
        number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
        if not math.isfinite(number):
            raise EnergyTableError(f"{self.path}: key 'constants.{key}': value {value!r} must be a finite number")
        check_bounds(f"{self.path}: key 'constants.{key}'", [number], c.unit)
        constants = dict(self.constants)
        constants[key] = replace(c, value=number, source=f"{c.source} [swept]")
        table = replace(self, constants=constants)
        table._check_power_bounds()
        return table

    def _check_power_bounds(self) -> None:
        """Energies per cycle of the power (mW) entries, once the clock is known, within MAX_ENERGY_PJ."""
        for section, items in (("constants", self.constants), ("events", self.events)):
            for c in items.values():
                if c.unit in POWER_UNITS:
                    pj = power_to_pj(c.value * POWER_UNITS[c.unit], self.clock_mhz())
                    if pj > MAX_ENERGY_PJ:
                        raise EnergyTableError(
                            f"{self.path}: key '{section}.{c.key}': {c.value:g} {c.unit} at {self.clock_mhz():g} MHz "
                            f"is {pj:.3g} pJ per cycle, over the bound of {MAX_ENERGY_PJ:g} pJ; check the unit"
                        )

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


def parse_table(data: Mapping[str, Any], path: str) -> EnergyTable:
    """Validate the parsed TOML ``data`` of the file ``path`` (see the module docstring)."""
    for key in data:
        if key not in SECTIONS:
            if key in MODEL_KEYS:
                raise EnergyTableError(f"{path}: key {key!r} is at the top level; it belongs under [model]")
            raise unknown_key(path, "", key, SECTIONS, "a table has the sections")
    meta = data.get("model", {})
    if not isinstance(meta, Mapping):
        raise EnergyTableError(f"{path}: key 'model' must be a table")
    meta = check_meta(path, meta)
    raw_constants = data.get("constants", {})
    raw_events = data.get("events", {})
    if not isinstance(raw_constants, Mapping) or not isinstance(raw_events, Mapping):
        raise EnergyTableError(f"{path}: [constants] and [events] must be tables")
    if not raw_constants and not raw_events:
        raise EnergyTableError(f"{path}: key 'constants' (or 'events') is missing; a table needs at least one")
    constants = {key: check_constant(path, "constants", key, raw) for key, raw in raw_constants.items()}
    events: dict[str, Constant] = {}
    for key, raw in raw_events.items():
        if key not in EVENTS:
            raise unknown_key(path, "events.", key, EVENTS, "unknown event; known events")
        c = check_constant(path, "events", key, raw, need_component=True)
        component = c.extra.get("component")
        hint = (" ('dram' is a memory level now: give the component that moves, e.g. 'weight_memory', and "
                "level = \"dram\")") if component == "dram" else ""
        check_choice(f"{path}: key 'events.{key}': component", component, COMPONENTS, hint, EnergyTableError)
        level = c.extra.get("level", "on_chip")
        if level not in LEVELS or (level != "on_chip" and component not in MEMORY_COMPONENTS):
            raise EnergyTableError(
                f"{path}: key 'events.{key}': level {level!r}; expected 'on_chip', or 'dram' for the memory components "
                f"({', '.join(MEMORY_COMPONENTS)})"
            )
        per = c.extra.get("per", "event")
        if per not in ("event", "bit"):
            raise EnergyTableError(f"{path}: key 'events.{key}': per = {per!r}; expected 'event' or 'bit'")
        events[key] = c
    memory = data.get("memory", {})
    if not isinstance(memory, Mapping):
        raise EnergyTableError(f"{path}: [memory] must hold one table per level ([memory.<level>])")
    table = EnergyTable(path=path, meta=meta, constants=constants, events=events, memory=dict(memory))
    uses_power = any(c.unit in POWER_UNITS for c in (*constants.values(), *events.values()))
    if "clock" in constants and constants["clock"].unit not in FREQUENCY_UNITS:
        raise EnergyTableError(f"{path}: key 'constants.clock': unit {constants['clock'].unit!r}; expected a "
                               "frequency in MHz or GHz")
    if uses_power:
        if "clock" not in constants:
            raise EnergyTableError(f"{path}: key 'constants.clock' is missing; a table with mW values needs "
                                   "a clock frequency (unit MHz or GHz) to turn power into energy per cycle")
        table._check_power_bounds()
    return table


def _read_text(path: str) -> str:
    """The file as text, refusing files over MAX_TABLE_BYTES (before reading them) and non-UTF-8 bytes."""
    size = Path(path).stat().st_size
    too_big = (f"{path}: {{size:,}} bytes is over the limit of {MAX_TABLE_BYTES:,} bytes for an energy table (a table "
               "holds tens of constants); is this the right file? (the limit is energy_models.table.MAX_TABLE_BYTES)")
    if size > MAX_TABLE_BYTES:
        raise EnergyTableError(too_big.format(size=size))
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TABLE_BYTES + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise EnergyTableError(f"{path}: cannot read the energy table: {exc.strerror or exc}") from None
    if len(raw) > MAX_TABLE_BYTES:
        raise EnergyTableError(too_big.format(size=len(raw)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf16 = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise EnergyTableError(f"{path}: not UTF-8 text{utf16}: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                               "cannot be decoded; save the table as UTF-8 (TOML files must be UTF-8)") from None
    return text.removeprefix("\ufeff")  # a byte-order mark, as some editors write, is harmless


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> EnergyTable:
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnergyTableError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise EnergyTableError(f"{path}: TOML values nested too deeply to read; an energy table needs no nested "
                               "arrays") from None
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
