"""Stable layer names: every method's ledger names a layer by where it runs in the user's ANN, so
per-layer frames of the ANN, the quantized ANN, the IF SNN, OneSpike and ``onespike count`` join on
one key, the ``name`` column.

The scheme (one row per call site):

- a module's call: its path in the user's ANN (``layer1.0.conv1``); its k-th call in one forward
  of the model (a reused ``self.relu``, a block called twice): ``layer1.0.relu#2``;
- a functional operator (``F.relu``, ``+=``, ``torch.cat``, ``x.view``) counted by the operator
  pass: ``<path of the module whose forward calls it>/<op>`` (``layer1.0/add``; at the top level
  ``/relu``), its k-th call there in one forward ``layer1.0/relu#2`` (a second call of the module
  is no new scope: ``block/relu#2`` is the relu of ``block``'s second call). ``op`` is the aten
  operator it runs as (:func:`op_word`: ``flatten``/``reshape`` run as ``view``, ``F.relu6`` as
  ``hardtanh``). This is how ``torch.fx`` sees call sites, so the converter's names agree. A
  data-moving call the converter makes a module of (``torch.cat``, ``flatten``/``view``/``reshape``:
  :data:`MOVE_ROWS`) is a row with no events in every form;
- the converter names what it makes of a call site by the same name
  (:func:`analysis.snn.trace.layer_names_of`: ``F.relu`` becomes a module named ``/relu``), and
  names the parts it adds after it: ``<name>.repeat`` (the analog current repeated over the
  steps), ``<name>.current0`` (spikes made a current before an add), ``readout``, ``encoder``
  (``encoder.clamp``, ``encoder.repeat``);
- A time-stepped network (IF, LIF, a SpikingJelly or snnTorch net) may call a layer once per step
  inside one forward: there repeated calls are its steps, not call sites, and share one row.

A module of a converted network may carry ``source_name: str`` (the layer name of the call site it
was converted from; the converter sets it): that is its ledger name. Otherwise the name is its path
with the converter's wrapper parts left out, decided by the wrapping modules' types, not by strings
alone:

Inside a :class:`~analysis.snn.SpikingNetwork` only:

- its ``body``, and the ``net`` part of a body that also
  holds the ``readout`` (``body.net.3`` -> ``3``; the readout is ``readout``);
- a :class:`~analysis.snn.Stepwise`'s ``module`` (the Stepwise is counted under its own path);
- the ``nn.Sequential(RepeatSteps|RepeatGroups, neuron)`` a converter puts where the quantized ANN
  had one activation: the neuron takes the Sequential's name (the ANN's activation), the repeat
  ``<name>.repeat``.

Two counted modules with one name: the engine keeps the name for the first and gives the second
its module path.

A BatchNorm folded into the conv or linear before it (every form a study counts: the deploy form,
the spiking forms) is no row of its own; a BatchNorm that runs (an unfolded ANN) is its own row.
Names are worked out once per model (:func:`layer_names`, kept in the counter's plan); a call's
index is added as it runs (:func:`nth_call`, :func:`op_layer_name`).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from analysis.snn import IFNeuron, MeanOverSteps, PSGLayer, RepeatGroups, RepeatSteps, SpikingNetwork, Stepwise

__all__ = ["MOVE_ROWS", "OP_WORDS", "layer_names", "move_row", "nth_call", "op_layer_name", "op_word"]

#: aten operators named by another in a layer name: the reshapes a ``forward`` writes run as one of
#: these depending on the tensor's layout (``x.reshape`` of a transposed tensor as ``_unsafe_view``);
#: ``F.max_pool2d`` and ``F.adaptive_avg_pool2d`` run as their aten implementations.
OP_WORDS = {"_unsafe_view": "view", "_reshape_alias": "view", "reshape": "view", "flatten": "view",
            "max_pool2d_with_indices": "max_pool2d", "_adaptive_avg_pool2d": "adaptive_avg_pool2d"}


def op_word(op: str) -> str:
    """The word of aten operator ``op`` (its base name, ``add`` for ``add_``) in a layer name."""
    return OP_WORDS.get(op, op)


#: Data-moving operators that get a row (no events) where a ``forward`` calls them: the converter
#: makes a module of such a call site (``torch.cat`` a ``Concat``, ``flatten``/``view`` a reshape),
#: which the quantized and spiking forms count as a row, so the ANN has the row too.
MOVE_ROWS = frozenset(("cat", "view", "_unsafe_view", "_reshape_alias", "reshape", "flatten"))


def nth_call(name: str, calls: dict[Any, int] | None, key: Any) -> str:
    """The layer name of a call of the layer ``name``: ``name`` for its first call in one forward of
    the model, ``name#k`` for the k-th. ``calls``: this forward's counts by ``key`` (updated: the
    module called, or an op's name); None: calls are not told apart (a time-stepped network's
    repeated calls are its steps)."""
    if calls is None:
        return name
    k = calls[key] = calls.get(key, 0) + 1
    return name if k == 1 else f"{name}#{k}"


def op_layer_name(scope: str, op: str, calls: dict[Any, int] | None) -> str:
    """The layer name of a call of aten operator ``op`` in the forward of the module called as
    ``scope`` (``""``: the top level): ``<scope's path>/<word>``, with ``#k`` for its k-th call in
    the forward of a module at that path in one forward of the model (:func:`nth_call`; ``word``:
    :func:`op_word`; a second call of the module is no new scope: its ops count on)."""
    base, index, call = scope.rpartition("#")
    name = f"{base if index and call.isdigit() else scope}/{op_word(op)}"
    return nth_call(name, calls, name)


def move_row(scope: str, calls: dict[Any, int], op: str, args: tuple, out: Any) -> tuple[str, str, dict[str, Any]]:
    """``(layer name, module type, facts)`` of a call of the data-moving operator ``op``
    (:data:`MOVE_ROWS`) in the forward of ``scope``: no events, its shapes, as the converter's
    module for it records (the ``reshape``/``concat`` rules)."""
    first = args[0] if args else None
    x = first[0] if isinstance(first, list | tuple) and first else first
    in_shape = tuple(x.shape[1:]) if isinstance(x, Tensor) and x.dim() else ()
    out_shape = tuple(out.shape[1:]) if isinstance(out, Tensor) and out.dim() else ()
    return op_layer_name(scope, op, calls), f"aten.{op}", dict(
        kind="reshape", rule=f"op.{op_word(op)}", in_shape=in_shape, out_shape=out_shape, neurons=math.prod(out_shape))


def _source_name(module: nn.Module) -> str | None:
    for candidate in (module, getattr(module, "module", None) if isinstance(module, Stepwise) else None):
        name = getattr(candidate, "source_name", None)
        if isinstance(name, str) and name:
            return name
    return None


def _is_neuron_wrapper(module: nn.Module) -> bool:
    children = list(module.children())
    return (type(module) is nn.Sequential and len(children) == 2
            and isinstance(children[0], RepeatSteps | RepeatGroups) and isinstance(children[1], IFNeuron | PSGLayer))


def _is_wrapped_body(module: nn.Module) -> bool:
    names = dict(module.named_children())
    return type(module) is nn.Sequential and "net" in names and isinstance(names.get("readout"), MeanOverSteps)


def layer_names(model: nn.Module) -> dict[str, str]:
    """``{module path: ledger layer name}`` for every module of ``model``."""
    names: dict[str, str] = {"": ""}

    def walk(module: nn.Module, path: str, name: str, converted: bool) -> None:
        converted = converted or isinstance(module, SpikingNetwork)
        for child_name, child in module.named_children():
            child_path = f"{path}.{child_name}" if path else child_name
            if isinstance(module, SpikingNetwork) and child_name == "body":
                child_label = name
            elif converted and child_name == "net" and _is_wrapped_body(module):
                child_label = name
            elif converted and name and _is_neuron_wrapper(module):
                child_label = name if isinstance(child, IFNeuron | PSGLayer) else f"{name}.repeat"
            else:
                child_label = f"{name}.{child_name}" if name else child_name
            # inside the neuron wrapper the wrapper's rule names both parts (the converter stamps the
            # activation's source_name on the repeat as well, which would take the neuron's name)
            wrapped = converted and bool(name) and _is_neuron_wrapper(module)
            source = None if wrapped else _source_name(child)
            names[child_path] = source if source is not None else child_label
            walk(child, child_path, names[child_path], converted)

    walk(model, "", "", False)
    return names
