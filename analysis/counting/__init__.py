"""Instrumented forward pass: count what a network does, layer by layer, into an ``EventLedger``.

Usage::

    with count_events(model, method="if") as ledger:
        model(x)
    ledger.total("ac"); ledger.summary()

The package reads as fvcore's split (formulas / engine / front end):

- :mod:`~analysis.counting.signals` — :class:`Signal` (what a tensor carries, set by the module
  that produced it, never read from its values) and :class:`Context` (what a rule knows of a call);
- :mod:`~analysis.counting.registry` — module rules by type (:func:`register_rule`);
- :mod:`~analysis.counting.rules` — the rules, small pure functions grouped by layer family
  (synapses, neurons, pooling, structure);
- :mod:`~analysis.counting.ops` — the operator-level pass (a ``TorchDispatchMode``) and its rules,
  so that arithmetic written in a ``forward`` is counted or flagged, never silently zero;
- :mod:`~analysis.counting.geometry` — bounded (LRU) caches of conv fan-out maps and pool windows;
- :mod:`~analysis.counting.naming` — stable layer names (the user's module path);
- :mod:`~analysis.counting.engine` — the hooks;
- this module — :func:`count_events`.

Conventions used by the rules (per call; S = steps/groups the tensor stands for, B = batch):

- ``weight_bits``: the method's default from :mod:`analysis.methods` (ann/bnn 32, others 8;
  ``count_events(weight_bits=...)``); binary layers 1.
- ``act_bits`` of a synaptic layer's input: spikes 1; ``quant`` ``ceil(log2(L+1))``; pooled spikes
  ``ceil(log2(levels+1))``; binary ±1: 1; analog 32. ``out_bits`` of conv/linear: 32 (accumulator).
- ``vmem_bits``: the method's default (16 for IF and OneSpike; ``count_events(vmem_bits=...)``).
- ``weight_reads``: logical, one weight word per ``ac``/``mac`` (per xnor bit for BNN layers).
- Spikes are written as address events: a neuron's ``output_writes`` = its spikes.
- ``mac_nonzero``: MACs whose activation operand is non-zero (exact; padding is not an input).
- ``repeat_steps``: T (IF) or G (OneSpike) for a layer counted once whose output every step/group
  reuses (the analog first layer); 1 otherwise.
- ``fused_into``: the activation/neuron layer that consumes a conv/linear output directly (through
  an unfolded batch norm or a reshape at most), for every method alike.
- ``nonfinite_values``: NaN/Inf in a layer's output (``on_nonfinite="flag"``; the default raises).

Layouts: counts follow the **reference semantics** of each method, so an IF SNN gives the same
ledger in the ``sequence`` and ``stream`` layouts, and OneSpike the same in ``grouped`` and
``onepass``. Containers are traversed, not counted (their own operators go to the operator pass);
:class:`~analysis.snn.Stepwise` is counted with its inner module's rule, knowing the step axis. A
leaf module with no rule (other than Identity/Dropout) is listed in ``ledger.unsupported``;
``strict=True`` makes it an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import nn

from analysis.counting import rules
from analysis.counting.engine import Counter, NonFiniteError
from analysis.counting.geometry import FANOUT_CACHE_SIZE, POOL_CACHE_SIZE, cache_sizes, conv_fanout_map
from analysis.counting.naming import layer_names
from analysis.counting.ops import FREE_OPS, OP_RULES, register_op_rule
from analysis.counting.registry import COUNTING_RULES, PASSTHROUGH, PATH_RULES, Rule, find_rule, register_rule
from analysis.counting.rules import complete_snn_ledger
from analysis.counting.signals import ANALOG_BITS, Context, Signal
from analysis.methods import get_method, infer_method, method_names
from analysis.snn import SpikingNetwork
from analysis.snn.neurons import IFNeuron, PSGNeuron
from energy_models.ledger import EventLedger

__all__ = [
    "ANALOG_BITS",
    "COUNTING_RULES",
    "FANOUT_CACHE_SIZE",
    "FREE_OPS",
    "OP_RULES",
    "PASSTHROUGH",
    "PATH_RULES",
    "POOL_CACHE_SIZE",
    "Context",
    "NonFiniteError",
    "Rule",
    "Signal",
    "cache_sizes",
    "conv_fanout_map",
    "count_events",
    "find_rule",
    "layer_names",
    "register_op_rule",
    "register_rule",
    "rules",
]

ON_NONFINITE = ("raise", "flag")


@contextmanager
def count_events(
    model: nn.Module,
    method: str | None = None,
    strict: bool = False,
    weight_bits: int | None = None,
    vmem_bits: int | None = None,
    track_ties: bool = False,
    rules: Mapping[type, Rule] | None = None,
    on_nonfinite: str = "raise",
    operators: bool = True,
    **meta: Any,
) -> Iterator[EventLedger]:
    """Count the events of every forward pass run inside the block into an ``EventLedger``.

    ``method``: a registered method name (:func:`analysis.methods.method_names`). For a
    :class:`~analysis.snn.SpikingNetwork` it (and T / G) is taken from the network (a different
    ``method`` is an error); otherwise it is inferred from the module types when omitted
    (:func:`analysis.methods.infer_method`). ``weight_bits`` / ``vmem_bits``: the method's defaults
    unless given. ``track_ties``: also count membranes within float rounding of θ (replays the IF
    recursion). ``rules``: ``{module type: rule}`` overriding registered rules for this count.
    ``on_nonfinite``: ``"raise"`` (a NaN/Inf in a layer's output is an error naming the layer) or
    ``"flag"`` (recorded in ``nonfinite_values``). ``operators``: run the operator-level pass (on by
    default; off only to measure its cost). ``strict``: an uncounted module or operator is an error.
    ``meta``: free-form facts stored in ``ledger.meta``.

    Counts are per sample over every forward of the block (``ledger.samples`` = total batch, also
    for keyword calls ``model(input=x)``). Hooks are removed when the block ends, also on error;
    the model is not modified.
    """
    if method is not None and method not in method_names():
        raise ValueError(f"method must be one of {tuple(method_names())}, got {method!r}")
    if on_nonfinite not in ON_NONFINITE:
        raise ValueError(f"on_nonfinite must be one of {ON_NONFINITE}, got {on_nonfinite!r}")
    for t, rule in (rules or {}).items():
        if not isinstance(t, type) or not callable(rule):
            raise TypeError(f"rules must map module types to rule functions, got {t!r}: {rule!r}")
    if isinstance(model, SpikingNetwork):
        if method is not None and method != model.method:
            raise ValueError(f"method={method!r} but the model is a {model.method!r} SpikingNetwork")
        spec = get_method(model.method)
        timesteps, groups = model.timesteps, model.groups
        meta.setdefault("layout", model.resolved_layout)
        meta.setdefault("input_encoding", model.input_encoding)
    else:
        spec = get_method(method) if method is not None else infer_method(model)
        timesteps = next((m.timesteps for m in model.modules() if isinstance(m, IFNeuron)), 1)
        groups = next((m.groups for m in model.modules() if isinstance(m, PSGNeuron)), 1)
        timesteps = timesteps if spec.steps == "T" else 1
        groups = groups if spec.steps == "G" else 1
    ledger = EventLedger(method=spec.name, timesteps=timesteps, groups=groups, meta=dict(meta))
    counter = Counter(model, ledger, spec, int(spec.weight_bits if weight_bits is None else weight_bits),
                      int(vmem_bits if vmem_bits is not None else (spec.vmem_bits or 16)), bool(track_ties),
                      bool(strict), rules, on_nonfinite, bool(operators))
    try:
        counter.attach()
        yield ledger
    finally:
        counter.detach()
        counter.finish()
    complete_snn_ledger(ledger, counter.extras, spec.steps == "T")
