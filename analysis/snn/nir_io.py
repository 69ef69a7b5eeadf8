"""NIR (the Neuromorphic Intermediate Representation) in: :func:`from_nir` builds a network the
counter, pricing and conversion take (:mod:`analysis.snn.nir_export` writes one out).

``nir`` is an optional dependency (the ``nir`` extra); it is imported only through
:func:`nir_module`, never at import time of :mod:`analysis`.

**Time.** NIR neurons are continuous-time; :func:`from_nir` discretises them with step ``dt``
(stated in ``NIRNetwork.dt`` and in the counted ledger's ``meta["nir_dt"]``), by forward Euler:

- ``IF`` (v̇ = R·I): v ← v + dt·R·x;
- ``LIF``/``LI`` (τ·v̇ = v_leak − v + R·I): v ← (1 − dt/τ)·v + (dt/τ)·v_leak + (dt/τ)·R·x;
- ``CubaLIF``: its current first, I ← (1 − dt/τ_syn)·I + (dt/τ_syn)·w_in·x, then the membrane as
  LIF's fed that new I (τ_mem);
- IF, LIF and CubaLIF fire where v > θ; NIR ≤ 1.0.4 resets by subtracting θ, NIR ≥ 1.0.7 to the
  node's ``v_reset`` (a node's ``metadata["reset"] = "subtract"`` keeps subtraction); LI outputs its
  membrane; ``Threshold`` is z = H(x − θ), stateless.

Every input scale (dt·R, dt·R/τ, CubaLIF's (dt/τ_syn)·w_in times the membrane's) is folded into the
weights of the layer before the neuron where that layer feeds nothing else (a scalar through a
Flatten or a pooling, a per-neuron scale into a Linear's rows or a Conv2d's channels); otherwise
the neuron multiplies by it, counted as it is. A neuron whose parameters are one number each, with
no leak voltage, is our :class:`~analysis.snn.LIFNeuron`; any other (per-neuron thresholds or time
constants, LI, CubaLIF, Threshold, an unfoldable scale) a :class:`~analysis.snn.nir_nodes.NIRNeuron`.

**Graphs.** One input node; any branches and merges: a node with several inputs receives their sum
(NIR's rule), a :class:`~analysis.snn.ResidualAdd` counted as one ``add`` per element. Nodes read:
Input, Output, Affine, Linear, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, Scale, IF, LIF, LI,
CubaLIF, Threshold; anything else is refused naming it. A neuron whose ``metadata["input"]`` is
``"mean_over_steps"`` (a OneSpike layer written by :func:`~analysis.snn.to_nir`) is fed the average
of its input over the steps at every step (``metadata["onespike_groups"]`` steps). ``metadata["v_init"]`` (a starting
membrane; 0 otherwise) and ``metadata["fires_at_threshold"]`` (fire at v = θ, as ours do) are honoured.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from analysis.snn.lif import LIFNeuron
from analysis.snn.modules import MeanOverSteps, RepeatSteps, ResidualAdd, ShortcutScale, Stepwise
from analysis.snn.nir_nodes import NIRConv1d, NIRNetwork, NIRNeuron

__all__ = ["NIRNetwork", "from_nir", "nir_module"]


def nir_module() -> Any:
    """The ``nir`` package, or an ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module("nir")
    except ImportError as error:
        raise ImportError("NIR support needs the nir package: pip install 'onespike-study[nir]'") from error


def _tensor(values: Any) -> Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32))


def _uniform(t: Tensor) -> float | None:
    flat = t.reshape(-1)
    return float(flat[0]) if flat.numel() and bool((flat == flat[0]).all()) else None


class _Builder:
    """Layers in order, each with its input indices and how many layers read it."""

    def __init__(self, dt: float):
        self.dt = dt
        self.layers: list[nn.Module] = []
        self.sources: list[tuple[int, ...]] = []
        self.readers: dict[int, int] = {}

    def add(self, layer: nn.Module, *src: int) -> int:
        self.layers.append(layer)
        self.sources.append(tuple(src))
        return len(self.layers) - 1

    def merge(self, inputs: list[int]) -> int:
        """One index for a node's inputs: their sum where there are several (NIR's rule)."""
        idx = inputs[0]
        for other in inputs[1:]:
            idx = self.add(ResidualAdd(), idx, other)
        return idx

    def fold(self, idx: int, factor: Tensor) -> bool:
        """Multiply the output of the weight layer behind ``idx`` by ``factor`` (a scalar, or one
        value per neuron of that output); False where it cannot (see the module docstring)."""
        scalar = _uniform(factor)
        while idx >= 0 and self.readers.get(idx, 0) == 1:
            layer = self.layers[idx]
            inner = layer.module if isinstance(layer, Stepwise) else layer
            inner = inner.conv if isinstance(inner, NIRConv1d) else inner
            if isinstance(inner, nn.Linear | nn.Conv2d):
                return _scale_weights(inner, factor, scalar)
            if scalar is None or not isinstance(inner, nn.Flatten | nn.AvgPool2d) or len(self.sources[idx]) != 1:
                return False
            idx = self.sources[idx][0]
        return False


