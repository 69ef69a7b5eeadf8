"""Pricing conventions shared by every hardware model, applied alike to every method.

A model states each convention (its default is in the model class's ``CONVENTIONS``) and the report
prints it (``provenance["options"]``); :func:`conventions_table` lists them per (model, method).

- ``zero_skipping``: ``True``: zero inputs are skipped for every method: spike-driven ``ac`` as
  counted (event-driven) *and* ``mac`` replaced by ``mac_nonzero`` (zero-gated MACs; weight reads
  scale alike). ``False``: dense for every method: a spike-input layer performs its dense synaptic
  ops in every step/group (``ac`` = dense ops per step x timesteps x groups, whatever fired) and
  MACs are dense. ``"spikes_only"``: the ledger as counted (event-driven ACs, dense MACs): the
  asymmetric convention of the SNN literature, kept for the literature variants and user tables.
- ``fused_activation``: a synaptic layer whose ``fused_into`` is set does not write its
  accumulator-width output; the activation leaves the PE at its own width (the consumer's
  ``out_bits``: ceil(log2(L+1)) for a QNN, 1 for spikes, 32 for an ANN), and the consumer does not
  read its input from memory. ``False``: the accumulator-width write and the read are priced.
- ``first_layer``: ``"once"``: a layer whose output is reused over ``repeat_steps`` steps (an IF
  network's analog first layer) is priced as counted, once; ``"per_step"``: its counts are multiplied
  by ``repeat_steps`` and it runs ``timesteps x repeat_steps`` steps (as SpikeSim's reference code).
- ``if_dataflow``: ``"time_outer"``: every membrane potential is read and written every timestep;
  ``"time_inner"``: all T steps of a neuron run while it sits in the PE, so each membrane is read and
  written once per inference (as OneSpike's). ``None``: the model has no membrane traffic to change.
- ``spike_event_pj``: energy per emitted spike for its addressing/routing (``interconnect``); each
  model's own by default (0 where it has none).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from energy_models.ledger import EventLedger, LayerEvents

if TYPE_CHECKING:  # pragma: no cover
    from energy_models.base import TableModel

COMMON_OPTIONS: tuple[str, ...] = ("zero_skipping", "fused_activation", "first_layer", "if_dataflow",
                                   "spike_event_pj")
ZERO_SKIPPING: tuple[Any, ...] = (True, False, "spikes_only")
FIRST_LAYER: tuple[str, ...] = ("once", "per_step")
IF_DATAFLOWS: tuple[str, ...] = ("time_outer", "time_inner")

#: The widths the counter records per method (``analysis.counting``'s conventions), used where a model
#: prices the ledger's own widths. The conventions table shows them; a ledger's recorded widths win.
METHOD_WIDTHS: dict[str, dict[str, str]] = {
    "ann": {"weight_bits": "32", "act_bits": "32", "vmem_bits": "-"},
    "qcfs": {"weight_bits": "8", "act_bits": "ceil(log2(L+1))", "vmem_bits": "-"},
    "cq": {"weight_bits": "8", "act_bits": "ceil(log2(L+1))", "vmem_bits": "-"},
    "if": {"weight_bits": "8", "act_bits": "1 (spikes; first layer 32)", "vmem_bits": "16"},
    "onespike": {"weight_bits": "8", "act_bits": "1 (spikes; first layer 32)", "vmem_bits": "16"},
    "bnn": {"weight_bits": "1 (binary layers; others 32)", "act_bits": "1 (+-1)", "vmem_bits": "-"},
}
SPIKING = ("if", "onespike")  # for the table's text only: pricing reads ledger facts, never method names


def split_common_options(cls: type[TableModel], options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked shared conventions with the class defaults filled in, the model's own options)."""
    defaults = cls.CONVENTIONS
    common: dict[str, Any] = {}
    zs = options.pop("zero_skipping", defaults["zero_skipping"])
    if zs not in ZERO_SKIPPING or (isinstance(zs, int) and not isinstance(zs, bool) and zs not in (0, 1)):
        raise ValueError(f"zero_skipping = {zs!r}; expected one of True, False, 'spikes_only'")
    common["zero_skipping"] = zs if isinstance(zs, str) else bool(zs)
    common["fused_activation"] = bool(options.pop("fused_activation", defaults["fused_activation"]))
    first = options.pop("first_layer", defaults["first_layer"])
    if first not in FIRST_LAYER:
        raise ValueError(f"first_layer = {first!r}; expected one of {', '.join(map(repr, FIRST_LAYER))}")
    common["first_layer"] = first
    dataflow = options.pop("if_dataflow", defaults["if_dataflow"])
    if defaults["if_dataflow"] is None and dataflow is not None:
        raise ValueError(f"{cls.NAME or cls.__name__}: if_dataflow = {dataflow!r}; this model prices no "
                         "membrane traffic, so it takes no if_dataflow option")
    if dataflow is not None and dataflow not in IF_DATAFLOWS:
        raise ValueError(f"if_dataflow = {dataflow!r}; expected one of {', '.join(map(repr, IF_DATAFLOWS))}")
    common["if_dataflow"] = dataflow
    event = options.pop("spike_event_pj", defaults["spike_event_pj"])
    if event is not None:
        event = float(event)
        if not math.isfinite(event) or event < 0:
            raise ValueError(f"spike_event_pj = {event!r}; expected a finite number >= 0 (pJ per spike)")
    common["spike_event_pj"] = event
    return common, options


