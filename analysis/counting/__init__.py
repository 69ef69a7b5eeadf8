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
- :mod:`~analysis.counting.ops` — the operator-level pass (a ``TorchDispatchMode``) and its rule
  registry (the rules: :mod:`~analysis.counting.rules.operators`, ``rules.functional``), so that
  arithmetic written in a ``forward`` is counted or flagged, never silently zero;
- :mod:`~analysis.counting.geometry` — bounded (LRU) caches of conv fan-out maps and pool windows;
- :mod:`~analysis.counting.naming` — one layer name per call site, the same in every form;
- :mod:`~analysis.counting.options` — :class:`CountOptions`, the options of one count;
- :mod:`~analysis.counting.tracking` — signal tracking (what each tensor carries, which layer made it);
- :mod:`~analysis.counting.engine` — rule running: the hooks (:class:`Counter`);
- :mod:`~analysis.counting.ledger_builder` — ledger building: per-layer records into ``LayerEvents``;
- :mod:`~analysis.counting.frontend` — :func:`count_events`, the thin front end;
- this module — re-exports only.

Conventions used by the rules (per call; S = steps/groups the tensor stands for, B = batch):

- ``weight_bits``: the layer's own, as the network holds it: the width
  :func:`analysis.snn.quantize_weights` recorded, 32 for float weights, 1 for binary layers
  (``count_events(weight_bits=...)`` imposes one on non-binary weights instead).
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

from analysis.counting import rules
from analysis.counting.engine import Counter, NonFiniteError
from analysis.counting.frontend import count_events
from analysis.counting.geometry import FANOUT_CACHE_SIZE, POOL_CACHE_SIZE, cache_sizes, conv_fanout_map
from analysis.counting.naming import layer_names
from analysis.counting.ops import FREE_OPS, OP_RULES, OpRule, register_op_rule
from analysis.counting.options import ON_NONFINITE, CountOptions
from analysis.counting.registry import COUNTING_RULES, PASSTHROUGH, PATH_RULES, Rule, find_rule, register_rule
from analysis.counting.rules import functional, operators  # noqa: F401  (register the operator rules)
from analysis.counting.signals import ANALOG_BITS, Context, Signal

__all__ = [
    "ANALOG_BITS",
    "COUNTING_RULES",
    "FANOUT_CACHE_SIZE",
    "FREE_OPS",
    "ON_NONFINITE",
    "OP_RULES",
    "PASSTHROUGH",
    "PATH_RULES",
    "POOL_CACHE_SIZE",
    "Context",
    "CountOptions",
    "Counter",
    "NonFiniteError",
    "OpRule",
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
