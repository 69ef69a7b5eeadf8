"""Directly trained SNNs and SNNs from SpikingJelly/snnTorch, in one form that converts.

:class:`DirectSNN` is the **training form** of a T-step SNN: an ANN-shaped ``nn.Sequential`` whose
activations are :class:`~analysis.snn.FoldedTime` neurons (:class:`~analysis.snn.LIFNeuron`; the
other layers see ``[T·B, ...]``), the input repeated over T, the output averaged over T. It trains
with BPTT (surrogate gradients) and converts like a quantized ANN:
``to_if_snn(direct.body, T)`` is its deploy form (batch norm folded; the same T-step dynamics) and
``to_onespike(direct.body, G)`` its one-step form (PSG with the SNN's own thresholds, spikes worth 1).

- :func:`spiking_from_ann` turns an ANN (of the zoo, or a user's, with ``nn.ReLU`` or functional
  ReLUs) into a :class:`DirectSNN` to train from scratch;
- :func:`framework_form` maps a SpikingJelly or snnTorch ``nn.Sequential`` (recognised by class
  path) onto the same form, with equal spikes and membranes (tested), so that it converts too;
- :func:`pow2_thresholds` rounds every threshold to a power of two for PSG's hardware mode and
  rescales the layer that feeds it by the same factor, so that the network computes the same thing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, fx, nn

from analysis.snn.activations import float_activation_sites
from analysis.snn.chain import call_chain
from analysis.snn.context import ConversionError
from analysis.snn.frameworks import NORSE, SPIKINGJELLY, class_paths, framework_of, is_framework_neuron, neuron_spec
from analysis.snn.lif import FoldedTime, LIFNeuron
from analysis.snn.timeloop import TimeLoop
from analysis.snn.trace import explicit_graph, stamp_source_names, tree_convertible
from analysis.validate import check_positive_int

__all__ = ["DirectSNN", "framework_form", "pow2_thresholds", "spiking_from_ann"]


class DirectSNN(nn.Module):
    """A T-step SNN in training form: ``mean_t body(x)_t`` with ``body`` on ``[T·B, ...]`` (see the
    module docstring). ``neurons``: its :class:`LIFNeuron` modules, in order."""

    def __init__(self, body: nn.Module, timesteps: int):
        super().__init__()
        self.body = body
        self.timesteps = check_positive_int("timesteps", timesteps)

    @property
    def neurons(self) -> list[LIFNeuron]:
        return [m for m in self.body.modules() if isinstance(m, LIFNeuron)]

    def forward(self, x: Tensor) -> Tensor:
        t = self.timesteps
        out = self.body(x.unsqueeze(0).expand(t, *x.shape).reshape(t * x.shape[0], *x.shape[1:]))
        return out.reshape(t, x.shape[0], *out.shape[1:]).mean(dim=0)


def _swap(module: nn.Module, predicate: Callable[[nn.Module], bool], factory: Callable[[nn.Module], nn.Module]) -> int:
    count = 0
    for name, child in list(module.named_children()):
        if predicate(child):
            setattr(module, name, factory(child))
            count += 1
        else:
            count += _swap(child, predicate, factory)
    return count


def _is_relu(module: nn.Module) -> bool:
    """A ReLU-family activation (``nn.ReLU``, ``nn.ReLU6``, ``nn.Hardtanh(0, a)``): a spiking neuron's place."""
    return type(module) in (nn.ReLU, nn.ReLU6) or (type(module) is nn.Hardtanh and module.min_val == 0)


