"""What every hardware model shares: the protocol, a table-driven base class and layer facts.

A model is a small class: a validated :class:`~energy_models.table.EnergyTable` of constants plus a
``price_layer`` function from one ledger record to a ``{component: pJ}`` breakdown. The base class
loops over the layers, warns about ledger content the model does not price (``unsupported``
modules, events no rule of the model used), and assembles the :class:`EnergyReport`.
"""

from __future__ import annotations

import abc
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from energy_models.ledger import EVENTS, EventLedger, LayerEvents
from energy_models.report import EnergyReport, LayerCost
from energy_models.table import EnergyTable

#: Event names that describe data movement (priced by models from shape facts, with their own reuse).
MEMORY_EVENTS: tuple[str, ...] = ("weight_reads", "input_reads", "output_writes", "vmem_reads", "vmem_writes")
#: Layer kinds holding synapses.
SYNAPTIC_KINDS: tuple[str, ...] = ("conv", "linear")


@runtime_checkable
class EnergyModel(Protocol):
    """A hardware model: ``name``, ``provenance`` (paper, repository, technology node, assumptions,
    options) and ``price(ledger) -> EnergyReport``."""

    name: str
    provenance: dict[str, Any]

    def price(self, ledger: EventLedger) -> EnergyReport: ...


# -- layer facts ---------------------------------------------------------------------------------
def prod(values: Iterable[float]) -> float:
    out = 1.0
    for v in values:
        out *= float(v)
    return out


def spatial(shape: Sequence[int]) -> float:
    """H*W of a (C, H, W) shape; 1 for (F,) or an empty shape."""
    return prod(shape[1:]) if len(shape) >= 2 else 1.0


def in_elements(layer: LayerEvents) -> float:
    """Input values per sample per step (from ``in_shape``; else ``in_channels``)."""
    return prod(layer.in_shape) if layer.in_shape else float(layer.in_channels)


def out_elements(layer: LayerEvents) -> float:
    """Output values per sample per step (from ``out_shape``; else ``neurons``)."""
    return prod(layer.out_shape) if layer.out_shape else float(layer.neurons)


def kernel_area(layer: LayerEvents) -> float:
    """k_h * k_w of a conv layer (1 for a linear layer or when not recorded)."""
    return prod(layer.kernel_size) if layer.kernel_size else 1.0


def weight_count(layer: LayerEvents) -> float:
    """Weights of the layer: ``synapses``, else C_in * C_out * k_h * k_w."""
    if layer.synapses > 0:
        return layer.synapses
    return float(layer.in_channels * layer.out_channels) * kernel_area(layer)


def fan_in(layer: LayerEvents) -> float:
    """Synapses per output neuron: ``synapses / out_channels`` (right for grouped convs too)."""
    if layer.out_channels > 0 and weight_count(layer) > 0:
        return weight_count(layer) / layer.out_channels
    return float(layer.in_channels) * kernel_area(layer)


def dense_ops_per_step(layer: LayerEvents) -> float:
    """Synaptic operations of one step (one group) if every input were non-zero."""
    return out_elements(layer) * fan_in(layer)


def steps(layer: LayerEvents) -> int:
    """Sequential timesteps x parallel groups the layer ran."""
    return int(layer.timesteps) * int(layer.groups)


def spike_input(layer: LayerEvents) -> bool:
    """Whether the layer's input is a spike train (recorded flag, or ACs without MACs)."""
    return bool(layer.input_spiking or (layer.ac > 0 and layer.mac == 0))


def active_input_fraction(layer: LayerEvents) -> float | None:
    """Fraction of input values that were non-zero (over steps/groups); None if not recorded."""
    if layer.input_elements <= 0:
        return None
    return min(1.0, layer.input_nonzero / layer.input_elements)


def convention_defaults(**overrides: Any) -> dict[str, Any]:
    """A model's ``CONVENTIONS``: the base defaults with ``overrides``. The base defaults price a ledger
    as counted (what a user table does: event-driven ACs, dense MACs, every recorded write and read);
    every built-in model states its own."""
    out = {"zero_skipping": "spikes_only", "fused_activation": False, "first_layer": "once", "if_dataflow": None,
           "spike_event_pj": None}
    unknown = sorted(set(overrides) - set(out))
    if unknown:
        raise ValueError(f"unknown convention(s) {unknown}; conventions: {', '.join(out)}")
    return {**out, **overrides}


