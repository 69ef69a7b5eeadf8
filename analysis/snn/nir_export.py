"""NIR out: :func:`to_nir` writes the toolkit's IF/LIF networks as a ``nir.NIRGraph`` (read back by
:func:`~analysis.snn.from_nir`)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from analysis.snn.lif import FoldedTime, LIFNeuron
from analysis.snn.modules import MeanOverSteps, RepeatSteps, Stepwise
from analysis.snn.neurons import IFNeuron
from analysis.snn.nir_io import NIRNetwork, nir_module

__all__ = ["pair", "to_nir"]


def _unroll(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, NIRNetwork):
        return _unroll(module.body)
    body = getattr(module, "body", None)
    if isinstance(body, nn.Module) and not isinstance(module, nn.Sequential):
        return _unroll(body)
    if isinstance(module, nn.Sequential):
        return [leaf for child in module.children() for leaf in _unroll(child)]
    if isinstance(module, Stepwise | FoldedTime):
        return _unroll(module.module if isinstance(module, Stepwise) else module.neuron)
    return [module]


def pair(value: Any) -> tuple[int, int]:
    """A pooling size as two numbers."""
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


def _neuron_node(nir: Any, neuron: IFNeuron, shape: tuple[int, ...], dt: float) -> Any:
    theta = np.full(shape, float(neuron.threshold), dtype=np.float32)
    if isinstance(neuron, LIFNeuron) and (neuron.reset != "soft" or neuron.reset_delay):
        raise ValueError("to_nir: NIR's IF/LIF reset by subtraction at once; this LIFNeuron does not "
                         f"({neuron.extra_repr()})")
    meta: dict[str, Any] = {"v_init": float(neuron.v_init) * float(neuron.threshold)} if float(neuron.v_init) else {}
    if getattr(neuron, "fire_at_threshold", True):  # ours fire at v ≥ θ, NIR's at v > θ
        meta["fires_at_threshold"] = True
    if isinstance(neuron, LIFNeuron) and neuron.leaky:
        tau = dt / (1.0 - neuron.decay)
        node = nir.LIF(tau=np.full(shape, tau, dtype=np.float32), r=np.full(shape, tau / dt, dtype=np.float32),
                       v_leak=np.zeros(shape, dtype=np.float32), v_threshold=theta)
    else:
        node = nir.IF(r=np.full(shape, 1.0 / dt, dtype=np.float32), v_threshold=theta)
    node.metadata.update(meta)
    return node


def to_nir(net: nn.Module, sample: Tensor, dt: float = 1.0) -> Any:
    """A ``nir.NIRGraph`` of the toolkit's IF/LIF network ``net`` (a chain: a
    :class:`~analysis.snn.SpikingNetwork` from :func:`~analysis.snn.to_if_snn`, a directly trained
    :class:`~analysis.snn.onestep.DirectSNN`, a :class:`NIRNetwork`), its shapes read from one
    ``sample`` ``[B, ...]`` per step. The repeat of a static input and the average over steps are
    not nodes (NIR's input is ``[T, ...]``); IF/LIF are written so that :func:`from_nir` with the
    same ``dt`` gives the same dynamics."""
    nir = nir_module()
    nodes: dict[str, Any] = {}
    x = sample[:1]
    nodes["input"] = nir.Input(input_type={"input": np.array(x.shape[1:])})
    order = ["input"]
    for i, layer in enumerate(_unroll(net)):
        if isinstance(layer, RepeatSteps | MeanOverSteps | nn.Identity | nn.Dropout):
            continue
        name = f"{i}"
        with torch.no_grad():
            if isinstance(layer, IFNeuron):
                nodes[name] = _neuron_node(nir, layer, tuple(x.shape[1:]), dt)
            elif isinstance(layer, nn.Linear):
                w = layer.weight.detach().numpy()
                nodes[name] = (nir.Affine(weight=w, bias=layer.bias.detach().numpy()) if layer.bias is not None
                               else nir.Linear(weight=w))
                x = layer(x)
            elif isinstance(layer, nn.Conv2d):
                if isinstance(layer.padding, str):
                    raise ValueError("to_nir: a Conv2d with padding given by name; give it as numbers")
                bias = layer.bias.detach().numpy() if layer.bias is not None else np.zeros(layer.out_channels)
                nodes[name] = nir.Conv2d(input_shape=tuple(x.shape[2:]), weight=layer.weight.detach().numpy(),
                                         stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                                         groups=layer.groups, bias=bias)
                x = layer(x)
            elif isinstance(layer, nn.Flatten):
                nodes[name] = nir.Flatten(input_type={"input": np.array(x.shape[1:])},
                                          start_dim=layer.start_dim - 1, end_dim=layer.end_dim)
                x = layer(x)
            elif isinstance(layer, nn.AvgPool2d) and layer.divisor_override in (None, 1):
                pool = nir.SumPool2d if layer.divisor_override == 1 else nir.AvgPool2d
                nodes[name] = pool(kernel_size=np.array(pair(layer.kernel_size)), stride=np.array(pair(layer.stride)),
                                   padding=np.array(pair(layer.padding)))
                x = layer(x)
            else:
                raise ValueError(f"to_nir: {type(layer).__name__} has no NIR node the toolkit writes (it writes "
                                 "Linear/Affine, Conv2d, Flatten, AvgPool2d/SumPool2d, IF and LIF in a chain)")
        order.append(name)
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[1:])})
    order.append("output")
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)))