def _scale_weights(layer: nn.Linear | nn.Conv2d, factor: Tensor, scalar: float | None) -> bool:
    out = layer.weight.shape[0]
    if scalar is not None:
        rows = torch.full((out,), scalar)
    elif isinstance(layer, nn.Linear) and factor.numel() == out:
        rows = factor.reshape(out)
    else:
        per_channel = factor.reshape(out, -1) if factor.numel() % out == 0 and factor.dim() >= 1 else None
        if per_channel is None or factor.shape[0] != out or not bool((per_channel == per_channel[:, :1]).all()):
            return False
        rows = per_channel[:, 0]
    with torch.no_grad():
        layer.weight.mul_(rows.reshape(-1, *([1] * (layer.weight.dim() - 1))))
        if layer.bias is not None:
            layer.bias.mul_(rows)
    return True


def _conv(node: Any, kind: str) -> nn.Module:
    w = _tensor(node.weight)
    one = kind == "Conv1d"

    def pair(v: Any, fill: int) -> tuple[int, int]:
        v = np.asarray(v).reshape(-1)
        return (fill, int(v[0])) if one else (int(v[0]), int(v[-1]))

    padding = node.padding if isinstance(node.padding, str) else pair(node.padding, 0)
    conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], (1, w.shape[2]) if one else tuple(w.shape[2:]),
                     stride=pair(node.stride, 1), padding=padding, dilation=pair(node.dilation, 1),
                     groups=int(node.groups), bias=node.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(w.reshape(conv.weight.shape))
        if node.bias is not None:
            conv.bias.copy_(_tensor(node.bias).reshape(-1))
    return NIRConv1d(conv) if one else Stepwise(conv)


def _layer(kind: str, node: Any) -> nn.Module:
    if kind in ("Affine", "Linear"):
        w = _tensor(node.weight)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=kind == "Affine")
        with torch.no_grad():
            lin.weight.copy_(w)
            if kind == "Affine":
                lin.bias.copy_(_tensor(node.bias).reshape(-1))
        return lin
    if kind in ("Conv1d", "Conv2d"):
        return _conv(node, kind)
    if kind == "Flatten":
        end = int(node.end_dim)
        return Stepwise(nn.Flatten(int(node.start_dim) + 1, end + 1 if end >= 0 else end))
    k, s, p = (tuple(int(v) for v in np.asarray(a).reshape(-1)) for a in (node.kernel_size, node.stride, node.padding))
    return Stepwise(nn.AvgPool2d(k, s, p, divisor_override=1 if kind == "SumPool2d" else None))


def _neuron(kind: str, name: str, node: Any, build: _Builder, idx: int) -> nn.Module:
    """The module of a NIR neuron node reading layer ``idx`` (see the module docstring)."""
    dt, meta = build.dt, dict(getattr(node, "metadata", None) or {})
    if kind == "Threshold":
        return NIRNeuron("Threshold", threshold=_tensor(node.threshold),
                         fire_at_threshold=bool(meta.get("fires_at_threshold", False)))
    tau = _tensor(node.tau_mem if kind == "CubaLIF" else node.tau) if kind != "IF" else None
    for t, what in ((tau, "τ"), (_tensor(node.tau_syn) if kind == "CubaLIF" else None, "τ_syn")):
        if t is not None and not bool((dt < t).all()):
            raise ValueError(f"from_nir: {name}: dt={dt} must be below every {what} (min {float(t.min()):.4g}; "
                             "forward Euler: decay 1 − dt/τ)")
    r = _tensor(node.r)
    decay, gain = (torch.ones_like(r), dt * r) if tau is None else (1.0 - dt / tau, dt * r / tau)
    drive = torch.zeros_like(r) if tau is None else dt / tau * _tensor(node.v_leak)
    syn = {}
    if kind == "CubaLIF":  # I' = g·I carries the membrane's input scale: h = a·v + I' + c
        tau_syn = _tensor(node.tau_syn)
        syn = {"syn_decay": 1.0 - dt / tau_syn, "syn_gain": gain * dt / tau_syn * _tensor(node.w_in)}
        gain = torch.ones_like(r)
        if build.fold(idx, syn["syn_gain"]):
            syn["syn_gain"] = torch.ones_like(r)
    elif build.fold(idx, gain):
        gain = torch.ones_like(gain)
    hard = getattr(node, "v_reset", None) is not None and meta.get("reset") != "subtract"
    v_reset = _tensor(node.v_reset) if hard else torch.zeros(())
    v_init = _tensor(meta.get("v_init", 0.0))
    at = bool(meta.get("fires_at_threshold", False))
    theta = _tensor(node.v_threshold) if kind != "LI" else torch.ones(())
    values = [_uniform(t) for t in (theta, decay, gain, drive, v_reset, v_init)]
    if kind in ("IF", "LIF") and None not in values and values[2] == 1.0 and values[3] == 0.0 and values[0] > 0 and (
            not hard or values[4] == values[5] == 0.0):  # our LIFNeuron starts a hard-reset membrane at v_reset
        th, a, _, _, vr, vi = values
        if hard:
            return LIFNeuron(th, 1, decay=a, v_reset=vr, fire_at_threshold=at)
        return LIFNeuron(th, 1, decay=a, reset="soft", fire_at_threshold=at, v_init=vi / th)
    return NIRNeuron(kind, threshold=theta, decay=decay, gain=gain, drive=drive, reset="hard" if hard else "soft",
                     v_reset=v_reset, v_init=v_init, fire_at_threshold=at, **syn)


