"""A model made from a table alone: energy per ledger event, per component (no code).

A user table has an ``[events]`` section (see :mod:`energy_models.table` for the format)::

    [model]
    name = "my_chip"
    paper = "datasheet rev. 3, Table 5"
    technology = "22 nm"
    assumptions = ["weights on chip", "no reuse modelled: every logical access priced"]

    [events.ac]
    value = 0.05
    unit = "pJ"
    component = "compute"
    source = "datasheet Table 5"

    [events.weight_reads]
    value = 0.1
    unit = "pJ"
    per = "bit"                 # x weight_bits of the layer
    component = "weight_memory"
    source = "datasheet Table 7"

Energy of a layer = sum over the table's events of count x energy (x the event's bit width when
``per = "bit"``: ``weight_bits`` for mac/weight_reads, ``act_bits`` for input_reads, ``out_bits``
for output_writes, ``vmem_bits`` for vmem_reads/vmem_writes, 1 otherwise). Events of the ledger
that the table does not name are reported in ``warnings``. The counts are the ledger's logical
counts: no dataflow reuse is applied, and OneSpike's groups are priced as the counted parallel work
of one timestep (whatever the counts hold). A table with ``base = "<built-in model>"`` in
``[model]`` instead runs that model's code with the table's ``[constants]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from energy_models.base import TableModel
from energy_models.ledger import EVENTS, EventLedger, LayerEvents
from energy_models.report import LayerCost
from energy_models.table import EnergyTable, EnergyTableError

#: The bit width each event is multiplied by when ``per = "bit"``.
USER_EVENT_BITS: dict[str, str] = {
    "mac": "weight_bits",
    "weight_reads": "weight_bits",
    "input_reads": "act_bits",
    "output_writes": "out_bits",
    "vmem_reads": "vmem_bits",
    "vmem_writes": "vmem_bits",
}


class UserTableModel(TableModel):
    """Generic per-event model of a user table (``[events.<event>]`` entries)."""

    NAME = "user"
    OPTIONAL = ("clock",)  # the only constant read: it turns mW event powers into energy per cycle
    TABLE_EVENTS = EVENTS
    ASSUMPTIONS = (
        "energy = sum of ledger event counts x the table's energy per event (per bit where the table says so)",
        "logical counts as recorded: no dataflow reuse; OneSpike groups priced as their counted parallel work",
    )

    def __init__(self, table: EnergyTable, name: str | None = None, **options: Any) -> None:
        if not table.events:
            raise EnergyTableError(f"{table.path}: key 'events' is missing; a user table prices ledger events "
                                   f"([events.<event>] entries; events: {', '.join(EVENTS)}) or names a built-in "
                                   "model with [model] base = ...")
        super().__init__(table, name=name or str(table.meta.get("name") or table.path), **options)

    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        for event, constant in self.table.events.items():
            count = getattr(layer, event)
            if count <= 0:
                continue
            if constant.extra.get("per", "event") == "bit":
                width = getattr(layer, USER_EVENT_BITS[event]) if event in USER_EVENT_BITS else 1
                if width <= 0:
                    warnings.append(f"{self.name}: {event} is priced per bit but layer {layer.name!r} records no "
                                    f"{USER_EVENT_BITS.get(event, 'width')}; priced as 1 bit")
                    width = 1
                count *= width
            cost.add(constant.extra["component"], count * self.table.event_pj(event),
                     level=constant.extra.get("level", "on_chip"))
        return set(self.table.events)
