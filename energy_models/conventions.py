"""Pricing conventions shared by every hardware model, applied alike to every method, and the record
of what a pricing applied.

A model states each convention (its default is in the model class's ``CONVENTIONS``) and the report
prints it (``provenance["options"]``):

- ``zero_skipping``: ``True``: zero inputs are skipped for every method: spike-driven ``ac`` as
  counted (event-driven) *and* ``mac`` replaced by ``mac_nonzero`` (zero-gated MACs; weight reads
  scale alike). ``False``: dense for every method: a spike-input layer performs its dense synaptic
  ops in every step/group (``ac`` = dense ops per step x timesteps x groups, whatever fired) and
  MACs are dense. ``"spikes_only"``: the ledger as counted (event-driven ACs, dense MACs): the
  asymmetric convention of the SNN literature, kept for the literature variants and user tables.
- ``fused_activation``: a synaptic layer whose ``fused_into`` is set does not write its
  pre-activation; the activation leaves the PE at its own width (the consumer's ``out_bits``:
  ceil(log2(L+1)) for a QNN, 1 for spikes, 32 for an ANN), and the consumer does not read its input
  from memory. ``False``: the pre-activation is written and read at the model's pre-activation width.
- ``first_layer``: one rule for every method. ``"once"``: a layer whose output is reused by
  ``repeat_steps`` steps or groups (the analog first layer) is priced as counted, once;
  ``"per_step"``: it is recomputed for every step or group that reuses it (as SpikeSim's reference
  code does for an IF network's T steps): its counts are multiplied by ``repeat_steps``, T sequential
  steps for an IF network and G parallel groups for OneSpike alike
  (:func:`~energy_models.layer_facts.reuse_repeats`).
- ``if_dataflow``: ``"time_outer"``: every membrane potential is read and written every timestep;
  ``"time_inner"``: all T steps of a neuron run while it sits in the PE, so each membrane is read and
  written once per inference (as OneSpike's). ``None``: the model has no membrane traffic to change.
- ``spike_event_pj``: energy per emitted spike for its addressing/routing (``interconnect``); each
  model's own by default (0 where it has none).

Models with stored pre-activations also take ``psum_bits`` (one width for a QNN's partial sum and
an SNN's membrane, the same for every method), and models with a memory hierarchy ``placement``
(:mod:`energy_models.placement`).

What a pricing applied is recorded per layer (``LayerCost.applied``) by the code that prices, and
summarised per ledger in ``EnergyReport.conventions`` by :func:`applied_conventions` (keys
:data:`APPLIED_KEYS`): the conventions table is built from these records, never written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from energy_models.layer_facts import SYNAPTIC_KINDS, dense_synaptic_ops, reuse_repeats, spike_input
from energy_models.ledger import EventLedger, LayerEvents
from energy_models.options import Option, choice, flag, nonneg
from energy_models.report import LayerCost

ZERO_SKIPPING: tuple[Any, ...] = (True, False, "spikes_only")
FIRST_LAYER: tuple[str, ...] = ("once", "per_step")
IF_DATAFLOWS: tuple[str, ...] = ("time_outer", "time_inner")
#: Shown for a convention that does not apply to a ledger (no such layer, no such event).
NOT_APPLICABLE = "-"

#: The keys of ``EnergyReport.conventions`` (one per column of the conventions table), each with what it says.
APPLIED_KEYS: dict[str, str] = {
    "first_layer_multiplier": "factor applied to the counts of a layer counted once and reused (the analog first "
                              "layer): the steps or groups that reuse it under first_layer=per_step, 1 otherwise",
    "zero_skipping_ac": "spike-driven accumulates priced event-driven (as counted) or dense",
    "zero_skipping_mac": "multiply-accumulates priced zero-gated (mac_nonzero) or dense",
    "weight_bits": "widths at which weights were priced",
    "act_bits": "widths at which input activations/spikes were priced",
    "accumulator_bits": "widths of the accumulating adds",
    "preactivation_bits": "width of a stored pre-activation (a partial sum or a membrane: one width per model)",
    "psum_accesses_per_value": "on-chip reads + writes (yan2024: NoC moves) of each stored partial sum per inference",
    "psum_dram_accesses_per_value": "DRAM accesses of each stored partial sum per inference",
    "membrane_accesses_per_neuron": "on-chip membrane reads + writes per neuron per inference",
    "membrane_dram_accesses_per_neuron": "DRAM membrane accesses per neuron per inference",
    "fused_activation": "synaptic layers whose activation was fused into the PE output, of those with one",
    "weight_fetch": "whether weights were fetched from DRAM every inference or resident on chip",
    "placement": "where each stored tensor lived (role@level), as the shared placement rule put it",
    "if_dataflow": "membrane dataflow of a multi-step network",
}


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


def _zero_skipping(name: str, value: Any) -> Any:
    if isinstance(value, str):
        return choice(*ZERO_SKIPPING)(name, value)
    return flag(name, value)


def _no_dataflow(model: str):
    def check(name: str, value: Any) -> Any:
        raise ValueError(f"{model}: {name} = {value!r}; this model prices no membrane traffic, so it takes no "
                         f"{name} option")
    return check


def common_options(model: str, defaults: dict[str, Any]) -> dict[str, Option]:
    """The shared conventions as declared options, with ``model``'s defaults."""
    dataflow = choice(*IF_DATAFLOWS) if defaults["if_dataflow"] is not None else _no_dataflow(model)
    return {
        "zero_skipping": Option("skip zero inputs: True (every method), False (dense), 'spikes_only' (literature)",
                                defaults["zero_skipping"], _zero_skipping),
        "fused_activation": Option("activation fused into the PE output", defaults["fused_activation"], flag),
        "first_layer": Option("a layer reused by every step or group (the analog first layer) runs 'once' or "
                              "'per_step' (once per step or group), for every method alike",
                              defaults["first_layer"], choice(*FIRST_LAYER)),
        "if_dataflow": Option("membrane dataflow of a multi-step SNN: 'time_outer' or 'time_inner'",
                              defaults["if_dataflow"], dataflow),
        "spike_event_pj": Option("pJ per emitted spike for addressing/routing (default: the model's own)",
                                 defaults["spike_event_pj"], nonneg),
    }


