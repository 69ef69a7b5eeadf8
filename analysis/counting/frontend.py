"""The front end of counting: :func:`count_events`, a context manager around one :class:`Counter`.

It decides which method the model is (named, taken from a :class:`~analysis.snn.SpikingNetwork`, or
inferred from its module types) and its T and G, builds the options and the empty ledger, and
attaches the hooks for the duration of the block (fvcore's split: formulas in the rules, the hooks
in the engine, this thin front end).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

import torch
from torch import nn

from analysis.counting.engine import Counter
from analysis.counting.options import CountOptions
from analysis.counting.plan import ModelFacts, model_facts
from analysis.counting.rules.frameworks import complete_snn_ledger
from analysis.methods import MethodSpec, get_method, method_names
from analysis.snn import SpikingNetwork
from analysis.validate import check_choice
from energy_models.ledger import EventLedger

__all__ = ["check_countable", "count_events", "method_of"]

#: Floating types whose values count_events would price at 32 bits although they are 16 wide.
HALF_TYPES = (torch.float16, torch.bfloat16)
#: Modules that behave differently in training mode (and, for batch norm, change while counted).
TRAINING_BEHAVIOUR = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.Dropout, nn.Dropout1d,
                      nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def check_countable(model: object) -> tuple[nn.Module, ...]:
    """Refuse what count_events cannot count right, with the fix: no module (a function), parameters
    without values (the meta device), 16-bit floating weights (priced at 32 bits); warn of a model in
    training mode (its batch norm statistics change while counted, its dropout is on). Returns the
    model's modules (``tuple(model.modules())``), walked once for every check."""
    if not isinstance(model, nn.Module):
        name = getattr(model, "__qualname__", type(model).__name__)
        raise TypeError(f"count_events counts an nn.Module, got {type(model).__name__} {name!r}: pass the model "
                        "itself, `with count_events(model) as ledger: model(x)`")
    modules = tuple(model.modules())
    # each module's own parameters (``model.parameters()`` walks the tree again, ten times slower)
    params = [p for m in modules for p in m._parameters.values() if p is not None]
    if any(p.is_meta for p in params):
        raise ValueError("count_events: the model's parameters are on the meta device (shapes without values), so "
                         "nothing can run: materialise it first, e.g. model.to_empty(device='cpu') and "
                         "load_state_dict(weights)")
    half = sorted({str(p.dtype) for p in params if p.dtype in HALF_TYPES})
    if half:
        raise ValueError(f"count_events: the model holds {', '.join(half)} parameters, but counting prices float "
                         "weights and activations at 32 bits: count model.float() (and pass weight_bits=16 to price "
                         "its weights at 16 bits)")
    moving = sorted({type(m).__name__ for m in modules if m.training and isinstance(m, TRAINING_BEHAVIOUR)})
    if moving:
        warnings.warn(f"count_events: the model is in training mode ({', '.join(moving)}): batch norm statistics are "
                      "updated by the counted forwards and dropout is on; call model.eval() before counting",
                      stacklevel=3)
    return modules


def method_of(model: nn.Module, method: str | None, facts: ModelFacts | None = None) -> tuple[MethodSpec, int, int]:
    """``(spec, T, G)`` of the network ``model`` counted as ``method`` (see :func:`count_events`);
    ``facts``: the model's :func:`~analysis.counting.plan.model_facts`, when already at hand."""
    if method is not None:
        check_choice("method", method, method_names())
    if isinstance(model, SpikingNetwork):
        # a method whose steps run on the network's axis names it (an IF network converted from a
        # directly trained SNN is counted as that method); any other is an error
        if method is not None and method != model.method and get_method(method).steps != get_method(model.method).steps:
            raise ValueError(f"method={method!r} but the model is a {model.method!r} SpikingNetwork (its steps are "
                             f"{get_method(model.method).steps}, {method!r}'s {get_method(method).steps})")
        return get_method(method or model.method), model.timesteps, model.groups
    facts = facts if facts is not None else model_facts(model)
    spec = get_method(method) if method is not None else facts.infer_method(model)
    timesteps = next((m.timesteps for m in facts.alive(facts.if_neurons)), 1)
    groups = next((m.groups for m in facts.alive(facts.psg_neurons)), 1)
    return spec, timesteps if spec.is_time_stepped else 1, groups if spec.is_group_parallel else 1


#: The options of a count given none (frozen: shared by every such count).
DEFAULT_OPTIONS = CountOptions()
#: :data:`DEFAULT_OPTIONS` for each method's membrane width (``CountOptions.for_method``), made once.
_DEFAULT_FOR_VMEM: dict[int | None, CountOptions] = {}


def options_for(options: CountOptions, spec: MethodSpec) -> CountOptions:
    """``options.for_method(spec)``, made once per membrane width for the default options."""
    if options is not DEFAULT_OPTIONS:
        return options.for_method(spec)
    found = _DEFAULT_FOR_VMEM.get(spec.vmem_bits)
    if found is None:
        found = _DEFAULT_FOR_VMEM[spec.vmem_bits] = options.for_method(spec)
    return found


#: The fields of :class:`CountOptions` a caller may give to :func:`count_events` by name.
OPTION_FIELDS: frozenset[str] = frozenset(f.name for f in fields(CountOptions))