def spiking_from_ann(ann: nn.Module, timesteps: int, decay: float = 1.0, v_reset: float | None = None,
                     threshold: float = 1.0, surrogate: str = "atan", alpha: float = 2.0) -> DirectSNN:
    """A copy of ``ann`` with every ReLU *call site* (``nn.ReLU``, ``F.relu``/``torch.relu``/``x.relu()``,
    ReLU6, ``Hardtanh(0, a)``, a reused ``self.relu``) replaced by its own IF (``decay=1``) or LIF neuron
    (threshold θ, soft reset unless ``v_reset`` is given), as a :class:`DirectSNN` to train. A model
    that is not a plain module tree goes through the explicit graph
    (:func:`~analysis.snn.trace.explicit_graph`), so no functional ReLU stays analog; any other
    activation (GELU, SiLU, ...) is refused by name: it would stay analog in a network labelled spiking."""
    body = copy.deepcopy(ann) if tree_convertible(ann) else explicit_graph(ann)

    def make(_: nn.Module) -> nn.Module:
        return FoldedTime(LIFNeuron(threshold, timesteps, decay=decay, v_reset=v_reset, surrogate=surrogate,
                                    alpha=alpha))

    swapped = _swap(body, _is_relu, make)
    analog = float_activation_sites(body)
    if swapped == 0 or analog:
        found = f"it uses {', '.join(analog)}" if analog else (
            f"found types: {sorted({type(m).__name__ for m in ann.modules()})}")
        raise ConversionError(
            f"spiking_from_ann: every activation must be a ReLU (nn.ReLU, F.relu, torch.relu, ReLU6) to become a "
            f"spiking neuron, but {found}; replace those activations with ReLU (or leave out the directly trained "
            "methods, direct_*)")
    stamp_source_names(body)
    return DirectSNN(body, timesteps)


# -- SpikingJelly / snnTorch -> the same form --------------------------------------------------------
_TORCH_TWINS = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                nn.MaxPool2d, nn.Flatten, nn.Dropout)


def _plain(module: nn.Module) -> nn.Module:
    """The torch layer a SpikingJelly wrapper stands for (same weights), or the module itself."""
    if framework_of(module) != SPIKINGJELLY:
        return copy.deepcopy(module)
    twin = next((t for t in _TORCH_TWINS if isinstance(module, t)), None)
    if twin is None:
        raise ConversionError(f"{type(module).__name__} has no plain torch twin the converter knows")
    if twin is nn.Flatten:
        return nn.Flatten()
    if twin is nn.Dropout:
        return nn.Identity()
    plain = copy.copy(module)  # same attributes and parameters, the torch class's forward
    plain.__class__ = twin
    return copy.deepcopy(plain)


def _scale_last_synapse(layers: list[nn.Module], factor: float | Tensor, what: str) -> None:
    """Multiply the output of the last conv/linear/batch norm of ``layers`` by ``factor`` (weights
    and bias; a 1-D tensor scales each output channel), through linear layers (pooling, flatten;
    per-channel factors not through a flatten) after it."""
    per_channel = isinstance(factor, Tensor)
    for layer in reversed(layers):
        if isinstance(layer, nn.Conv2d | nn.Linear | nn.BatchNorm1d | nn.BatchNorm2d):
            with torch.no_grad():
                if per_channel:
                    if factor.numel() != layer.weight.shape[0]:
                        raise ConversionError(f"{what}: {factor.numel()} per-channel thresholds for a layer of "
                                              f"{layer.weight.shape[0]} channels")
                    f = factor.to(layer.weight.dtype)
                    layer.weight.mul_(f.reshape(-1, *([1] * (layer.weight.dim() - 1))))
                    if layer.bias is not None:
                        layer.bias.mul_(f)
                else:
                    layer.weight.mul_(factor)
                    if layer.bias is not None:
                        layer.bias.mul_(factor)
            return
        if per_channel and isinstance(layer, nn.Flatten):
            break
        if not isinstance(layer, nn.AvgPool2d | nn.AdaptiveAvgPool2d | nn.MaxPool2d | nn.Flatten | nn.Identity):
            break
    raise ConversionError(f"{what}: no conv/linear/batch norm before it to fold the scale into")