# -- the conventions applied to a ledger ------------------------------------------------------------------
def _zero_gated_macs(layer: LayerEvents, warnings: list[str]) -> float:
    """``mac_nonzero`` where the ledger records it; else estimated from the input activity (warned),
    unless the MACs are fewer than the dense ops (then they were counted over non-zero inputs already)."""
    if layer.mac_nonzero > 0 or (layer.input_elements > 0 and layer.input_nonzero == 0):
        return min(layer.mac, layer.mac_nonzero)
    if layer.mac < 0.999 * dense_synaptic_ops(layer):
        return layer.mac
    if layer.input_elements > 0:
        warnings.append(f"layer {layer.name!r} records no mac_nonzero; zero-gated MACs estimated as mac x its "
                        "non-zero input fraction")
        return layer.mac * min(1.0, layer.input_nonzero / layer.input_elements)
    warnings.append(f"layer {layer.name!r} records neither mac_nonzero nor input activity; its MACs priced dense")
    return layer.mac


def effective_layer(ledger: EventLedger, layer: LayerEvents, options: dict[str, Any],
                    warnings: list[str]) -> tuple[LayerEvents, dict[str, Any]]:
    """``layer`` as the conventions in ``options`` price it (first-layer reuse, zero-skipping), and
    what was applied (the ``applied`` entries of its ``LayerCost``)."""
    applied: dict[str, Any] = {}
    if layer.repeat_steps > 1:
        repeats, sequential = reuse_repeats(ledger, layer)
        factor = repeats if options["first_layer"] == "per_step" else 1
        applied["first_layer_multiplier"] = float(factor)
        if factor > 1:
            axis = "timesteps" if sequential else "groups"
            layer = replace(layer.scaled(factor), **{axis: getattr(layer, axis) * factor}, repeat_steps=1)
    zs = options["zero_skipping"]
    if layer.kind not in SYNAPTIC_KINDS:
        return layer, applied
    if layer.ac > 0 or (spike_input(layer) and zs is False):
        applied["zero_skipping_ac"] = "dense" if zs is False else "event-driven"
    if layer.mac > 0:
        applied["zero_skipping_mac"] = "zero-gated" if zs is True else "dense"
    if zs == "spikes_only":
        return layer, applied
    data: dict[str, float] = {}
    dense = dense_synaptic_ops(layer)
    if zs is True and layer.mac > 0:
        gated = _zero_gated_macs(layer, warnings)
        data["weight_reads"] = layer.weight_reads * gated / layer.mac
        data["mac"] = gated
    elif zs is False:
        if spike_input(layer) or layer.ac > 0:
            data["ac"] = max(layer.ac, dense)
            data["weight_reads"] = max(layer.weight_reads, dense)
            data["input_reads"] = max(layer.input_reads, layer.input_elements)
        if layer.mac > 0 and layer.ac == 0 and not spike_input(layer):
            data["mac"] = max(layer.mac, dense)  # pooled-spike inputs are counted over non-zero inputs only
            data["weight_reads"] = max(layer.weight_reads, data["mac"])
    return (replace(layer, **data) if data else layer), applied


