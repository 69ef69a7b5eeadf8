"""Stable layer names: every method's ledger names a layer by the user's module path, so per-layer
frames of the ANN, the quantized ANN, the IF SNN and OneSpike join on one key.

A module of a converted network may carry ``source_name: str`` (the user's module path it was
converted from; the converter sets it): that is its ledger name. Otherwise the name is its path with
the converter's wrapper parts left out, decided by the wrapping modules' types, not by strings alone:

Inside a :class:`~analysis.snn.SpikingNetwork` only:

- its ``body``, and the ``net`` part of a body that also
  holds the ``readout`` (``body.net.3`` -> ``3``; the readout is ``readout``);
- a :class:`~analysis.snn.Stepwise`'s ``module`` (the Stepwise is counted under its own path);
- the ``nn.Sequential(RepeatSteps|RepeatGroups, neuron)`` a converter puts where the quantized ANN
  had one activation: the neuron takes the Sequential's name (the ANN's activation), the repeat
  ``<name>.repeat``.

Two counted modules with one name: the engine keeps the name for the first and gives the second
its module path.
"""

from __future__ import annotations

from torch import nn

from analysis.snn import IFNeuron, MeanOverSteps, PSGLayer, RepeatGroups, RepeatSteps, SpikingNetwork, Stepwise

__all__ = ["layer_names"]


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