def _lif_of(module: nn.Module, timesteps: int) -> tuple[LIFNeuron, float | Tensor]:
    """Our neuron with the same dynamics and the input scale SpikingJelly's ``decay_input`` applies
    (per channel, 1/θ_c, where the threshold differs between channels: the membrane is then
    measured in units of its own θ, the threshold is 1, and the spikes are the same)."""
    try:
        spec = neuron_spec(module)
    except ValueError as error:
        raise ConversionError(str(error)) from error
    if spec.synaptic is not None:
        raise ConversionError(
            f"snnTorch {spec.kind} (alpha={spec.synaptic:.4g}) keeps a second state, a synaptic current c_t = "
            "alpha*c_(t-1) + x_t that carries input from one step into the next: a PSG neuron takes one current per "
            "group and carries nothing between groups, so no one-step form equals it (count_events counts and prices "
            "it as it is). For OneSpike use snn.Leaky (a Synaptic neuron with alpha = 0)")
    if spec.multi_spike:
        raise ConversionError(f"Sinabs {spec.kind} with spike_fn=MultiSpike emits several spikes per step; the "
                              "one-step form takes binary spikes (build it with spike_fn=SingleSpike)")
    difference = spec.framework in (SPIKINGJELLY, NORSE)  # v + f·(x − v): the leak factor is 1 − decay
    scale: float | Tensor = 1.0
    if spec.input_leak and spec.leak is not None:
        scale = spec.leak if difference else spec.extra_factors[0]
    decay = 1.0 if spec.leak is None else (1.0 - spec.leak if difference else spec.leak)
    if decay <= 0.0:
        raise ConversionError(f"{spec.kind}: a decay of {decay} leaves no membrane")
    theta: float | Tensor = spec.threshold
    if isinstance(theta, Tensor):
        if bool((theta <= 0).any()):
            raise ConversionError(f"{spec.kind}: per-channel thresholds must be positive")
        if spec.reset == "hard" and spec.v_reset != 0.0:
            raise ConversionError(f"{spec.kind}: per-channel thresholds with a hard reset to {spec.v_reset} (≠ 0) do "
                                  "not scale to one threshold")
        scale, theta = scale / theta, 1.0
    neuron = LIFNeuron(theta, timesteps, decay=decay, v_reset=spec.v_reset if spec.reset == "hard" else None,
                       reset=spec.reset, reset_delay=spec.reset_delay, fire_at_threshold=spec.fires_at_threshold)
    return neuron, scale


def _unroll(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, TimeLoop):
        return _unroll(module.net)
    if isinstance(module, nn.Sequential) and (type(module).forward is nn.Sequential.forward
                                              or any("Container" in p or p.endswith(".SequentialState")
                                                     for p in class_paths(module))):
        return [leaf for child in module.children() for leaf in _unroll(child)]
    return [module]


def _custom_forward(module: nn.Module) -> bool:
    return bool(list(module.children())) and not isinstance(module, nn.Sequential | TimeLoop)


def framework_form(net: nn.Module, timesteps: int, example: Tensor | None = None) -> DirectSNN:
    """A :class:`DirectSNN` computing what a SpikingJelly or snnTorch feed-forward network computes
    over ``timesteps`` steps: an ``nn.Sequential`` (or a :class:`~analysis.snn.TimeLoop` around
    one), or a network written as its own ``forward`` (the snnTorch tutorial's loop over T), whose
    layer order is read from one call on ``example`` images (:func:`analysis.snn.chain.call_chain`;
    the form then outputs the last layer's time average, a spike rate where that layer is a neuron).

    Layers are copied to their torch twins (same weights); each neuron becomes an
    :class:`LIFNeuron` with its threshold, reset, decay (λ = 1 − 1/τ, or β) and snnTorch's delayed
    reset, SpikingJelly's ``decay_input`` scale 1/τ folded into the layer before it. snnTorch's
    ``Synaptic`` neuron is refused (its second state, a synaptic current decaying by α, is what
    one step cannot hold; see :func:`_lif_of`)."""
    stepped = net.net if isinstance(net, TimeLoop) else net
    if _custom_forward(stepped):
        if example is None:
            raise ConversionError(f"{type(stepped).__name__} is written as its own forward, so its layer order is read "
                                  "from one call: pass example images, framework_form(net, T, example=x)")
        modules, _ = call_chain(net, example)
    else:
        modules = _unroll(net)
    layers: list[nn.Module] = []
    for module in modules:
        if is_framework_neuron(module):
            neuron, scale = _lif_of(module, timesteps)
            if isinstance(scale, Tensor) or scale != 1.0:
                _scale_last_synapse(layers, scale, type(module).__name__)
            layers.append(FoldedTime(neuron))
        elif _custom_forward(module):
            raise ConversionError(f"{type(module).__name__}: a module with its own forward inside the network; pass "
                                  "the network itself with example images, framework_form(net, T, example=x), so "
                                  "that the order of the layers it calls is read from one call")
        else:
            layers.append(_plain(module))
    if not any(isinstance(m, FoldedTime) for m in layers):
        raise ConversionError("framework_form found no SpikingJelly or snnTorch neuron in the network")
    return DirectSNN(nn.Sequential(*layers).eval(), timesteps)