#: The options :func:`effective_ledger` reads: two models that agree on them see the same effective ledger.
EFFECTIVE_OPTIONS = ("first_layer", "zero_skipping")


def effective_key(options: dict[str, Any]) -> tuple[Any, ...]:
    """What :func:`effective_ledger` depends on in ``options`` (:data:`EFFECTIVE_OPTIONS`): a caller
    pricing one ledger under many models makes the effective ledger once per key."""
    return tuple(options[name] for name in EFFECTIVE_OPTIONS)


def effective_ledger(options: dict[str, Any], ledger: EventLedger,
                     warnings: list[str]) -> tuple[EventLedger, list[dict[str, Any]]]:
    """A copy of ``ledger`` with every layer as the conventions ``options`` price it, and per layer
    what was applied."""
    pairs = [effective_layer(ledger, layer, options, warnings) for layer in ledger.layers]
    out = EventLedger(method=ledger.method, timesteps=ledger.timesteps, groups=ledger.groups,
                      samples=ledger.samples, layers=[p[0] for p in pairs], unsupported=list(ledger.unsupported),
                      meta=dict(ledger.meta))
    return out, [p[1] for p in pairs]


# -- the record of what was applied -----------------------------------------------------------------------
def _number_text(value: float) -> str:
    return f"{value:g}"


def _joined(values: Sequence[Any]) -> str:
    """Distinct values, sorted (numbers as numbers), joined with '/'; '-' for none."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    if not distinct:
        return NOT_APPLICABLE
    return "/".join(_number_text(v) if isinstance(v, int | float) else str(v) for v in distinct)


def _per_value(costs: Sequence[LayerCost], count_key: str, values_key: str) -> float | str:
    values = sum(c.applied.get(values_key, 0.0) for c in costs)
    if values <= 0:
        return NOT_APPLICABLE
    return sum(c.applied.get(count_key, 0.0) for c in costs) / values


def applied_conventions(costs: Sequence[LayerCost], options: dict[str, Any]) -> dict[str, Any]:
    """The per-ledger summary (keys :data:`APPLIED_KEYS`) of the per-layer ``applied`` records the
    pricing wrote. Numbers where the convention is a number (multiplier, accesses per value), text
    otherwise; ``'-'`` where it did not apply to this ledger."""
    def values(key: str) -> list[Any]:
        return [c.applied[key] for c in costs if key in c.applied]

    multipliers = values("first_layer_multiplier")
    fused = values("fused_activation")
    membrane = _per_value(costs, "membrane_accesses", "membrane_values")
    return {
        "first_layer_multiplier": max(multipliers) if multipliers else NOT_APPLICABLE,
        "zero_skipping_ac": _joined(values("zero_skipping_ac")),
        "zero_skipping_mac": _joined(values("zero_skipping_mac")),
        "weight_bits": _joined(values("weight_bits")),
        "act_bits": _joined(values("act_bits")),
        "accumulator_bits": _joined(values("accumulator_bits")),
        "preactivation_bits": _joined(values("preactivation_bits")),
        "psum_accesses_per_value": _per_value(costs, "psum_accesses", "psum_values"),
        "psum_dram_accesses_per_value": _per_value(costs, "psum_dram_accesses", "psum_values"),
        "membrane_accesses_per_neuron": membrane,
        "membrane_dram_accesses_per_neuron": _per_value(costs, "membrane_dram_accesses", "membrane_values"),
        "fused_activation": f"{sum(bool(f) for f in fused)} of {len(fused)}" if fused else NOT_APPLICABLE,
        "weight_fetch": _joined(values("weight_fetch")),
        "placement": _joined([p for c in costs for p in c.applied.get("placement", [])]),
        "if_dataflow": (options.get("if_dataflow") or NOT_APPLICABLE) if membrane != NOT_APPLICABLE
        else NOT_APPLICABLE,
    }
