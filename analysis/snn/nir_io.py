"""NIR (the Neuromorphic Intermediate Representation) in and out: :func:`from_nir` builds a network
the counter, pricing and conversion take; :func:`to_nir` exports the toolkit's IF/LIF networks.

``nir`` is an optional dependency (the ``nir`` extra); it is imported only through
:func:`nir_module`, never at import time of :mod:`analysis`.

**Time.** NIR neurons are continuous-time; :func:`from_nir` discretises them by forward Euler with
step ``dt`` (stated in ``NIRNetwork.dt`` and in the counted ledger's ``meta["nir_dt"]``):

- ``IF`` (v̇ = R·I): v ← v + dt·R·x;
- ``LIF`` (τ·v̇ = v_leak − v + R·I): v ← (1 − dt/τ)·v + (dt/τ)·R·x (v_leak must be 0);
- both fire where v > θ and reset by subtracting θ (NIR's definition): our
  :class:`~analysis.snn.LIFNeuron` with ``reset="soft"``, ``fire_at_threshold=False``; the input
  scale dt·R (or dt·R/τ) is folded into the weights of the layer before the neuron.

The network takes ``[T, B, ...]`` (time first; ``input_time_axis = 0``, which
:func:`~analysis.counting.count_events` reads) and returns the last layer's ``[T, B, ...]``.
Supported nodes: Input, Output, Affine, Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, Scale (folded
into the layer before), IF, LIF, in a chain; anything else (LI, CubaLIF, Threshold, Conv1d, a branch)
is refused naming the node. :func:`to_nir` writes the same nodes; a membrane that starts at v₀ ≠ 0
(our QCFS-converted IF networks start at θ/2) is kept in the node's ``metadata["v_init"]``, and our
neurons' firing at v = θ (NIR's fire above it) in ``metadata["fires_at_threshold"]``; :func:`from_nir`
honours both.
"""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from analysis.snn.lif import FoldedTime, LIFNeuron
from analysis.snn.modules import MeanOverSteps, RepeatSteps, Stepwise
from analysis.snn.neurons import IFNeuron

__all__ = ["NIRNetwork", "from_nir", "nir_module", "pair", "to_nir"]