def pow2_thresholds(direct: DirectSNN) -> DirectSNN:
    """A copy whose thresholds are powers of two (nearest in log2), each ratio r = θ'/θ folded into
    the layer feeding that neuron (weights and bias × r), so that every membrane is scaled by r and
    the spikes stay the same (exact up to float rounding; a hard reset must be to 0)."""
    direct = copy.deepcopy(direct)
    if isinstance(direct.body, fx.GraphModule):  # a user's model through the explicit graph
        _pow2_in_graph(direct.body)
        return direct
    layers = list(direct.body.children()) if isinstance(direct.body, nn.Sequential) else []
    if not layers:
        raise ConversionError("pow2_thresholds needs a DirectSNN whose body is an nn.Sequential or an explicit graph "
                              "(spiking_from_ann's)")
    for index, layer in enumerate(layers):
        neuron = layer.neuron if isinstance(layer, FoldedTime) else None
        if neuron is None:
            continue
        theta, rounded = _pow2_threshold(neuron, f"layer {index}")
        if rounded == theta:
            continue
        _scale_last_synapse(layers[:index], rounded / theta, f"layer {index}")
        neuron.threshold.fill_(rounded)
    return direct


def _pow2_threshold(neuron: nn.Module, where: str) -> tuple[float, float]:
    """``(θ, the nearest power of two)`` of a neuron whose threshold :func:`pow2_thresholds` rounds; a
    hard reset to a non-zero value is refused (it does not scale with θ)."""
    theta = float(neuron.threshold)
    rounded = 2.0 ** round(math.log2(theta))
    if rounded != theta and neuron.reset == "hard" and neuron.v_reset:
        raise ConversionError(f"{where}: a hard reset to {neuron.v_reset} does not scale with θ")
    return theta, rounded


def _pow2_in_graph(body: fx.GraphModule) -> None:
    """:func:`pow2_thresholds` on an explicit graph: each neuron's ratio is folded into the one
    conv/linear/batch norm that feeds it (through pooling/flatten), which must feed nothing else."""
    calls = [n for n in body.graph.nodes if n.op == "call_module"]
    sites = {n.target: sum(m.target == n.target for m in calls) for n in calls}
    for node in calls:
        layer = body.get_submodule(node.target)
        if not isinstance(layer, FoldedTime):
            continue
        neuron = layer.neuron
        theta, rounded = _pow2_threshold(neuron, node.target)
        if rounded == theta:
            continue
        feeder = node.args[0] if node.args else None
        while True:
            module = (body.get_submodule(feeder.target) if isinstance(feeder, fx.Node) and feeder.op == "call_module"
                      else None)
            if module is None or len(feeder.users) != 1 or sites[feeder.target] != 1:
                raise ConversionError(f"{node.target}: no conv/linear/batch norm feeding only this neuron to fold the "
                                      f"power-of-two scale {rounded / theta:.4g} into (mode='hardware' needs one)")
            if isinstance(module, nn.AvgPool2d | nn.AdaptiveAvgPool2d | nn.Flatten | nn.Identity):
                feeder = feeder.args[0]
                continue
            _scale_last_synapse([module], rounded / theta, node.target)
            break
        neuron.threshold.fill_(rounded)
