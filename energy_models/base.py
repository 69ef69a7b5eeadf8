"""What every hardware model shares: the protocol and a table-driven base class.

A model is a small class: a validated :class:`~energy_models.table.EnergyTable` of constants, its own
options declared once (``OPTIONS``: name -> :class:`~energy_models.options.Option`), and a
``price_layer`` function from one ledger record to a ``{component: pJ}`` breakdown. The base class
checks options (one did-you-mean error for every model), applies the shared conventions
(:mod:`energy_models.conventions`), loops over the layers, warns about ledger content the model does
not price (``unsupported`` modules, events no rule of the model used), and assembles the
:class:`EnergyReport` with the record of the conventions it applied.
"""

from __future__ import annotations

import abc
import sys
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol, runtime_checkable

from energy_models.conventions import applied_conventions, common_options, convention_defaults, effective_ledger
from energy_models.ledger import EVENTS, EventLedger, LayerEvents
from energy_models.options import Option, bit_width, check_options, choice
from energy_models.placement import PLACEMENTS, Hierarchy, Level, hierarchy_from_table, referenced_constants
from energy_models.report import EnergyReport, LayerCost
from energy_models.table import EnergyTable, builtin_table
from energy_models.tensors import placement_plan


@runtime_checkable
class EnergyModel(Protocol):
    """A hardware model: ``name``, ``provenance`` (paper, repository, technology node, assumptions,
    options) and ``price(ledger) -> EnergyReport``."""

    name: str
    provenance: dict[str, Any]

    def price(self, ledger: EventLedger) -> EnergyReport: ...


def psum_option(default: Any, why: str) -> Option:
    """The ``psum_bits`` option: the one width at which a model stores a pre-activation tensor (a
    QNN's partial sum written before pooling or an unfused activation, an SNN's membrane), for every
    method alike; ``why`` says where the default comes from."""
    return Option(f"width of a stored pre-activation (partial sum or membrane), every method alike; default: {why}",
                  default, bit_width)


def placement_option() -> Option:
    """The ``placement`` option of a model with a memory hierarchy (:mod:`energy_models.placement`)."""
    return Option("where tensors live: 'by_size' (every tensor at the cheapest level that holds it for its lifetime, "
                  "weights first), 'all_on_chip', 'weights_streamed' (weights fetched from off chip every "
                  "inference), 'all_streamed'", "by_size", choice(*PLACEMENTS))


