"""The one method registry: what each method is, how it is built from the trained weights, how it
runs (sequential timesteps T, parallel groups G, or neither) and its default bit widths.

Study, CLI, counting, figures and report ask this registry; no other module compares method-name
strings. A user adds a method with :func:`register_method` (a duplicate name is refused unless
``replace=True``).

How a method is built (``build(parent, steps=..., levels=..., **options)``) from the network of the
method it descends from (``parent``; the ANN, or the quantized ANN for the spiking methods):

========== ========== ================================================================================
method     parent     network
========== ========== ================================================================================
``ann``    (trained)  the full-precision ANN (ReLU)
``qcfs``   ``ann``    ReLU -> QCFS with L levels (shift ½), then fine-tuned (``training="quantized"``)
``cq``     ``ann``    ReLU -> clamp-and-quantize with L levels (no shift), fine-tuned
``if``     ``qcfs``   T-step IF SNN (θ = λ, v_init = φ, reset by subtraction)
``onespike`` ``qcfs`` OneSpike(G): PSG layers, G groups in one timestep
``bnn``    ``ann``    sign activations, binary hidden weights (XNOR-Net α), trained (``training="binary"``)
========== ========== ================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from analysis.registry import Registry
from analysis.snn.convert import to_binary, to_if_snn, to_onespike, to_quantized
from analysis.snn.frameworks import is_framework_neuron
from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, BinaryLinear, IFNeuron, PSGNeuron

__all__ = [
    "METHODS",
    "MethodSpec",
    "get_method",
    "infer_method",
    "method_names",
    "register_method",
    "spiking_method_names",
]

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class MethodSpec:
    """One method of the study.

    ``steps``: ``"T"`` (sequential timesteps), ``"G"`` (parallel groups in one timestep) or ``None``
    (one pass, no steps). ``parent``: the method whose trained network this one is built from (None
    for the ANN). ``training``: ``"ann"`` (trained from scratch), ``"quantized"`` (fine-tuned with
    quantized activations), ``"binary"`` (trained as a BNN) or ``None`` (converted, not trained).
    ``quantized``: its activations have L levels (their width is ceil(log2(L+1)) bits).
    Bit widths are the counter's defaults (``count_events(weight_bits=..., vmem_bits=...)``).
    """

    name: str
    label: str
    short: str
    color: str
    build: Builder
    parent: str | None = None
    training: str | None = None
    spiking: bool = False
    steps: str | None = None
    quantized: bool = False
    weight_bits: int = 8
    vmem_bits: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    #: Whether a module marks a network as this method: the counter infers an unnamed model's method
    #: as the last-registered method whose ``detect`` matches one of its modules (the first method
    #: without a detector, the ANN, when none does).
    detect: Callable[[nn.Module], bool] | None = None

    @property
    def trained(self) -> bool:
        """Whether the method has its own training stage and checkpoint."""
        return self.training is not None

    @property
    def stepped(self) -> bool:
        return self.steps is not None

    def sequential_steps(self, steps: int) -> int:
        """Sequential timesteps of one inference with ``steps`` = T or G."""
        return int(steps) if self.steps == "T" else 1

    def parallel_groups(self, steps: int) -> int:
        """Parallel groups of one inference with ``steps`` = T or G."""
        return int(steps) if self.steps == "G" else 1

    def act_bits(self, levels: int) -> int:
        """Width of one activation leaving a layer: 1 for spikes, ceil(log2(L+1)) for an L-level
        quantized activation, 32 for a float one."""
        if self.spiking:
            return 1
        if self.quantized:
            return max(1, math.ceil(math.log2(levels + 1)))
        return 1 if self.training == "binary" else 32

    def display(self, steps: int | None = None) -> str:
        """A short label with the step count: ``IF(T=4)``, ``OneSpike(G=4)``, ``QCFS``."""
        if self.steps is None or steps is None:
            return self.short
        return f"{self.short}({self.steps}={steps})"


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


def infer_method(model: nn.Module) -> MethodSpec:
    """The method a network belongs to, from its module types (see ``MethodSpec.detect``)."""
    modules = list(model.modules())
    specs = [spec for _, spec in METHODS.items()]
    for spec in reversed(specs):
        if spec.detect is not None and any(spec.detect(m) for m in modules):
            return spec
    return next(spec for spec in specs if spec.detect is None)


def _same(parent: nn.Module, **_: Any) -> nn.Module:
    """The ANN is its own network (trained from scratch)."""
    return parent


def _quantized(kind: str) -> Builder:
    def build(parent: nn.Module, levels: int = 4, **_: Any) -> nn.Module:
        return to_quantized(parent, levels, kind)

    build.__doc__ = f"ReLU -> {kind} with ``levels`` levels (weights copied from the ANN)."
    return build


def _binary(parent: nn.Module, **_: Any) -> nn.Module:
    return to_binary(parent)


def _if(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    # levels are the parent's (a spiking network's levels are its steps): not an option of the SNN
    return to_if_snn(parent, steps, **options)


def _onespike(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    return to_onespike(parent, steps, **options)


for _spec in (
    MethodSpec("ann", "ANN (float)", "ANN", "#444444", _same, training="ann", weight_bits=32),
    MethodSpec("qcfs", "QCFS (L levels)", "QCFS", "#1f77b4", _quantized("qcfs"), parent="ann",
               training="quantized", quantized=True, detect=lambda m: isinstance(m, QCFS) and bool(m.shift)),
    MethodSpec("cq", "clamp-quant (L)", "CQ", "#17becf", _quantized("cq"), parent="ann", training="quantized",
               quantized=True, detect=lambda m: isinstance(m, QCFS) and not m.shift),
    MethodSpec("if", "IF SNN (T steps)", "IF", "#d62728", _if, parent="qcfs", spiking=True, steps="T",
               vmem_bits=16, detect=lambda m: isinstance(m, IFNeuron) or is_framework_neuron(m)),
    MethodSpec("onespike", "OneSpike (G groups)", "OneSpike", "#2ca02c", _onespike, parent="qcfs", spiking=True,
               steps="G", vmem_bits=16, detect=lambda m: isinstance(m, PSGNeuron)),
    MethodSpec("bnn", "BNN", "BNN", "#9467bd", _binary, parent="ann", training="binary", weight_bits=32,
               detect=lambda m: isinstance(m, BinaryActivation | BinaryConv2d | BinaryLinear)),
):
    register_method(_spec)
