"""The measures a study makes besides evaluating and counting each method, as a registry the plan and
the study loop over: a method takes part in every measure that applies to it, decided from its
properties (:class:`~analysis.methods.MethodSpec`: its step axis, whether it spikes, how it is
trained, what it is converted from), never from its name, so a method a user registers takes part too.

Applicability is asked of the method registry: its role (:class:`~analysis.methods.Role`: a
conversion on T or on G of a quantized parent) or a property (``trains_directly``). A measure has a
scope:

- :data:`PER_STEP`: one plan unit per (architecture, seed, T, method), cached like a counted unit
  (``equivalence``: the group-parallel SNN's logits against its quantized parent at L = G = T, and
  the time-stepped one's beside them; ``onestep``: a directly trained SNN against its one-step form);
- :data:`PER_ARCH`: once per architecture and method of the first seed (``layer_fidelity``: a
  time-stepped SNN's per-layer errors and recorded currents against its quantized parent);
- :data:`PER_RUN`: once per run (``events``: the directly trained methods on event data, priced under
  the headline models).

Which question of the report each table answers is the report's business, not the study's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analysis.data import DataSplit
from analysis.methods import Role, get_method, roles_of, with_role
from analysis.registry import Registry
from analysis.study.ahead import LaterWork
from analysis.study.cache import RunCache
from analysis.study.config import StudyConfig
from analysis.study.direct import DirectNetworks, direct_archs, direct_steps
from analysis.study.evaluate import batches
from analysis.study.events import event_methods, event_rows, event_tasks, events_ahead
from analysis.study.fidelity import equivalence_unit, layer_errors, recorded_fidelity
from analysis.study.networks import derive, priced_form
from analysis.study.onestep import onestep_measure
from analysis.validate import check_choice
from energy_models import EnergyModel

__all__ = ["EQUIVALENCE", "LAYER_SAMPLES", "MEASURES", "ONESTEP", "PER_ARCH", "PER_RUN", "PER_STEP", "Measure",
           "MeasureInput", "measure_tables", "register_measure", "taking_part", "work_ahead"]

#: Scopes of a measure (see the module docstring).
PER_STEP, PER_ARCH, PER_RUN = "per step", "per architecture", "per run"
#: The per-step measures' names (their units' kind).
EQUIVALENCE, ONESTEP = "equivalence", "onestep"
#: Test images the per-layer measurements (recorded currents, layer errors) use.
LAYER_SAMPLES = 64


@dataclass(frozen=True)
class MeasureInput:
    """What a measure computes from: the study's config, the architecture, method, steps (T or G;
    1 for a per-architecture measure) and seed, the trained networks of the architecture
    (``parents``: method -> network), the data, and the directly trained networks."""

    config: StudyConfig
    arch: str
    method: str
    steps: int
    seed: int
    parents: Mapping[Any, Any]
    split: DataSplit
    direct: DirectNetworks | None = None

    @property
    def quantized_parent(self) -> Any:
        """The method's parent network as priced (deploy form, weights at the method's width)."""
        spec = get_method(self.method)
        return priced_form(self.parents[spec.parent], spec.requested_weight_bits(self.config.weight_bits))[0]


@dataclass(frozen=True)
class Measure:
    """One measure: its ``name`` (a per-step measure's units have it as their kind), ``scope``, the
    ``tables`` it fills, ``applies(method, chosen)`` (whether ``method`` of a study of the ``chosen``
    methods takes part) and ``compute``: for :data:`PER_STEP` and :data:`PER_ARCH`,
    ``compute(MeasureInput) -> outcome`` (a cached value), turned into table rows by
    ``rows(ident, outcome) -> {table: rows}``; for :data:`PER_RUN`, ``compute(config, cache, digest,
    models, on_unit) -> {table: rows}``, with ``units(config)`` its units (the progress bar's).
    A per-step measure runs where ``where(config, arch, steps)`` and its units have ``levels`` = steps
    when ``levels_are_steps`` (else the study's L). ``ahead(config, cache, digest)``: a per-run measure's
    units as :class:`~analysis.study.ahead.LaterWork` (None when cached) for the process that trains
    ahead, where they need nothing else the study computes."""

    name: str
    scope: str
    tables: tuple[str, ...]
    applies: Callable[[str, Sequence[str]], bool]
    compute: Callable[..., Any]
    rows: Callable[[dict[str, Any], Any], dict[str, list]] | None = None
    where: Callable[[StudyConfig, str, int], bool] | None = None
    levels_are_steps: bool = False
    units: Callable[[StudyConfig], int] | None = None
    ahead: Callable[[StudyConfig, RunCache, str], LaterWork | None] | None = None

    def __post_init__(self) -> None:
        check_choice(f"measure {self.name!r}: scope", self.scope, (PER_STEP, PER_ARCH, PER_RUN))
        if self.scope != PER_RUN and self.rows is None:
            raise ValueError(f"measure {self.name!r}: a {self.scope} measure needs rows(ident, outcome)")


#: Every measure by name (the toolkit's one registry type).
MEASURES: Registry[Measure] = Registry("measure")


def register_measure(measure: Measure, replace: bool = False) -> Measure:
    """Add a measure (refused when the name is taken, unless ``replace=True``)."""
    return MEASURES.add(measure.name, measure, replace=replace)


def taking_part(config: StudyConfig, scope: str) -> list[tuple[Measure, list[str]]]:
    """The measures of ``scope`` and, for each, the study's methods it applies to (in the config's
    order); a measure no method takes part in is left out."""
    out = []
    for measure in MEASURES.values():
        if measure.scope == scope:
            methods = [m for m in config.methods if measure.applies(m, config.methods)]
            if methods:
                out.append((measure, methods))
    return out


def work_ahead(config: StudyConfig, cache: RunCache, digest: str) -> LaterWork | None:
    """The per-run measures' units that the process training ahead can compute (see ``Measure.ahead``),
    as one piece of work; None when there are none."""
    pieces = [work for measure, _ in taking_part(config, PER_RUN) if measure.ahead is not None
              and (work := measure.ahead(config, cache, digest)) is not None]
    if not pieces:
        return None
    return LaterWork([key for work in pieces for key in work.keys], lambda: [work.run() for work in pieces])


def measure_tables() -> list[str]:
    """Every table the registered measures fill, in registration order."""
    return list(dict.fromkeys(table for measure in MEASURES.values() for table in measure.tables))


# -- the built-in measures ----------------------------------------------------------------------------
def _time_siblings(method: str, chosen: Sequence[str]) -> list[str]:
    """The chosen conversions on T of the quantized network ``method`` is converted from."""
    parent = get_method(method).parent
    return [m for m in with_role(Role.TIME_CONVERSION, chosen) if get_method(m).parent == parent]


def _group_with_time_sibling(method: str, chosen: Sequence[str]) -> bool:
    """A conversion on G whose quantized parent a chosen conversion on T shares."""
    return Role.GROUP_CONVERSION in roles_of(method) and bool(_time_siblings(method, chosen))


def _equivalence(given: MeasureInput) -> dict[str, Any]:
    """The conversion on G and its siblings on T against their quantized parent at L = steps."""
    methods = (given.method, *_time_siblings(given.method, given.config.methods))
    return equivalence_unit(given.quantized_parent, given.steps, given.split.test, given.config.device, methods)


def _trains_directly(method: str, chosen: Sequence[str]) -> bool:
    return get_method(method).trains_directly


def _equivalence_rows(ident: dict[str, Any], outcome: dict[str, Any]) -> dict[str, list]:
    ident = {key: ident[key] for key in ("arch", "T", "seed")}
    return {"equivalence": [{**ident, **{k: v for k, v in outcome.items() if k != "layers"}}],
            "level_flips": [{**ident, **row} for row in outcome.get("layers", [])]}


def _onestep(given: MeasureInput) -> dict[str, Any]:
    direct = given.direct.network(given.arch, given.method, given.steps, given.seed, given.split)
    summary, layers = onestep_measure(direct, batches(given.split.test))
    return {"summary": summary, "layers": layers}


def _onestep_rows(ident: dict[str, Any], outcome: dict[str, Any]) -> dict[str, list]:
    ident = {key: ident[key] for key in ("arch", "method", "T", "seed")}
    return {"onestep": [{**ident, **outcome["summary"]}],
            "onestep_layers": [{**ident, **row} for row in outcome["layers"]]}


def _layer_fidelity(given: MeasureInput) -> dict[str, list]:
    """Per-layer errors (``layer_errors``) and recorded currents (``fidelity``) of the method at every
    T of the study against the quantized network it is converted from."""
    quantized = given.quantized_parent
    images, _ = next(iter(batches(given.split.test, LAYER_SAMPLES, LAYER_SAMPLES)))
    out: dict[str, list] = {"layer_errors": [], "fidelity": []}
    for steps in given.config.timesteps:
        snn = derive(given.method, quantized, steps)
        out["layer_errors"].extend(layer_errors(quantized, snn, images, given.arch))
        out["fidelity"].extend(recorded_fidelity(snn, images, given.arch))
    return out


def _events(config: StudyConfig, cache: RunCache, digest: str, models: Mapping[str, EnergyModel],
            on_unit: Callable[[int], Any]) -> dict[str, list]:
    return {"events": event_rows(config, cache, digest, models, on_unit) if config.events else []}


def _event_units(config: StudyConfig) -> int:
    return len(event_tasks(config)) * len(config.event_timesteps) * len(event_methods(config)) if config.events else 0


for _measure in (
    Measure(EQUIVALENCE, PER_STEP, ("equivalence", "level_flips"), _group_with_time_sibling, _equivalence,
            _equivalence_rows, levels_are_steps=True),
    Measure("layer_fidelity", PER_ARCH, ("layer_errors", "fidelity"),
            lambda method, chosen: Role.TIME_CONVERSION in roles_of(method), _layer_fidelity,
            lambda ident, outcome: outcome),
    Measure(ONESTEP, PER_STEP, ("onestep", "onestep_layers"), _trains_directly, _onestep,
            _onestep_rows, where=lambda config, arch, steps: arch in direct_archs(config)
            and steps in direct_steps(config)),
    Measure("events", PER_RUN, ("events",), _trains_directly, _events, units=_event_units,
            ahead=lambda config, cache, digest: events_ahead(config, cache, digest) if config.events else None),
):
    register_measure(_measure)