def consumer(ledger: EventLedger, index: int) -> LayerEvents | None:
    """The neuron/activation record that consumes synaptic layer ``index``'s output: the record named
    by its ``fused_into``, else the first ``neuron`` record after it before the next synaptic layer."""
    layer = ledger.layers[index]
    if layer.fused_into:
        for other in ledger.layers:
            if other.name == layer.fused_into:
                return other
    for other in ledger.layers[index + 1:]:
        if other.kind in SYNAPTIC_KINDS:
            return None
        if other.kind == "neuron":
            return other
    return None


def feeds_membrane(ledger: EventLedger, index: int) -> bool:
    """Whether synaptic layer ``index``'s output current is integrated into a membrane potential
    (its consumer emits spikes or keeps membrane state): a ledger fact, not a method name."""
    after = consumer(ledger, index)
    return after is not None and (after.output_spiking or after.vmem_reads + after.vmem_writes > 0)


def fused_output_bits(ledger: EventLedger, layer: LayerEvents, fused: bool, default: float) -> float:
    """Width at which ``layer``'s output leaves the PE: the consuming activation's ``out_bits`` when the
    activation is fused (``fused_into`` set and ``fused`` on), else the layer's own ``out_bits``."""
    if fused and layer.fused_into:
        for other in ledger.layers:
            if other.name == layer.fused_into and other.out_bits > 0:
                return float(other.out_bits)
    return bits(layer.out_bits, default)


def fused_input(ledger: EventLedger, layer: LayerEvents, fused: bool) -> bool:
    """Whether ``layer`` (an activation/neuron) takes its input straight from a fused PE output
    (so its input read is not a memory access)."""
    return fused and any(other.fused_into == layer.name for other in ledger.layers)


def bits(value: int, default: float) -> float:
    """A recorded bit width, or ``default`` where the ledger left it 0."""
    return float(value) if value and value > 0 else float(default)


