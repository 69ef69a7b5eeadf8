"""Synaptic layers: Conv2d / Linear (ACs on spikes, MACs otherwise) and binary-weight layers."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from analysis.counting.geometry import conv_fanout_facts, conv_fanout_weights
from analysis.counting.nonzero import DEFER_ELEMENTS, Deferred, NonzeroMaps, deferred_count, nonzero_map
from analysis.counting.registry import register_rule
from analysis.counting.rules.common import count_map, nonzero_sums
from analysis.counting.signals import ANALOG_BITS, Context
from analysis.snn.neurons import BinaryConv2d, BinaryLinear
from analysis.snn.quantize import FLOAT_WEIGHT_BITS, weight_bits_of


def _weight_bits(module: nn.Module, ctx: Context) -> int:
    """The layer's weight width as the network holds it (binary 1, quantized as recorded, float 32),
    unless the count imposes one on non-binary weights."""
    if isinstance(module, BinaryConv2d | BinaryLinear):
        return 1
    if ctx.weight_bits is not None:
        return ctx.weight_bits
    # weight_bits_of(module), without the AttributeError that nn.Module raises (3 us) for a float layer
    recorded = module.__dict__.get("weight_bits")
    if recorded is None:
        return weight_bits_of(module) if hasattr(type(module), "weight_bits") else FLOAT_WEIGHT_BITS
    return int(recorded)


def _synapse_facts(module: nn.Module, x: Tensor, y: Tensor, ctx: Context, weight: Tensor) -> dict[str, Any]:
    in_shape, out_shape = ctx.sample_shape(x), ctx.sample_shape(y)
    neurons, per_sample = math.prod(out_shape), ctx.batch * ctx.steps
    sig = ctx.signal
    facts: dict[str, Any] = dict(
        synapses=weight.numel(),
        in_shape=in_shape,
        out_shape=out_shape,
        neurons=neurons,
        weight_bits=_weight_bits(module, ctx),
        act_bits=sig.bits,
        out_bits=ANALOG_BITS,
        input_spiking=sig.kind == "spike",
        input_elements=math.prod(in_shape) * per_sample,  # ctx.step_elements(x)
        output_writes=neurons * per_sample,  # ctx.step_elements(y)
    )
    if isinstance(module, nn.Conv2d):
        padding = module.padding
        facts.update(kind="conv", in_channels=module.in_channels, out_channels=module.out_channels,
                     kernel_size=module.kernel_size, stride=module.stride,
                     padding=padding if not isinstance(padding, str) else ())
    else:
        facts.update(kind="linear", in_channels=module.in_features, out_channels=module.out_features,
                     kernel_size=(1,), stride=(1,), padding=(0,))
    if module.bias is not None:
        facts["add"] = facts["output_writes"]  # one bias add per output neuron per step/group
    if not sig.known:
        facts["notes"] = "input produced outside hooked modules: counted as analog"
    return facts


def reached_synapses(module: nn.Module, source: Tensor, indicator: bool = False) -> tuple[float, float]:
    """``(Σ source, Σ over input positions of source · synapses reached)`` for a conv/linear.

    ``source`` is a per-input-element count (spikes) with the input's layout, or with
    ``indicator=True`` any tensor whose non-zero entries count 1; a conv input element reaches
    ``fanout(position) · C_out/groups`` synapses (edges, padding and stride included; padding zeros
    are not inputs), a linear one ``out_features``. One pass over ``source``: its sums per position
    of the last two axes, then the fan-out weighting on that small map. Both sums are exact integers
    (float64). A count that keeps shared non-zero maps uses :func:`gated_synapses` instead."""
    if indicator:
        per_pos = nonzero_map(source)
    elif source.dim() < 3:
        per_pos = source.sum(dtype=torch.float64)
    else:
        per_pos = source.sum(dim=tuple(range(source.dim() - 2)), dtype=torch.float64)
    return fanout_sums(module, per_pos, source.shape[-2:])


def gated_synapses(module: nn.Module, source: Tensor, ctx: Context) -> tuple[Any, Any]:
    """``(non-zero inputs, MACs whose input is non-zero)`` of a conv/linear reading ``source``: from the
    count's shared non-zero maps, read when the ledger is written (:func:`deferred_synapses`), or in one
    pass now where the count keeps none (:func:`reached_synapses`)."""
    if ctx.nonzero is not None:
        return deferred_synapses(module, source, ctx.nonzero)
    return reached_synapses(module, source, indicator=True)


def deferred_synapses(module: nn.Module, source: Tensor, maps: NonzeroMaps) -> tuple[Any, Any]:
    """:func:`reached_synapses` of a non-zero indicator (``indicator=True``), as counts read when the
    ledger is written (:class:`~analysis.counting.nonzero.Deferred`): the layer's hook makes at most
    the one pass over ``source`` that its shared map needs (none where the map is known)."""
    total = maps.deferred(source)
    if isinstance(module, nn.Linear):  # every input element reaches out_features synapses
        return total, total * module.out_features
    per_channel = module.out_channels // module.groups
    fan, counts = conv_fanout_facts(module, source.shape[-2], source.shape[-1], source.device)
    if fan is not None:  # every position reaches alike: the count times that
        return total, total * fan * per_channel
    if source.numel() < DEFER_ELEMENTS:  # read at once, as the total was
        return total, int((maps.of(source) * counts).sum()) * per_channel
    return total, Deferred(maps.of(source), counts, (per_channel,))


def fanout_sums(module: nn.Module, per_pos: Tensor, hw: tuple[int, ...]) -> tuple[float, float]:
    """``(Σ per_pos, Σ per_pos · synapses reached)`` from a per-position count of a conv/linear's
    input (over the last two axes ``hw`` of the input; a 0-d count for a linear's)."""
    if isinstance(module, nn.Linear):
        total = float(per_pos.sum(dtype=torch.float64))
        return total, total * module.out_features
    weights = conv_fanout_weights(module, hw[0], hw[1], per_pos.device)
    total, reached = (weights @ per_pos.reshape(-1).to(torch.float64)).tolist()
    return total, reached * (module.out_channels // module.groups)


def _kernel_volume(weight: Tensor) -> int:
    """``weight[0].numel()`` (what one output reads: (C_in/groups)·k_h·k_w, or in_features) without
    making a view."""
    return weight.numel() // weight.shape[0] if weight.shape[0] else 0


@register_rule(nn.Conv2d, nn.Linear)
def synapse_rule(module: nn.Module, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """Conv2d / Linear, by the signal of the input (never by its values):

    - ``spike`` (IF/PSG output, possibly through flatten): ``ac`` = Σ over input spikes of the
      synapses each reaches = Σ_pos count(pos)·fanout(pos)·C_out/groups (conv; edges, padding and
      stride included), spikes·out_features (linear); rule ``conv.spike_input``/``linear.spike_input``.
    - ``pooled_spike`` (average pooling of spikes: fractional values): ``mac`` over the non-zero
      inputs only, each reaching its fan-out, with ``act_bits`` = bits of the pool's levels
      (``*.pooled_spike_input``).
    - ``quant`` / ``analog`` / ``binary`` (±1, real weights): dense ``mac`` = output elements ·
      (C_in/groups)·k_h·k_w per step (``*.quant_input``/``*.analog_input``/``*.binary_input``).

    Plus one bias ``add`` per output neuron per step/group; ``weight_reads`` = one word per ac/mac;
    ``input_reads`` = per non-zero spike (spike and pooled input) or per element (dense input);
    ``output_writes`` = output elements per step/group. ``mac_nonzero``: the MACs whose input is
    non-zero, exactly (the same fan-out sum over the non-zero indicator).
    """
    x = inputs[0]
    sig = ctx.signal
    name = "linear" if isinstance(module, nn.Linear) else "conv"
    weight = module.weight
    facts = _synapse_facts(module, x, output, ctx, weight)
    if sig.kind in ("spike", "pooled_spike"):
        if sig.kind == "spike":
            total, synaptic = reached_synapses(module, count_map(x, sig))
        else:
            total, synaptic = fanout_sums(module, nonzero_sums(x, sig, ctx.nonzero), x.shape[-2:])
        event = "ac" if sig.kind == "spike" else "mac"
        facts.update({event: synaptic, "weight_reads": synaptic, "input_reads": total, "input_nonzero": total,
                      "rule": f"{name}.{sig.kind}_input"})
        if event == "mac":
            facts["mac_nonzero"] = synaptic
    else:
        dense = float(facts["output_writes"]) * _kernel_volume(weight)  # out · (C_in/g)·kh·kw
        nonzero, gated = gated_synapses(module, x, ctx)
        if not ctx.stepped and ctx.steps > 1:  # a one-pass sum of a current repeated in every group
            nonzero, gated = nonzero * ctx.steps, gated * ctx.steps
        kind = sig.kind if sig.kind in ("quant", "binary") else "analog"
        facts.update(mac=dense, mac_nonzero=gated, weight_reads=dense, input_reads=facts["input_elements"],
                     input_nonzero=nonzero, rule=f"{name}.{kind}_input")
    facts["signal"] = ctx.out_signal()
    return facts


@register_rule(BinaryConv2d, BinaryLinear)
def binary_synapse_rule(module: nn.Module, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """Binary-weight conv/linear (XNOR-Net). With ±1 input (``binary`` signal): ``xnor`` and
    ``popcount`` in bits, each = the layer's dense MACs; 1-bit ``weight_reads`` (one per xnor);
    the α scaling one ``mul`` per output; bias one ``add`` per output (rule ``*.binary``). Any other
    input: dense ``mac`` with 1-bit weights (``*.binary_weight``, ``mac_nonzero`` exact) and the α ``mul``.
    """
    x = inputs[0]
    weight = module.weight
    facts = _synapse_facts(module, x, output, ctx, weight)
    name = facts["kind"]
    dense = float(facts["output_writes"]) * _kernel_volume(weight)
    if ctx.signal.kind == "binary":
        nonzero = deferred_count(x, ctx.nonzero)
        facts.update(xnor=dense, popcount=dense, rule=f"{name}.binary")
    else:
        nonzero, gated = gated_synapses(module, x, ctx)
        facts.update(mac=dense, mac_nonzero=gated, rule=f"{name}.binary_weight")
    facts.update(weight_reads=dense, mul=ctx.step_elements(output), input_reads=facts["input_elements"],
                 input_nonzero=nonzero, signal=ctx.out_signal())
    return facts