_NEURONS = ("IF", "LIF", "LI", "CubaLIF", "Threshold")
_LAYERS = ("Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d")


def _order(graph: Any) -> tuple[list[str], dict[str, list[str]], dict[str, int]]:
    """``(nodes in an order where inputs come first, inputs of each node, readers of each node)``."""
    nodes = graph.nodes
    inputs: dict[str, list[str]] = {n: [] for n in nodes}
    readers = dict.fromkeys(nodes, 0)
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise ValueError(f"from_nir: the edge {a!r} → {b!r} names a node the graph does not hold")
        inputs[b].append(a)
        readers[a] += 1
    starts = [n for n in nodes if not inputs[n]]
    if len(starts) != 1:
        raise ValueError(f"from_nir reads graphs with one input node; this one has {len(starts)}: {starts}")
    order, waiting = [], {n: len(v) for n, v in inputs.items()}
    ready = list(starts)
    while ready:
        n = ready.pop(0)
        order.append(n)
        for a, b in graph.edges:
            if a == n:
                waiting[b] -= 1
                if waiting[b] == 0:
                    ready.append(b)
    if len(order) != len(nodes):
        raise ValueError("from_nir: the graph has a cycle (a recurrent connection), which from_nir does not read")
    return order, inputs, readers


def from_nir(graph_or_path: Any, dt: float = 1.0) -> NIRNetwork:
    """A :class:`~analysis.snn.nir_nodes.NIRNetwork` from a ``nir.NIRGraph`` or a ``.nir`` file
    (see the module docstring)."""
    nir = nir_module()
    if not (isinstance(dt, int | float) and not isinstance(dt, bool) and dt > 0):
        raise ValueError(f"dt must be a positive number (the step the neurons are discretised with), got {dt!r}")
    graph = nir.read(str(graph_or_path)) if isinstance(graph_or_path, str | Path) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir takes a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    order, inputs, readers = _order(graph)
    build, where = _Builder(float(dt)), {}
    output = None
    for name in order:
        node = graph.nodes[name]
        kind = type(node).__name__
        idx = build.merge([where[n] for n in inputs[name]]) if inputs[name] else -1
        if kind == "Input" or not inputs[name]:
            if kind != "Input":
                raise ValueError(f"from_nir: the graph starts at {name!r}, a NIR {kind}; it must start at an Input")
            where[name] = -1
            continue
        if kind == "Output":
            output = idx
            continue
        if kind == "Scale":
            scale = _tensor(node.scale)
            if not build.fold(idx, scale):
                if _uniform(scale) is None:
                    raise ValueError(f"from_nir: {name} scales by one value per neuron and follows no Affine/Linear/"
                                     "Conv that feeds it alone to fold it into")
                idx = build.add(ShortcutScale(_uniform(scale)), idx)
        elif kind in _NEURONS:
            meta = dict(getattr(node, "metadata", None) or {})
            if meta.get("input") == "mean_over_steps":  # a OneSpike layer: IF fed its average current
                idx = build.add(RepeatSteps(int(meta["onespike_groups"])), build.add(MeanOverSteps(), idx))
            idx = build.add(_neuron(kind, name, node, build, idx), idx)
        elif kind in _LAYERS:
            idx = build.add(_layer(kind, node), idx)
        else:
            raise ValueError(f"from_nir: node {name!r} is a NIR {kind}, which from_nir does not read (it reads Input, "
                             f"Output, {', '.join(_LAYERS)}, Scale, {', '.join(_NEURONS)})")
        build.readers[idx] = readers[name]
        where[name] = idx
    if output is None:
        raise ValueError("from_nir: the graph has no Output node")
    return NIRNetwork(build.layers, dt, build.sources, output).eval()
