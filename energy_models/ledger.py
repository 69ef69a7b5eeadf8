"""The event ledger: what a network did for one inference, layer by layer.

This module is the contract between ``analysis`` (which counts events in instrumented forward
passes) and ``energy_models`` (which prices them). It imports no torch: a ledger is plain numbers,
so it can be saved as JSON, re-priced later, summed across processes, and built by hand in tests.

Vocabulary (see ``DESIGN.md``). Every event count is **per sample** (per inference), summed over
the layer's sequential ``timesteps`` and parallel ``groups``:

=================  =================================================================================
``mac``            multiply-accumulate with a non-binary operand (``weight_bits`` x ``act_bits``)
``ac``             accumulate driven by a binary spike: one per (spike, synapse that spike reaches)
``add``            other additions: bias, summing group currents, residual shortcuts, membrane update
``mul``, ``mod``   explicit multiplications / modulus (PSG exact mode)
``shift``          shifts (PSG hardware mode, power-of-two scaling)
``mask``           bit masks (PSG hardware mode residual)
``cmp``            threshold comparisons
``xnor``           BNN binary products, in bits
``popcount``       BNN population-count inputs, in bits
``spikes``         spikes emitted by the layer
``weight_reads``   weights fetched, in words of ``weight_bits``, before any dataflow reuse
``input_reads``    activations/spikes read, in words of ``act_bits`` (1 for spikes)
``output_writes``  activations/spikes/partial results written, in words of ``out_bits``
``vmem_reads``     membrane-potential reads, in words of ``vmem_bits``
``vmem_writes``    membrane-potential writes, in words of ``vmem_bits``
=================  =================================================================================

Sparsity is kept as two additive counts (``input_nonzero`` of ``input_elements``), so that ledgers
from several batches or processes merge by weighted sums and the sparsity is derived afterwards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from energy_models.checks import check_choice

#: Every countable event, in the order tables show them.
EVENTS: tuple[str, ...] = (
    "mac",
    "ac",
    "add",
    "mul",
    "mod",
    "shift",
    "mask",
    "cmp",
    "xnor",
    "popcount",
    "spikes",
    "weight_reads",
    "input_reads",
    "output_writes",
    "vmem_reads",
    "vmem_writes",
)

#: Additive per-sample counts that are not events but describe activity (used to derive sparsity,
#: and for near-threshold ties, see issue "numerical edge cases").
ACTIVITY: tuple[str, ...] = (
    "input_nonzero",
    "input_elements",
    "output_nonzero",
    "output_elements",
    "threshold_ties",
    "mac_nonzero",
    "nonfinite_values",
)

#: Layer kinds that pricing functions distinguish.
KINDS: tuple[str, ...] = ("conv", "linear", "neuron", "pool", "add", "norm", "reshape", "encoder", "other")

class LedgerError(ValueError):
    """A ledger or layer record is malformed (a negative count, an unknown event, a bad field)."""


def _as_tuple(value: Any) -> tuple[int, ...]:
    if type(value) is tuple:
        # A counter hands over the same few shapes (kernels, strides, layer shapes) in every record: each is
        # converted once. A key equal to ``value`` holds numbers equal to its own, so their ints are the same.
        try:
            found = _INT_TUPLES.get(value)
        except TypeError:  # an unhashable element: converted (or refused) below
            found = None
        if found is not None:
            return found
        converted = tuple(map(int, value))
        if len(_INT_TUPLES) < 4096 and all(type(v) in _PLAIN_NUMBERS for v in value):  # no tensor kept alive
            _INT_TUPLES[value] = converted
        return converted
    if value is None:
        return ()
    if isinstance(value, int | float):
        return (int(value),)
    return tuple(map(int, value))


#: Tuples of plain numbers :func:`_as_tuple` has converted, by their value.
_INT_TUPLES: dict[tuple, tuple[int, ...]] = {}
_PLAIN_NUMBERS = (int, float, bool)


@dataclass
class LayerEvents:
    """Events of one layer for one inference (per sample), with the facts a pricing needs.

    ``kind`` is one of :data:`KINDS`. ``rule`` names the counting rule that produced the record
    (for example ``"conv.spike_input"``), so a reader can see *why* a layer was counted as ACs or
    MACs. Synaptic shape facts (``in_channels``, ``kernel_size``, ...) are set for conv/linear
    layers; ``in_shape``/``out_shape`` are per sample, without batch, time or group dimensions.
    ``neurons`` is the number of output values per sample per step; ``synapses`` the number of
    weights of the layer.
    """

    name: str
    kind: str
    module_type: str = ""
    method: str = ""
    rule: str = ""
    timesteps: int = 1
    groups: int = 1
    weight_bits: int = 0
    act_bits: int = 0
    out_bits: int = 0
    vmem_bits: int = 0
    input_spiking: bool = False
    output_spiking: bool = False
    # events (per sample)
    mac: float = 0.0
    ac: float = 0.0
    add: float = 0.0
    mul: float = 0.0
    mod: float = 0.0
    shift: float = 0.0
    mask: float = 0.0
    cmp: float = 0.0
    xnor: float = 0.0
    popcount: float = 0.0
    spikes: float = 0.0
    weight_reads: float = 0.0
    input_reads: float = 0.0
    output_writes: float = 0.0
    vmem_reads: float = 0.0
    vmem_writes: float = 0.0
    # activity (per sample, additive)
    input_nonzero: float = 0.0
    input_elements: float = 0.0
    output_nonzero: float = 0.0
    output_elements: float = 0.0
    threshold_ties: float = 0.0
    #: MACs whose activation operand was non-zero (what a zero-gated MAC array performs); counted for
    #: every layer with ``mac`` > 0, so ``mac - mac_nonzero`` are the MACs a zero-skipping design saves.
    mac_nonzero: float = 0.0
    #: NaN/Inf values seen in this layer's inputs or outputs (a ledger with any is not to be trusted).
    nonfinite_values: float = 0.0
    # dataflow facts
    #: Steps over which this layer's output is reused unchanged although its events were counted
    #: once (an IF network's analog first layer sees the same pixels at every step). Pricing applies
    #: the first-layer-reuse convention: ``once`` keeps the counts, ``per_step`` multiplies them by this.
    repeat_steps: int = 1
    #: Name of the activation/neuron layer that consumes this synaptic layer's output directly (the
    #: activation can be fused into the PE output); "" when the output goes elsewhere.
    fused_into: str = ""
    # shape facts
    neurons: float = 0.0
    synapses: float = 0.0
    in_channels: int = 0
    out_channels: int = 0
    kernel_size: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        values = self.__dict__
        for name in _SHAPE_ORDER:
            values[name] = _as_tuple(values[name])
        self._check_kind()
        for name in _COUNT_ORDER:
            value = float(values[name])
            if not math.isfinite(value) or value < 0:
                self._bad_count(name, value)
            values[name] = value
        for name in _STEP_ORDER:
            if int(values[name]) < 1:
                self._bad_steps(name, values[name])

    def _check_kind(self) -> None:
        if self.kind not in KINDS:  # a counter checks every record: the valid case is one lookup
            check_choice(f"layer {self.name!r}: kind", self.kind, KINDS, error=LedgerError)

    def _bad_count(self, name: str, value: float) -> None:
        raise LedgerError(f"layer {self.name!r}: {name} = {value!r}; counts must be finite and >= 0")

    def _bad_steps(self, name: str, value: Any) -> None:
        raise LedgerError(f"layer {self.name!r}: {name} must be >= 1, got {value!r}")

    @classmethod
    def of_fields(cls, data: Mapping[str, Any]) -> LayerEvents:
        """``LayerEvents(**data)``, checked alike (the same errors), but only the fields ``data``
        gives are checked and converted: every default is valid already. A counter builds one record
        per layer of every count, and checking all 40 fields cost more than counting the layer."""
        if not data.keys() <= _FIELDS.keys():
            raise TypeError(f"LayerEvents got unexpected fields {sorted(data.keys() - _FIELDS.keys())}; known "
                            f"fields: {sorted(_FIELDS)}")
        if "name" not in data or "kind" not in data:
            raise TypeError(f"LayerEvents needs the fields 'name' and 'kind', got {sorted(data)}")
        layer = cls.__new__(cls)
        values = layer.__dict__
        values.update(_FIELDS)
        values.update(data)
        layer._check_kind()
        for name in data.keys() & _COUNT_FIELDS:
            value = float(values[name])
            if not 0.0 <= value < math.inf:  # negative, infinite or NaN
                layer._bad_count(name, value)
            values[name] = value
        for name in data.keys() & _SHAPE_FIELDS:
            values[name] = _as_tuple(values[name])
        for name in data.keys() & _STEP_FIELDS:
            if int(values[name]) < 1:
                layer._bad_steps(name, values[name])
        return layer

    # -- derived -------------------------------------------------------------------------------
    @property
    def input_sparsity(self) -> float:
        """Fraction of input values (over all steps/groups) that were zero; 0.0 if not recorded."""
        if self.input_elements <= 0:
            return 0.0
        return 1.0 - self.input_nonzero / self.input_elements

    @property
    def output_sparsity(self) -> float:
        """Fraction of output values (over all steps/groups) that were zero; 0.0 if not recorded."""
        if self.output_elements <= 0:
            return 0.0
        return 1.0 - self.output_nonzero / self.output_elements

    @property
    def firing_rate(self) -> float:
        """Spikes per neuron per step (or group); 0.0 for non-spiking layers."""
        denom = self.neurons * self.timesteps * self.groups
        return self.spikes / denom if denom > 0 else 0.0

    def events(self) -> dict[str, float]:
        """The event counts of this layer as a ``{event: count}`` dict (all of :data:`EVENTS`)."""
        return {name: getattr(self, name) for name in EVENTS}

    def scaled(self, factor: float) -> LayerEvents:
        """A copy whose additive counts are multiplied by ``factor`` (facts unchanged)."""
        return replace(self, **{name: getattr(self, name) * factor for name in (*EVENTS, *ACTIVITY)})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("kernel_size", "stride", "padding", "in_shape", "out_shape"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerEvents:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LedgerError(f"layer record has unknown fields {unknown}; known fields: {sorted(known)}")
        return cls(**dict(data))


_SHAPE_ORDER = ("kernel_size", "stride", "padding", "in_shape", "out_shape")
_COUNT_ORDER = (*EVENTS, *ACTIVITY, "neurons", "synapses")
_STEP_ORDER = ("timesteps", "groups", "repeat_steps")
_SHAPE_FIELDS, _COUNT_FIELDS, _STEP_FIELDS = frozenset(_SHAPE_ORDER), frozenset(_COUNT_ORDER), frozenset(_STEP_ORDER)
#: Each field's default (all immutable; None for ``name`` and ``kind``, which have none).
_FIELDS: dict[str, Any] = {f.name: None if f.default is MISSING else f.default for f in fields(LayerEvents)}


@dataclass
class EventLedger:
    """Per-layer events of one method on one model, per sample.

    ``samples`` is how many inferences the counts were averaged over. ``unsupported`` lists
    ``(module_path, module_type)`` pairs that no counting rule covered (their cost is missing from
    the totals, and a pricing should warn). ``meta`` holds free-form facts (architecture, data set,
    precision, input encoding).
    """

    method: str
    timesteps: int = 1
    groups: int = 1
    samples: int = 0
    layers: list[LayerEvents] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method.strip():
            raise LedgerError(f"method {self.method!r}: expected a non-empty method name (any label: pricing never "
                              "keys on it, only on ledger facts)")
        self.unsupported = [tuple(u) for u in self.unsupported]

    # -- queries -------------------------------------------------------------------------------
    def total(self, event: str) -> float:
        """Sum of one event (or activity count) over all layers, per sample."""
        if event not in EVENTS and event not in ACTIVITY:
            raise KeyError(f"unknown event {event!r}; known events: {', '.join(EVENTS)}")
        return float(sum(getattr(layer, event) for layer in self.layers))

    def totals(self) -> dict[str, float]:
        """``{event: total}`` over all layers, per sample, for every event of :data:`EVENTS`."""
        return {name: self.total(name) for name in EVENTS}

    def layer(self, name: str) -> LayerEvents:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers: {[layer.name for layer in self.layers]}")

    @property
    def latency_steps(self) -> int:
        """Sequential steps an inference takes (T for an IF SNN, 1 for OneSpike and ANNs)."""
        return self.timesteps

    # -- combination ---------------------------------------------------------------------------
    def merge(self, other: EventLedger) -> EventLedger:
        """Sample-weighted combination of two ledgers of the same network and method.

        Used to combine batches or processes: per-sample counts are averaged with weights
        ``samples``. Layers must match by name and order.
        """
        if (self.method, self.timesteps, self.groups) != (other.method, other.timesteps, other.groups):
            raise LedgerError("cannot merge ledgers of different method/timesteps/groups")
        if [layer.name for layer in self.layers] != [layer.name for layer in other.layers]:
            raise LedgerError("cannot merge ledgers whose layers differ")
        n = self.samples + other.samples
        if n == 0:
            return EventLedger(**{**self.__dict__, "layers": list(self.layers)})
        merged = []
        for a, b in zip(self.layers, other.layers, strict=True):
            data = a.to_dict()
            for name in (*EVENTS, *ACTIVITY):
                data[name] = (getattr(a, name) * self.samples + getattr(b, name) * other.samples) / n
            merged.append(LayerEvents.from_dict(data))
        unsupported = list(dict.fromkeys([*self.unsupported, *other.unsupported]))
        return EventLedger(
            method=self.method,
            timesteps=self.timesteps,
            groups=self.groups,
            samples=n,
            layers=merged,
            unsupported=unsupported,
            meta=dict(self.meta),
        )

    # -- tables --------------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per layer (events, activity, sparsity, facts, and the ledger's method)."""
        records = []
        for index, layer in enumerate(self.layers):
            row = layer.to_dict()
            row["index"] = index
            row["input_sparsity"] = layer.input_sparsity
            row["output_sparsity"] = layer.output_sparsity
            row["firing_rate"] = layer.firing_rate
            for name in ("kernel_size", "stride", "padding", "in_shape", "out_shape"):
                row[name] = "x".join(str(v) for v in row[name])
            records.append(row)
        return records

    def to_frame(self):
        """A pandas DataFrame with one row per layer (see :meth:`to_records`)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records())

    def summary(self, events: Iterable[str] | None = None):
        """A compact per-layer table for notebooks: non-zero events, sparsity and a TOTAL row."""
        import pandas as pd

        frame = self.to_frame()
        if frame.empty:
            return frame
        chosen = list(events) if events is not None else [e for e in EVENTS if frame[e].sum() > 0]
        table = frame[["name", "module_type", "rule", *chosen, "input_sparsity", "output_sparsity"]].copy()
        total = {name: table[name].sum() for name in chosen}
        total.update(name="TOTAL", module_type="", rule="", input_sparsity=float("nan"),
                     output_sparsity=float("nan"))
        return pd.concat([table, pd.DataFrame([total])], ignore_index=True).set_index("name")

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "timesteps": self.timesteps,
            "groups": self.groups,
            "samples": self.samples,
            "layers": [layer.to_dict() for layer in self.layers],
            "unsupported": [list(u) for u in self.unsupported],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventLedger:
        try:
            layers = [LayerEvents.from_dict(layer) for layer in data.get("layers", [])]
            return cls(
                method=data["method"],
                timesteps=int(data.get("timesteps", 1)),
                groups=int(data.get("groups", 1)),
                samples=int(data.get("samples", 0)),
                layers=layers,
                unsupported=[tuple(u) for u in data.get("unsupported", [])],
                meta=dict(data.get("meta", {})),
            )
        except KeyError as exc:
            raise LedgerError(f"ledger record is missing {exc.args[0]!r}") from None

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> EventLedger:
        return cls.from_dict(json.loads(text))