# -- the table-driven base -------------------------------------------------------------------------
class TableModel(abc.ABC):
    """Base of the built-in models: a table, options, and a per-layer pricing function.

    Subclasses set ``NAME``, ``TABLE`` (the packaged table's stem), ``REQUIRED`` (constant keys),
    ``OPTIONAL`` (constant keys read only under some options; a table naming any other constant is
    refused, or only warned about when the class does not declare ``OPTIONAL``), ``ASSUMPTIONS``
    and implement :meth:`price_layer`, which adds pJ to ``cost`` and returns the names of the ledger
    events it accounted for (priced, or deliberately covered by another term).
    """

    NAME: ClassVar[str] = ""
    TABLE: ClassVar[str] = ""
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    OPTIONAL: ClassVar[tuple[str, ...]] = ()
    TABLE_EVENTS: ClassVar[tuple[str, ...]] = ()  # [events] entries it prices (user tables only)
    ASSUMPTIONS: ClassVar[tuple[str, ...]] = ()
    #: Defaults of the pricing conventions every model shares (see :mod:`energy_models.conventions`):
    #: ``zero_skipping`` (True / False / "spikes_only"), ``fused_activation``, ``first_layer``
    #: ("once" / "per_step"), ``if_dataflow`` ("time_outer" / "time_inner", or None where the model
    #: has no membrane traffic to change), ``spike_event_pj`` (None: the model's own, see
    #: :meth:`default_spike_event_pj`).
    CONVENTIONS: ClassVar[dict[str, Any]] = convention_defaults()
    #: Whether ``price_layer`` charges ``spike_event_pj`` itself; if not, :meth:`price` adds it per layer.
    PRICES_SPIKE_EVENTS: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__ is None:  # a model's docstring is its module's: formulas, what is counted, assumptions
            cls.__doc__ = sys.modules[cls.__module__].__doc__

    def __init__(self, table: EnergyTable | None = None, name: str | None = None, **options: Any) -> None:
        from energy_models.conventions import split_common_options
        from energy_models.table import builtin_table

        self.table = table if table is not None else builtin_table(self.TABLE)
        # Unknown names first: a misspelt required constant is then reported with its did-you-mean.
        declared = any("OPTIONAL" in vars(c) for c in type(self).__mro__ if c is not TableModel)
        reader = self.NAME or type(self).__name__
        self.table.check_names((*self.REQUIRED, *self.OPTIONAL), reader=reader, strict=declared)
        self.table.check_names(self.TABLE_EVENTS, section="events", reader=reader)
        self.table.require(self.REQUIRED)
        common, rest = split_common_options(type(self), self._aliases(dict(options)))
        self.options = {**self._check_options(rest), **common}
        if self.options["spike_event_pj"] is None:
            self.options["spike_event_pj"] = self.default_spike_event_pj()
        self.name = name or self.NAME

    def _aliases(self, options: dict[str, Any]) -> dict[str, Any]:
        """Map a model's own option names onto the shared conventions (``gated`` -> ``zero_skipping``)."""
        return options

    def default_spike_event_pj(self) -> float:
        """The model's own per-spike addressing/routing energy (pJ per emitted spike); 0 if it has none."""
        return 0.0

    def spike_event_cost(self, layer: LayerEvents, cost: LayerCost) -> None:
        """Charge ``spike_event_pj`` per spike emitted by ``layer`` to ``interconnect`` (models that
        have their own per-spike routing term override :meth:`default_spike_event_pj` and use it there)."""
        pj = self.options["spike_event_pj"]
        if pj > 0 and layer.spikes > 0:
            cost.add("interconnect", layer.spikes * pj)

    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return dict(options)

    @property
    def provenance(self) -> dict[str, Any]:
        meta = self.table.meta
        return {
            "name": self.name,
            "title": meta.get("title", ""),
            "paper": meta.get("paper", ""),
            "repository": meta.get("repository", ""),
            "technology": meta.get("technology", ""),
            "assumptions": [*self.ASSUMPTIONS, *meta.get("assumptions", [])],
            "options": dict(self.options),
            "table": self.table.path,
        }

    def price(self, ledger: EventLedger) -> EnergyReport:
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
        from energy_models.conventions import effective_ledger

        ledger = effective_ledger(self, ledger, warnings)
        self.prepare(ledger, warnings)
        costs, unpriced = [], defaultdict(float)
        unpriced_kinds: dict[str, set[str]] = defaultdict(set)
        for index, layer in enumerate(ledger.layers):
            cost = LayerCost(layer.name, layer.kind)
            consumed = set(self.price_layer(ledger, index, layer, cost, warnings))
            if not self.PRICES_SPIKE_EVENTS:
                self.spike_event_cost(layer, cost)
            for event in EVENTS:
                count = getattr(layer, event)
                if count > 0 and event not in consumed:
                    unpriced[event] += count
                    unpriced_kinds[event].add(layer.kind)
            costs.append(cost)
        if unpriced:
            listed = ", ".join(f"{e}={unpriced[e]:.4g} ({'/'.join(sorted(unpriced_kinds[e]))})" for e in EVENTS
                               if e in unpriced)
            warnings.append(f"{self.name} does not price these events (per inference): {listed}")
        return EnergyReport(model=self.name, method=ledger.method, layers=costs, provenance=self.provenance,
                            warnings=list(dict.fromkeys(warnings)), timesteps=ledger.timesteps,
                            groups=ledger.groups)

    def prepare(self, ledger: EventLedger, warnings: list[str]) -> None:  # noqa: B027 (an optional hook)
        """Hook for ledger-wide facts (nothing by default)."""

    def conventions(self, method: str) -> dict[str, Any]:
        """This model's pricing conventions for ``method`` (one row of :func:`conventions_table`)."""
        from energy_models.conventions import model_conventions

        return model_conventions(self, method)

    @abc.abstractmethod
    def price_layer(self, ledger: EventLedger, index: int, layer: LayerEvents, cost: LayerCost,
                    warnings: list[str]) -> Iterable[str]:
        """Add this layer's energies to ``cost`` (pJ per component); return the events it priced."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, options={self.options!r})"


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise ValueError(f"{name} = {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_fraction(name: str, value: Any) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} = {value!r}; expected a number in [0, 1]")
    return value


def check_nonneg(name: str, value: Any) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value!r}; expected a finite number >= 0")
    return value