def dense_synaptic_ops(layer: LayerEvents) -> float:
    """Synaptic ops of ``layer`` if every input of every step/group were non-zero."""
    from energy_models.base import dense_ops_per_step

    return dense_ops_per_step(layer) * layer.timesteps * layer.groups


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


def effective_layer(layer: LayerEvents, options: dict[str, Any], warnings: list[str]) -> LayerEvents:
    """``layer`` as the conventions in ``options`` price it (first-layer reuse, zero-skipping)."""
    from energy_models.base import SYNAPTIC_KINDS, spike_input

    if layer.repeat_steps > 1 and options["first_layer"] == "per_step":
        layer = replace(layer.scaled(layer.repeat_steps), timesteps=layer.timesteps * layer.repeat_steps,
                        repeat_steps=1)
    zs = options["zero_skipping"]
    if zs == "spikes_only" or layer.kind not in SYNAPTIC_KINDS:
        return layer
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
    return replace(layer, **data) if data else layer


def effective_ledger(model: TableModel, ledger: EventLedger, warnings: list[str]) -> EventLedger:
    """A copy of ``ledger`` with every layer as ``model``'s conventions price it."""
    layers = [effective_layer(layer, model.options, warnings) for layer in ledger.layers]
    return EventLedger(method=ledger.method, timesteps=ledger.timesteps, groups=ledger.groups,
                       samples=ledger.samples, layers=layers, unsupported=list(ledger.unsupported),
                       meta=dict(ledger.meta))


# -- the conventions table ---------------------------------------------------------------------------
def _zero_text(value: Any) -> str:
    if value == "spikes_only":
        return "spikes only (literature convention: event-driven ACs, dense MACs)"
    return "yes: event-driven ACs and zero-gated MACs" if value else "no: dense ACs and dense MACs"


def model_conventions(model: TableModel, method: str) -> dict[str, Any]:
    """One row of :func:`conventions_table` for ``model`` and ``method``."""
    opts = model.options
    widths = dict(METHOD_WIDTHS.get(method, {"weight_bits": "as counted", "act_bits": "as counted",
                                             "vmem_bits": "as counted"}))
    widths.update(model.priced_widths(method) if hasattr(model, "priced_widths") else {})
    spiking = method in SPIKING
    membrane = opts["if_dataflow"] is not None and getattr(model, "prices_membrane", True)
    if not membrane:
        dataflow = "n/a (no membrane traffic priced)"
    elif not spiking:
        dataflow = "n/a (no membrane)"
    elif method == "onespike":
        dataflow = "membrane once per inference (PSG)"
    else:
        dataflow = opts["if_dataflow"]
    if method == "if":
        first = f"{opts['first_layer']} (repeat_steps)"
    else:
        first = "once (input not repeated)"
    return {
        "hardware": model.name,
        "method": method,
        "weight_bits": widths.get("weight_bits", "as counted"),
        "act_bits": widths.get("act_bits", "as counted"),
        "accumulator_bits": widths.get("accumulator_bits", "32 (as counted)"),
        "vmem_bits": widths.get("vmem_bits", "-") if spiking or method not in METHOD_WIDTHS else "-",
        "zero_skipping": _zero_text(opts["zero_skipping"]),
        "fused_activation": "yes" if opts["fused_activation"] else "no: accumulator-width write + read",
        "first_layer_reuse": first,
        "if_dataflow": dataflow,
        "deploy_form": "as counted (BN folding and RepVGG re-parameterization are the counted network's form; "
                       "pricing does not change it)",
        "option": "zero_skipping, fused_activation, first_layer, spike_event_pj"
                  + (", if_dataflow" if membrane else "")
                  + (f", {model.WIDTH_OPTION}" if getattr(model, "WIDTH_OPTION", "") else ""),
    }


def conventions_table(methods: tuple[str, ...] | list[str] = ("ann", "qcfs", "cq", "if", "onespike", "bnn"),
                      models: list[str] | None = None) -> list[dict[str, Any]]:
    """One plain dict per (hardware model, method): operand widths, zero-skipping, fused activation,
    first-layer reuse, IF dataflow, deploy form and the option that changes them. ``models``: names
    (default: every registered model)."""
    from energy_models.registry import get_model, model_names

    if isinstance(methods, str) or not all(isinstance(m, str) and m for m in methods):
        raise ValueError(f"methods = {methods!r}; expected a sequence of non-empty method names")
    rows = []
    for name in (models if models is not None else model_names()):
        model = get_model(name)
        rows.extend(model.conventions(method) for method in methods)
    return rows
