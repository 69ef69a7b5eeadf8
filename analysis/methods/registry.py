"""The method registry (:data:`METHODS`, name -> :class:`~analysis.methods.spec.MethodSpec`) and the
questions asked of it: a method by name, the names in registration order (the order of tables and
figures), the spiking methods, the methods on a step axis, the reference method, and the method a
network belongs to (:func:`infer_method`, from its module types). A user adds a method with
:func:`register_method` (a duplicate name is refused unless ``replace=True``).
"""

from __future__ import annotations

from torch import nn

from analysis.methods.spec import MethodSpec
from analysis.registry import Registry
from analysis.snn.vocabulary import StepAxis

__all__ = [
    "METHODS",
    "get_method",
    "infer_method",
    "method_names",
    "methods_on_axis",
    "reference_method",
    "register_method",
    "spiking_method_names",
]


#: The method registry (name -> :class:`MethodSpec`).
METHODS: Registry[MethodSpec] = Registry("method")


def register_method(spec: MethodSpec, replace: bool = False) -> MethodSpec:
    """Add a method (refused when the name is taken, unless ``replace=True``)."""
    return METHODS.add(spec.name, spec, replace=replace)


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` (a clear error with a did-you-mean otherwise)."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Registered method names, in registration order (the order tables and figures use)."""
    return METHODS.names()


def spiking_method_names() -> list[str]:
    return [name for name, spec in METHODS.items() if spec.spiking]


def methods_on_axis(axis: StepAxis | str) -> list[str]:
    """Registered methods whose steps run on ``axis`` (``"T"`` or ``"G"``), in registry order."""
    axis = StepAxis.parse(axis, "axis")
    return [name for name, spec in METHODS.items() if spec.steps is axis]


def reference_method() -> str:
    """The method every other descends from (no parent): the full-precision ANN, against which
    accuracy and energy gains are stated."""
    return next(name for name, spec in METHODS.items() if spec.parent is None)


def infer_method(model: nn.Module) -> MethodSpec:
    """The method a network belongs to, from its module types (see ``MethodSpec.detect``)."""
    modules = list(model.modules())
    specs = [spec for _, spec in METHODS.items()]
    for spec in reversed(specs):
        if spec.detect is not None and any(spec.detect(m) for m in modules):
            return spec
    return next(spec for spec in specs if spec.detect is None)