def nir_module() -> Any:
    """The ``nir`` package, or an ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module("nir")
    except ImportError as error:
        raise ImportError("NIR support needs the nir package: pip install 'onespike-study[nir]'") from error


class NIRNetwork(nn.Module):
    """A chain of layers and neurons read from a NIR graph, run on ``[T, B, ...]`` (see the module
    docstring); ``dt`` is the step its neurons were discretised with."""

    input_time_axis = 0

    def __init__(self, layers: list[nn.Module], dt: float):
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.dt = float(dt)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError(f"NIRNetwork takes [T, B, ...] (time first); got {tuple(x.shape)}")
        for m in self.body.modules():
            if isinstance(m, IFNeuron):
                m.timesteps = int(x.shape[0])
        return self.body(x)


def _uniform(values: Any, what: str, node: str) -> float:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise ValueError(f"from_nir: {node}.{what} differs between neurons; the toolkit's neurons take one value per "
                         "layer")
    return float(arr[0])


def _fold(layers: list[nn.Module], factor: float, node: str) -> None:
    """Multiply the output of the last weight layer of ``layers`` by ``factor``."""
    if factor == 1.0:
        return
    for layer in reversed(layers):
        inner = layer.module if isinstance(layer, Stepwise) else layer
        if isinstance(inner, nn.Linear | nn.Conv2d):
            with torch.no_grad():
                inner.weight.mul_(factor)
                if inner.bias is not None:
                    inner.bias.mul_(factor)
            return
        if not isinstance(inner, nn.Flatten | nn.AvgPool2d):
            break
    raise ValueError(f"from_nir: {node} scales its input by {factor:.6g} but follows no Affine/Linear/Conv2d to fold "
                     "it into")


def _tensor(values: Any) -> Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.float32)


def _layer(nir: Any, name: str, node: Any, layers: list[nn.Module], dt: float) -> nn.Module | None:
    kind = type(node).__name__
    if kind in ("Input", "Output"):
        return None
    if kind in ("Affine", "Linear"):
        w = _tensor(node.weight)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=kind == "Affine")
        with torch.no_grad():
            lin.weight.copy_(w)
            if kind == "Affine":
                lin.bias.copy_(_tensor(node.bias))
        return lin
    if kind == "Conv2d":
        w = _tensor(node.weight)
        conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=tuple(node.stride),
                         padding=tuple(node.padding) if not isinstance(node.padding, str) else node.padding,
                         dilation=tuple(node.dilation), groups=int(node.groups), bias=node.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(w)
            if node.bias is not None:
                conv.bias.copy_(_tensor(node.bias).reshape(-1))
        return Stepwise(conv)
    if kind == "Flatten":
        end = int(node.end_dim)
        return Stepwise(nn.Flatten(int(node.start_dim) + 1, end + 1 if end >= 0 else end))
    if kind in ("SumPool2d", "AvgPool2d"):
        k, s, p = (tuple(int(v) for v in node.kernel_size), tuple(int(v) for v in node.stride),
                   tuple(int(v) for v in node.padding))
        pool = nn.AvgPool2d(k, s, p, divisor_override=1 if kind == "SumPool2d" else None)
        return Stepwise(pool)
    if kind == "Scale":
        _fold(layers, _uniform(node.scale, "scale", name), name)
        return None
    if kind in ("IF", "LIF"):
        theta = _uniform(node.v_threshold, "v_threshold", name)
        r = _uniform(node.r, "r", name)
        if kind == "IF":
            decay, scale = 1.0, dt * r
        else:
            if _uniform(node.v_leak, "v_leak", name) != 0.0:
                raise ValueError(f"from_nir: {name} has v_leak ≠ 0, which the toolkit's LIF neuron does not hold")
            tau = _uniform(node.tau, "tau", name)
            if not dt < tau:
                raise ValueError(f"from_nir: {name}: dt={dt} must be below τ={tau} (forward Euler: decay 1 − dt/τ)")
            decay, scale = 1.0 - dt / tau, dt * r / tau
        _fold(layers, scale, name)
        v_init = float(node.metadata.get("v_init", 0.0)) if getattr(node, "metadata", None) else 0.0
        at = bool(node.metadata.get("fires_at_threshold", False)) if getattr(node, "metadata", None) else False
        return LIFNeuron(theta, 1, decay=decay, reset="soft", fire_at_threshold=at, v_init=v_init / theta)
    raise ValueError(f"from_nir: node {name!r} is a NIR {kind}, which from_nir does not read (it reads Input, Output, "
                     "Affine, Linear, Conv2d, Flatten, SumPool2d, AvgPool2d, Scale, IF and LIF in a chain)")


def _chain(graph: Any) -> list[str]:
    nodes, edges = graph.nodes, list(graph.edges)
    nexts: dict[str, list[str]] = {}
    indegree = dict.fromkeys(nodes, 0)
    for a, b in edges:
        nexts.setdefault(a, []).append(b)
        indegree[b] = indegree.get(b, 0) + 1
    starts = [n for n in nodes if indegree.get(n, 0) == 0]
    if len(starts) != 1 or any(len(v) > 1 for v in nexts.values()) or any(d > 1 for d in indegree.values()):
        raise ValueError("from_nir reads a chain of nodes (one input, no branch or merge); this graph has "
                         f"{len(starts)} input(s) and {sum(len(v) > 1 for v in nexts.values())} branch point(s)")
    order, node = [], starts[0]
    while True:
        order.append(node)
        if node not in nexts:
            break
        node = nexts[node][0]
    if len(order) != len(nodes):
        raise ValueError(f"from_nir: the graph's {len(nodes)} nodes do not form one chain ({len(order)} reached)")
    return order


def from_nir(graph_or_path: Any, dt: float = 1.0) -> NIRNetwork:
    """A :class:`NIRNetwork` from a ``nir.NIRGraph`` or a ``.nir`` file (see the module docstring)."""
    nir = nir_module()
    if not (isinstance(dt, int | float) and dt > 0):
        raise ValueError(f"dt must be a positive number (the step the neurons are discretised with), got {dt!r}")
    graph = nir.read(str(graph_or_path)) if isinstance(graph_or_path, str | Path) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir takes a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    layers: list[nn.Module] = []
    for name in _chain(graph):
        layer = _layer(nir, name, graph.nodes[name], layers, float(dt))
        if layer is not None:
            layers.append(layer)
    return NIRNetwork(layers, dt).eval()


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