def count_options(options: CountOptions | None, strict: bool,
                  settings: Mapping[str, Any]) -> tuple[CountOptions, dict[str, Any]]:
    """``(options, meta)`` of a :func:`count_events` call: ``options`` (default: every field's
    default) with the fields named in ``settings`` and ``strict`` replaced, and the rest of
    ``settings`` as the ledger's free-form facts."""
    if options is None and not strict and not settings:  # the common call: nothing to build
        return DEFAULT_OPTIONS, {}
    if options is not None and not isinstance(options, CountOptions):
        raise TypeError(f"options must be a CountOptions (analysis.counting.CountOptions), got "
                        f"{type(options).__name__}")
    base = options if options is not None else CountOptions()
    named = {k: v for k, v in settings.items() if k in OPTION_FIELDS and k != "strict"}
    named["strict"] = bool(strict) or base.strict
    return replace(base, **named), {k: v for k, v in settings.items() if k not in OPTION_FIELDS}


@contextmanager
def count_events(
    model: nn.Module,
    *,
    method: str | None = None,
    strict: bool = False,
    options: CountOptions | None = None,
    **settings: Any,
) -> Iterator[EventLedger]:
    """Count the events of every forward pass run inside the block into an ``EventLedger``.

    How it counts is one :class:`~analysis.counting.CountOptions` (``options``), whose fields may also
    be given by name (``count_events(net, time_axis=0, input_spikes=True)``: a name given here replaces
    the same field of ``options``); every other keyword is a free-form fact stored in ``ledger.meta``.
    The fields:

    ``method``: a registered method name (:func:`analysis.methods.method_names`). For a
    :class:`~analysis.snn.SpikingNetwork` T / G are taken from the network, and the method too
    unless ``method`` names one whose steps run on the same axis (a directly trained SNN's deploy
    form is an IF network; a method on the other axis is an error); otherwise it is inferred from
    the module types when omitted (:func:`analysis.methods.infer_method`). ``weight_bits``: None
    (the default) records each layer's width as the network holds it
    (:func:`analysis.snn.quantize_weights` marks quantized layers; float weights are 32, binary
    layers 1); a number imposes that width on every non-binary weight, a what-if that leaves the
    weights as they are. ``vmem_bits``: the method's default unless given. ``track_ties``: also
    count membranes within float rounding of θ (replays the IF recursion). ``rules``: ``{module
    type: rule}`` overriding registered rules for this count; ``op_rules``: ``{aten op name: rule}``
    likewise for the operator pass. ``on_nonfinite``: ``"raise"`` (a NaN/Inf in a layer's output is
    an error naming the layer) or ``"flag"`` (recorded in ``nonfinite_values``). ``operators``: run
    the operator-level pass (on by default; off only to measure its cost). ``strict``: an uncounted
    module or operator is an error. ``meta``: free-form facts stored in ``ledger.meta``.

    ``time_axis``: where the model's input keeps time. None (the default): a static input
    ``[B, ...]``, or the model's own ``input_time_axis`` (:class:`~analysis.snn.TimeLoop` with
    ``sequence=True``, a network from :func:`~analysis.snn.from_nir`); ``0``: ``[T, B, ...]``
    (SpikingJelly multi-step ``net(x_seq)``, Norse, NIR, an snnTorch loop over ``x[t]``); ``1``:
    ``[B, T, ...]`` (Sinabs). Samples are counted on the batch axis and the steps on the time axis.
    Where the neurons make it unambiguous (a SpikingJelly multi-step layer or a neuron stepped over
    ``x[t]`` sees the input's second axis as its batch) the time axis is inferred and
    ``ledger.meta["time_axis_inferred"]`` says so; where they contradict the batch, the count is
    refused, naming ``time_axis``. ``input_spikes``: the input is spikes or events (event-camera
    frames, rate-coded images: non-negative integer counts, checked), so its first layer counts one
    AC per (spike, synapse it reaches) instead of MACs.

    Counts are per sample over every forward of the block (``ledger.samples`` = total batch, also
    for keyword calls ``model(input=x)``). Hooks are removed when the block ends, also on error;
    the model is not modified.
    """
    facts = model_facts(model, check_countable(model))
    spec, timesteps, groups = method_of(model, method, facts)
    options, meta = count_options(options, strict, settings)
    if isinstance(model, SpikingNetwork):
        meta.setdefault("layout", model.resolved_layout)
        meta.setdefault("input_encoding", model.input_encoding)
    if isinstance(getattr(model, "nir_dt", None), float):  # a network read from NIR: its neurons' step
        meta.setdefault("nir_dt", model.nir_dt)
    ledger = EventLedger(method=spec.name, timesteps=timesteps, groups=groups, meta=dict(meta))
    counter = Counter(model, ledger, spec, options_for(options, spec), facts)
    try:
        counter.attach()
        yield ledger
    finally:
        counter.detach()
        counter.finish()
    complete_snn_ledger(ledger, counter.extras, spec.is_time_stepped)
    if ledger.samples == 0:
        warnings.warn(f"count_events: the block ran no forward pass of the counted {type(model).__name__}, so its "
                      "ledger is empty (priced, it would cost 0 pJ): call the model you pass to count_events inside "
                      "the block (`with count_events(model) as ledger: model(x)`)", stacklevel=3)