class TableModel(abc.ABC):
    """Base of the built-in models: a table, options, and a per-layer pricing function.

    Subclasses set ``NAME``, ``TABLE`` (the packaged table's stem), ``REQUIRED`` (constant keys),
    ``OPTIONAL`` (constant keys read only under some options; a table naming any other constant is
    refused, or only warned about when the class does not declare ``OPTIONAL``), ``OPTIONS`` (their
    own options; the shared conventions are added from ``CONVENTIONS``), ``ASSUMPTIONS``,
    ``ZERO_BY_CONSTRUCTION`` (events they price at 0 pJ by construction, with why) and implement
    :meth:`price_layer`, which adds pJ to ``cost``, records in ``cost.applied`` the widths and accesses
    it used, and returns the names of the ledger events it accounted for (priced, or deliberately
    covered by another term).
    """

    NAME: ClassVar[str] = ""
    TABLE: ClassVar[str] = ""
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    OPTIONAL: ClassVar[tuple[str, ...]] = ()
    TABLE_EVENTS: ClassVar[tuple[str, ...]] = ()  # [events] entries it prices (user tables only)
    ASSUMPTIONS: ClassVar[tuple[str, ...]] = ()
    #: Defaults of the pricing conventions every model shares (see :mod:`energy_models.conventions`).
    CONVENTIONS: ClassVar[dict[str, Any]] = convention_defaults()
    #: The model's own options (name -> Option); the shared conventions are declared by the base.
    OPTIONS: ClassVar[dict[str, Option]] = {}
    #: Events the model accounts for but prices at 0 pJ by construction (event -> why), for the report.
    ZERO_BY_CONSTRUCTION: ClassVar[dict[str, str]] = {}
    #: Whether ``price_layer`` charges ``spike_event_pj`` itself; if not, :meth:`price` adds it per layer.
    PRICES_SPIKE_EVENTS: ClassVar[bool] = False
    #: Constants (bits) of the weight and activation widths where a ledger records none (models that
    #: place tensors in a memory hierarchy, declared in the table's ``[memory.<level>]`` sections).
    WEIGHT_BITS: ClassVar[str] = ""
    ACT_BITS: ClassVar[str] = ""
    #: Whether the model places tensors in its table's memory hierarchy (it then takes ``placement``).
    PLACES_TENSORS: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__ is None:  # a model's docstring is its module's: formulas, what is counted, assumptions
            cls.__doc__ = sys.modules[cls.__module__].__doc__

    def __init__(self, table: EnergyTable | None = None, name: str | None = None, **options: Any) -> None:
        self.table = table if table is not None else builtin_table(self.TABLE)
        # Unknown names first: a misspelt required constant is then reported with its did-you-mean.
        declared = any("OPTIONAL" in vars(c) for c in type(self).__mro__ if c is not TableModel)
        reader = self.NAME or type(self).__name__
        memory = referenced_constants(self.table) if self.PLACES_TENSORS else ()
        self.table.check_names((*self.REQUIRED, *self.OPTIONAL, *memory), reader=reader, strict=declared)
        self.table.check_names(self.TABLE_EVENTS, section="events", reader=reader)
        self.table.require(self.REQUIRED)
        self.name = name or self.NAME
        self.options = check_options(reader, self.option_specs(), self.resolve_aliases(dict(options)), self.table)
        if self.options["spike_event_pj"] is None:
            self.options["spike_event_pj"] = self.default_spike_event_pj()
        self.validate_options()
        self.hierarchy: Hierarchy | None = (hierarchy_from_table(self.table, self.options.get("variant"))
                                            if self.PLACES_TENSORS else None)
        self.plan: dict[tuple[int, str], Level] = {}

    @classmethod
    def option_specs(cls) -> dict[str, Option]:
        """Every option the model accepts: the shared conventions, then its own."""
        placement = {"placement": placement_option()} if cls.PLACES_TENSORS else {}
        return {**common_options(cls.NAME or cls.__name__, cls.CONVENTIONS), **placement, **cls.OPTIONS}

    def resolve_aliases(self, options: dict[str, Any]) -> dict[str, Any]:
        """Map a model's own option names onto the shared conventions (``gated`` -> ``zero_skipping``)."""
        return options

    def validate_options(self) -> None:  # noqa: B027 (an optional hook)
        """Checks that need the table or several options together (nothing by default)."""

    def default_spike_event_pj(self) -> float:
        """The model's own per-spike addressing/routing energy (pJ per emitted spike); 0 if it has none."""
        return 0.0

    def spike_event_cost(self, layer: LayerEvents, cost: LayerCost) -> None:
        """Charge ``spike_event_pj`` per spike emitted by ``layer`` to ``interconnect`` (models that
        have their own per-spike routing term override :meth:`default_spike_event_pj` and use it there)."""
        pj = self.options["spike_event_pj"]
        if pj > 0 and layer.spikes > 0:
            cost.add("interconnect", layer.spikes * pj)

    def prices_membrane(self) -> bool:
        """Whether this model (with its options) prices membrane traffic, so that ``if_dataflow`` matters."""
        return self.options["if_dataflow"] is not None

    def zero_by_construction(self) -> dict[str, str]:
        """Events this model (with its options) prices at 0 pJ by construction, and why."""
        out = dict(self.ZERO_BY_CONSTRUCTION)
        if self.options["spike_event_pj"] == 0:
            out.setdefault("spikes", "no per-spike addressing/routing energy (spike_event_pj = 0)")
        return out

    def level(self, index: int, role: str, cost: LayerCost | None = None) -> Level:
        """The memory level of tensor ``role`` of record ``index`` in this pricing's placement (noted in
        ``cost.applied`` as ``role@level``, so the conventions table shows the placement applied)."""
        if self.hierarchy is None:
            raise TypeError(f"{self.name} places no tensors (PLACES_TENSORS is False)")
        level = self.plan[(index, role)]
        if cost is not None:
            placed = cost.applied.setdefault("placement", [])
            placed.append(f"{role}@{level.name}")
            if role == "weights":
                cost.applied["weight_fetch"] = ("resident on chip" if level.on_chip
                                                else f"{level.name} every inference")
        return level

    @property
    def provenance(self) -> dict[str, Any]:
        meta = self.table.meta
        return {
            "name": self.name,
            "title": meta.get("title", ""),
            "paper": meta.get("paper", ""),
            "repository": meta.get("repository", ""),
            "technology": meta.get("technology", ""),
            "published_gain": meta.get("published_gain", ""),
            "assumptions": [*self.ASSUMPTIONS, *meta.get("assumptions", [])],
            "options": dict(self.options),
            "zero_by_construction": self.zero_by_construction(),
            "table": self.table.path,
        }

    def price(self, ledger: EventLedger,
              effective: tuple[EventLedger, list[dict[str, Any]], list[str]] | None = None) -> EnergyReport:
        """``ledger`` priced. ``effective``: ``(effective ledger, applied per layer, warnings)`` of
        :func:`~energy_models.conventions.effective_ledger` for this ledger and these options, when the
        caller made it already for a model of the same :func:`~energy_models.conventions.effective_key`."""
        if not isinstance(ledger, EventLedger):
            raise TypeError(f"price() needs an EventLedger, got {type(ledger).__name__}")
        warnings: list[str] = []
        if ledger.unsupported:
            listed = ", ".join(f"{path} ({kind})" for path, kind in ledger.unsupported[:5])
            more = f" and {len(ledger.unsupported) - 5} more" if len(ledger.unsupported) > 5 else ""
            warnings.append(f"{len(ledger.unsupported)} module(s) no counting rule covered are missing from the "
                            f"energy: {listed}{more}")
        if ledger.total("nonfinite_values") > 0:
            warnings.append(f"the ledger saw {ledger.total('nonfinite_values'):.4g} NaN/Inf values per inference: "
                            "its counts (and this price) are not to be trusted")
        if effective is None:
            ledger, applied = effective_ledger(self.options, ledger, warnings)
        else:
            ledger, applied, said = effective
            warnings.extend(said)
        if self.hierarchy is not None:
            self.plan = placement_plan(self.hierarchy, ledger, self.options, self.table.value(self.WEIGHT_BITS),
                                       self.table.value(self.ACT_BITS))
        self.prepare(ledger, warnings)
        costs, unpriced = [], defaultdict(float)
        unpriced_kinds: dict[str, set[str]] = defaultdict(set)
        for index, layer in enumerate(ledger.layers):
            cost = LayerCost(layer.name, layer.kind, applied=dict(applied[index]))
            consumed = set(self.price_layer(ledger, index, layer, cost, warnings))
            if not self.PRICES_SPIKE_EVENTS:
                self.spike_event_cost(layer, cost)
            counts = vars(layer)  # the record's fields: one dict lookup per event (this loop runs per layer per price)
            for event in EVENTS:
                if event not in consumed and (count := counts[event]) > 0:
                    unpriced[event] += count
                    unpriced_kinds[event].add(layer.kind)
            costs.append(cost)
        if unpriced:
            listed = ", ".join(f"{e}={unpriced[e]:.4g} ({'/'.join(sorted(unpriced_kinds[e]))})" for e in EVENTS
                               if e in unpriced)
            warnings.append(f"{self.name} does not price these events (per inference): {listed}")
        return EnergyReport(model=self.name, method=ledger.method, layers=costs, provenance=self.provenance,
                            warnings=list(dict.fromkeys(warnings)), timesteps=ledger.timesteps,
                            groups=ledger.groups, conventions=applied_conventions(costs, self.options))

    def prepare(self, ledger: EventLedger, warnings: list[str]) -> None:  # noqa: B027 (an optional hook)
        """Hook for ledger-wide facts (nothing by default)."""

    @abc.abstractmethod
    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        """Add this layer's energies to ``cost`` (pJ per component); return the events it priced."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, options={self.options!r})"
