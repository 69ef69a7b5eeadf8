"""NIR out: :func:`to_nir` writes the toolkit's IF, LIF and OneSpike networks as a ``nir.NIRGraph``
(read back by :func:`~analysis.snn.from_nir`).

**OneSpike / PSG.** PSG(G) of a current x is exactly a soft-reset IF neuron (starting at
v_init·θ, firing at v ≥ θ) fed the constant x for G steps, where x is the layer's current
averaged over its G input groups (OneSpike's layers apply the same weights to each group and
average). NIR's neurons are causal and have no group average, so each PSG layer is written as an
IF node whose ``metadata`` says so: ``{"onespike_groups": G, "input": "mean_over_steps"}`` (the
first layer, whose current is the same at every step when the input is: ``"constant"``), with
``v_init``, ``fires_at_threshold`` and ``reset = "subtract"``. :func:`~analysis.snn.from_nir` reads
``"mean_over_steps"`` as an average over the steps repeated to each step before the neuron
(:class:`~analysis.snn.MeanOverSteps` then :class:`~analysis.snn.RepeatSteps`), so the network read
back, fed the input repeated G times (``[G, B, ...]``), is the IF(T = G) network fed those constant
currents.

Preserved through ours → NIR → ours: the logits (the mean of the output over the G steps) and
predictions; every neuron's spikes, hence every layer's ACs (one per spike and synapse reached),
layer by layer; weights and biases. Not preserved: the first layer's work on a static image (a
OneSpike network computes it once; a NIR graph's input is ``[T, ...]``, so the read-back network
computes it at each of the G steps: G× those MACs), and the neuron arithmetic, which is counted as
what the read-back network runs (per step: a membrane read, add, compare and write, plus the
average's G − 1 adds and one divide per neuron) instead of PSG's closed form (``psg.*`` rules);
PSG's ``mode="hardware"`` (fixed point) is written as its exact dynamics. Per-group thresholds and
spike values (Q11) have no IF form and are refused.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from analysis.snn.lif import FoldedTime, LIFNeuron
from analysis.snn.modules import MeanOverSteps, PSGLayer, RepeatSteps, ShortcutScale, Stepwise
from analysis.snn.neurons import IFNeuron
from analysis.snn.nir_io import nir_module
from analysis.snn.nir_nodes import NIRConv1d, NIRNetwork, NIRNeuron

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
    meta: dict[str, Any] = {"reset": "subtract"}  # NIR ≥ 1.0.7 would otherwise reset to v_reset
    if float(neuron.v_init):
        meta["v_init"] = float(neuron.v_init) * float(neuron.threshold)
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


def _psg_node(nir: Any, layer: PSGLayer, shape: tuple[int, ...], dt: float) -> Any:
    """A PSG layer as the IF node that equals it (see the module docstring)."""
    neuron = layer.neuron
    if neuron.per_group or layer.spike_scales is not None:
        raise ValueError("to_nir: a PSG layer with per-group thresholds or spike values (Q11) has no IF form in NIR")
    theta = float(neuron.threshold)
    node = nir.IF(r=np.full(shape, 1.0 / dt, dtype=np.float32), v_threshold=np.full(shape, theta, dtype=np.float32))
    node.metadata.update({"reset": "subtract", "fires_at_threshold": True, "onespike_groups": neuron.groups,
                          "input": "mean_over_steps" if layer.grouped_input else "constant"})
    if float(neuron.v_init):
        node.metadata["v_init"] = float(neuron.v_init) * theta
    return node


def _array(t: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(t.detach().to(torch.float32).numpy(), shape).astype(np.float32)


def _nir_neuron_node(nir: Any, neuron: NIRNeuron, shape: tuple[int, ...], dt: float) -> Any:
    """A :class:`~analysis.snn.nir_nodes.NIRNeuron` as the node :func:`~analysis.snn.from_nir`
    reads back to the same dynamics (τ = dt/(1 − a), R = g·τ/dt, v_leak = c·τ/dt; CubaLIF
    τ_syn = dt/(1 − a_s), w_in = b_s·τ_syn/dt)."""
    p = {name: _array(buf, shape) for name, buf in neuron.named_buffers()}
    if neuron.kind == "Threshold":
        return nir.Threshold(threshold=p["threshold"])
    if neuron.reset == "hard" and "v_reset" not in getattr(nir.IF, "__dataclass_fields__", {}):
        raise ValueError("to_nir: a hard reset needs NIR >= 1.0.7 (v_reset); the installed nir has none")
    if neuron.kind == "IF":
        node = nir.IF(r=p["gain"] / dt, v_threshold=p["threshold"])
    else:
        if not bool((neuron.decay < 1).all()):
            raise ValueError(f"to_nir: {neuron.kind} with a decay of 1 (no leak) has no time constant")
        tau = dt / (1.0 - p["decay"])
        common = dict(r=p["gain"] * tau / dt, v_leak=p["drive"] * tau / dt)
        if neuron.kind == "LI":
            node = nir.LI(tau=tau, **common)
        elif neuron.kind == "LIF":
            node = nir.LIF(tau=tau, v_threshold=p["threshold"], **common)
        else:
            tau_syn = dt / (1.0 - p["syn_decay"])
            node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, v_threshold=p["threshold"],
                               w_in=p["syn_gain"] * tau_syn / dt, **common)
    if neuron.spiking:
        if neuron.reset == "hard":
            node.v_reset = p["v_reset"]
        else:
            node.metadata["reset"] = "subtract"
    if neuron.fire_at_threshold:
        node.metadata["fires_at_threshold"] = True
    if bool((neuron.v_start != 0).any()):
        node.metadata["v_init"] = p["v_start"]
    return node


def to_nir(net: nn.Module, sample: Tensor, dt: float = 1.0) -> Any:
    """A ``nir.NIRGraph`` of the toolkit's IF/LIF/OneSpike network ``net`` (a chain: a
    :class:`~analysis.snn.SpikingNetwork` from :func:`~analysis.snn.to_if_snn` or
    :func:`~analysis.snn.to_onespike` (any layout; see the module docstring), a directly trained
    :class:`~analysis.snn.onestep.DirectSNN`, a :class:`NIRNetwork`), its shapes read from one
    ``sample`` ``[B, ...]`` per step. The repeat of a static input and the average over steps are
    not nodes (NIR's input is ``[T, ...]``); IF/LIF are written so that :func:`from_nir` with the
    same ``dt`` gives the same dynamics."""
    nir = nir_module()
    nodes: dict[str, Any] = {}
    x = sample[:1]
    nodes["input"] = nir.Input(input_type={"input": np.array(x.shape[1:])})
    order = ["input"]
    if isinstance(net, NIRNetwork) and not net.is_chain:
        raise ValueError("to_nir writes chains; this NIRNetwork branches or merges (write the graph it was read from)")
    mean_of: int | str | None = None  # a read-back OneSpike layer: mean over the steps, repeated to G steps
    for i, layer in enumerate(_unroll(net)):
        if isinstance(layer, RepeatSteps | MeanOverSteps | nn.Identity | nn.Dropout):
            mean_of = "mean" if isinstance(layer, MeanOverSteps) else (
                layer.timesteps if isinstance(layer, RepeatSteps) and mean_of == "mean" else None)
            continue
        name, groups, mean_of = f"{i}", mean_of, None
        with torch.no_grad():
            if isinstance(layer, NIRNeuron):
                nodes[name] = _nir_neuron_node(nir, layer, tuple(x.shape[1:]), dt)
            elif isinstance(layer, PSGLayer):
                nodes[name] = _psg_node(nir, layer, tuple(x.shape[1:]), dt)
            elif isinstance(layer, IFNeuron):
                nodes[name] = _neuron_node(nir, layer, tuple(x.shape[1:]), dt)
                if isinstance(groups, int):
                    nodes[name].metadata.update({"onespike_groups": groups, "input": "mean_over_steps"})
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
            elif isinstance(layer, NIRConv1d):
                conv = layer.conv
                nodes[name] = nir.Conv1d(input_shape=int(x.shape[-1]), weight=conv.weight[:, :, 0].detach().numpy(),
                                         stride=conv.stride[1], padding=conv.padding[1], dilation=conv.dilation[1],
                                         groups=conv.groups, bias=conv.bias.detach().numpy() if conv.bias is not None
                                         else np.zeros(conv.out_channels, dtype=np.float32))
                x = layer(x)
            elif isinstance(layer, ShortcutScale):
                nodes[name] = nir.Scale(scale=np.full(tuple(x.shape[1:]), float(layer.scale), dtype=np.float32))
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
                                 "Linear/Affine, Conv1d/2d, Flatten, AvgPool2d/SumPool2d, Scale, IF, LIF, LI, "
                                 "CubaLIF, Threshold and PSG in a chain)")
        order.append(name)
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[1:])})
    order.append("output")
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)))
