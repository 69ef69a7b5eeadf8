"""Activations and neurons: ReLU (and clips), QCFS / ClampQuant, sign, IF, PSG (OneSpike).

A neuron's rule is named after the method whose neuron it counts (``qcfs``, ``if``; the PSG rules
``psg.<mode>.<input>``)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from analysis.counting.nonzero import deferred_count, nnz
from analysis.counting.registry import register_rule
from analysis.counting.rules.common import shift_or_mul
from analysis.counting.signals import ANALOG_BITS, Context, Signal
from analysis.methods import Method
from analysis.snn import PSGLayer
from analysis.snn.neurons import QCFS, BinaryActivation, IFNeuron, PSGNeuron
from analysis.snn.quantize import ActivationQuant

#: A decision is a tie when it lies within this many units of float rounding of the threshold.
TIE_ULPS = 4


def _neuron_facts(x: Tensor, y: Tensor, ctx: Context, kind: str = "neuron") -> dict[str, Any]:
    out_shape = ctx.sample_shape(y)
    neurons = math.prod(out_shape)
    n = neurons * ctx.batch * ctx.steps  # ctx.step_elements(y)
    return dict(kind=kind, in_shape=out_shape if x is y else ctx.sample_shape(x), out_shape=out_shape,
                neurons=neurons, input_reads=n, output_elements=n)


@register_rule(nn.ReLU)
def relu_rule(module, inputs, output, ctx):
    """ReLU: one ``cmp`` per element per step; reads and writes each element (32 bit)."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    facts.update(rule="relu", cmp=n, output_writes=n, act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                 output_nonzero=deferred_count(output, ctx.nonzero), signal=ctx.out_signal())
    return facts


@register_rule(nn.ReLU6, nn.Hardtanh)
def clip_rule(module, inputs, output, ctx):
    """ReLU6 / Hardtanh (a clip to [lo, hi]): two ``cmp`` per element per step."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    facts.update(rule="clip", cmp=2 * n, output_writes=n, act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                 output_nonzero=deferred_count(output, ctx.nonzero), signal=ctx.out_signal())
    return facts


@register_rule(QCFS)
def quant_rule(module: QCFS, inputs, output, ctx):
    """QCFS / ClampQuant, per element: 1 ``mul`` (x·L/λ), 1 ``add`` for the shift φ (none when
    φ = 0, i.e. ClampQuant), the floor is a truncation (free), 2 ``cmp`` (clip to [0, L]); the
    rescale λ/L folds into the next layer's weights (free). Output: ``quant`` with L levels,
    ``out_bits`` = ceil(log2(L+1)). The INT8 ANN's :class:`~analysis.snn.ActivationQuant` (L = 255,
    φ = ½) is the same arithmetic, under its own rule name."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    signal = ctx.out_signal("quant", levels=module.levels)
    rule = Method.INT8 if isinstance(module, ActivationQuant) else Method.QCFS if module.shift else "clamp_quant"
    facts.update(rule=rule, mul=n, add=n if module.shift else 0, cmp=2 * n,
                 output_writes=n, output_nonzero=deferred_count(output, ctx.nonzero), act_bits=ANALOG_BITS,
                 out_bits=signal.bits, signal=signal)
    return facts


@register_rule(BinaryActivation)
def binary_activation_rule(module, inputs, output, ctx):
    """Sign activation: one ``cmp`` per element; output ±1 (``binary``, 1 bit)."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    facts.update(rule="sign", cmp=n, output_writes=n, output_nonzero=n, act_bits=ANALOG_BITS, out_bits=1,
                 signal=ctx.out_signal("binary"))
    return facts


def _tie_tolerance(dtype: torch.dtype, magnitude: Tensor, operations: int) -> Tensor:
    """How far a float computation of ``operations`` roundings on values of ``magnitude`` can drift:
    a membrane closer than this to the threshold could fire in one precision and not another."""
    return TIE_ULPS * torch.finfo(dtype).eps * magnitude * operations


def _if_ties(module: IFNeuron, x: Tensor, spikes: Tensor) -> Tensor:
    """Count (neuron, step) membranes u_t within float rounding of θ by replaying the recursion
    (the bound grows with the steps accumulated: t additions and subtractions of values ≤ |u| + θ)."""
    theta = module.threshold.to(x.dtype)
    if module.streaming:  # the membrane after this step is kept: u = v + θ·s
        u = module._membrane + theta * spikes[0]
        return ((u - theta).abs() <= _tie_tolerance(x.dtype, u.abs() + theta, 2)).sum()
    v = torch.full_like(x[0], float(module.v_init)) * theta
    ties = torch.zeros((), dtype=torch.int64, device=x.device)
    for t in range(x.shape[0]):
        v = v + x[t]
        ties = ties + ((v - theta).abs() <= _tie_tolerance(x.dtype, v.abs() + theta, 2 * (t + 1))).sum()
        v = v - spikes[t] * theta
    return ties


@register_rule(IFNeuron)
def if_rule(module: IFNeuron, inputs, output, ctx):
    """IF neuron (reset by subtraction), per neuron per timestep: 1 ``vmem_read``, 1 ``add``
    (u = v + x), 1 ``cmp`` (u ≥ θ), 1 ``vmem_write``; plus 1 ``add`` per spike (the reset u − θ).
    Reads its input current once per step; writes its spikes as events. ``spikes`` exact (count of
    non-zeros of the output). ``threshold_ties`` (``track_ties=True``): membranes within float
    rounding of θ (see ``_if_ties``).
    """
    x = inputs[0]
    ctx = replace(ctx, steps=x.shape[0], stepped=True, batch=x.shape[1])  # always [T, B, ...]
    facts = _neuron_facts(x, output, ctx, "encoder" if ctx.encoder else "neuron")
    n = facts["input_reads"]
    spikes = nnz(output)
    facts.update(rule=Method.IF, vmem_reads=n, vmem_writes=n, add=spikes + n, cmp=n, spikes=spikes,
                 output_writes=spikes, output_nonzero=spikes, act_bits=ctx.vmem_bits, out_bits=1,
                 vmem_bits=ctx.vmem_bits, output_spiking=True, timesteps=ctx.timesteps,
                 signal=Signal("spike", steps=output.shape[0], stepped=True))
    if ctx.track_ties:
        facts["threshold_ties"] = _if_ties(module, x, output)
    return facts


def _psg_ties(neuron: PSGNeuron, total: Tensor) -> int:
    """Count (neuron, group) decisions V_i + x − θ within float rounding of 0 (V_i = (v + i·x) mod θ
    takes a division, a multiplication, an addition and a remainder on values up to |v| + G·|x|);
    one group at a time, so memory does not grow with G."""
    theta = neuron.threshold.to(total.dtype)
    x = total / neuron.groups
    tolerance = _tie_tolerance(total.dtype, theta + neuron.groups * x.abs(), 6)
    ties = 0
    for i in range(neuron.groups):
        index = torch.tensor(float(i), dtype=total.dtype, device=total.device)
        residual = torch.remainder(neuron.v_init * theta + index * x, theta)
        ties += int(((residual + x - theta).abs() <= tolerance).sum())
    return ties


def _psg_counts(neuron: PSGNeuron, n: int, total_spikes: Tensor, source: str, ctx: Context) -> dict[str, Any]:
    """Events of one PSG layer over ``n`` neurons (the batch included) that emitted ``total_spikes``.
    ``source``: ``grouped`` (G group currents), ``analog`` (one current, the same in every group) or
    ``total`` (a bare PSGNeuron given the total current)."""
    g = neuron.groups
    counts: dict[str, float] = dict.fromkeys(("add", "mul", "mod", "shift", "mask", "cmp"), 0.0)
    if source == "grouped":
        counts["add"] += (g - 1) * n  # I = Σ_g x_g
        reads = g * n
    else:
        if source == "analog":
            counts[shift_or_mul(g)] += n  # I = G·x
        reads = n
    if neuron.code == "bitplane":  # successive approximation of R = I + v against θ_{G-1} .. θ_0
        counts["add"] += n if neuron.v_init else 0  # R = I + v
        counts["cmp"] += g * n
        rule = "psg.bitplane"
    elif neuron.per_group:
        counts[shift_or_mul(g)] += n  # x = I / G
        counts["add"] += g * n  # v + x
        counts["cmp"] += g * n
        rule = "psg.per_group"
    elif neuron.mode == "hardware":
        counts["add"] += 2 * g * n  # running sum A_i (+I) and the carry test A_i mod Gθ + I
        counts["mask"] += g * n
        counts["cmp"] += g * n
        rule = "psg.hardware"
    else:
        counts[shift_or_mul(g)] += n  # x = I / G
        counts["mul"] += g * n  # i·x
        counts["mod"] += g * n  # mod θ
        counts["add"] += g * n * (2 if neuron.v_init else 1)  # V_i + x (and v + i·x when v ≠ 0)
        counts["cmp"] += g * n
        rule = "psg.exact"
    if neuron.per_group:
        counts["add"] = counts["add"] + total_spikes  # the reset by subtraction of the scan (or R − θ_i)
    return dict(counts, rule=f"{rule}.{source}_input", spikes=total_spikes, output_writes=total_spikes,
                output_nonzero=total_spikes, output_elements=g * n, input_reads=reads,
                vmem_reads=n, vmem_writes=n, neurons=n // max(ctx.batch, 1), groups=g, act_bits=ctx.vmem_bits,
                vmem_bits=ctx.vmem_bits, out_bits=1, output_spiking=True, kind="neuron")


@register_rule(PSGLayer)
def psg_layer_rule(module: PSGLayer, inputs, output, ctx):
    """PSG layer (OneSpike), per neuron: sum the group currents, (G−1) ``add`` (grouped input) or
    one ``shift`` (G·x, G a power of two, else ``mul``; analog first-layer input). Then
    ``exact`` mode: x = I/G one shift/mul, and per group 1 ``mul`` (i·x), 1 ``mod``, 1 ``add``
    (V_i + x; +1 add for v + i·x when v_init ≠ 0), 1 ``cmp``. ``hardware`` mode: per group 1 ``add``
    (running sum A_i), 1 ``mask`` (mod Gθ), 1 ``add`` (+I), 1 ``cmp`` (carry). Per-group thresholds:
    x = I/G, per group 1 ``add``, 1 ``cmp``, 1 ``add`` per spike (reset); the bit-plane code: 1
    ``add`` (R = I + v, when v_init ≠ 0), per group 1 ``cmp``, 1 ``add`` per spike (R − θ_i). Membrane: no state crosses
    timesteps; the total current is written once and read once (``vmem_reads = vmem_writes =
    neurons``). Spikes exact, from the neuron's ``[G, B, ...]`` output, written as events.
    """
    x = inputs[0]
    source = "grouped" if module.grouped_input else "analog"
    stacked = module.grouped_input and not module.onepass  # input [G, B, ...]
    batch = x.shape[1] if stacked else x.shape[0]
    spikes = ctx.extras.get("psg_spikes")
    if spikes is None and not module.onepass:
        spikes = output
    if spikes is not None:  # the explicit [G, B, ...] spike maps
        n, total_spikes, out_shape = spikes[0].numel(), nnz(spikes), tuple(spikes.shape[2:])
    else:  # one-pass: the output is the spike-count map Σ_g s_g; per-group maps only if a rule asks
        n, total_spikes, out_shape = output.numel(), output.sum(), tuple(output.shape[1:])
        total = x if module.grouped_input else x * module.groups

        def spikes(neuron=module.neuron, total=total):
            return neuron.group_spikes(total)  # one group at a time: memory flat in G

    facts = _psg_counts(module.neuron, n, total_spikes, source, replace(ctx, batch=batch))
    facts.update(in_shape=tuple(x.shape[2:] if stacked else x.shape[1:]), out_shape=out_shape)
    if ctx.encoder:
        facts["kind"] = "encoder"
    if ctx.track_ties and not module.neuron.per_group:
        total = x.sum(0) if stacked else x
        facts["threshold_ties"] = _psg_ties(module.neuron, total if module.grouped_input else total * module.groups)
    g = module.groups
    if module.onepass:
        facts["signal"] = Signal("spike", steps=g, stepped=False, per_step=spikes,
                                 weighted=module.spike_scales is not None)
    else:
        facts["signal"] = Signal("spike", steps=g, stepped=True)
    return facts


@register_rule(PSGNeuron)
def psg_neuron_rule(module: PSGNeuron, inputs, output, ctx):
    """A bare PSGNeuron given the total current ``[B, ...]``: the PSG layer rule without the
    summation of group currents (``psg.*.total_input``)."""
    facts = _psg_counts(module, output[0].numel(), nnz(output), "total", replace(ctx, batch=inputs[0].shape[0]))
    facts.update(in_shape=tuple(inputs[0].shape[1:]), out_shape=tuple(output.shape[2:]),
                 signal=Signal("spike", steps=module.groups, stepped=True))
    if ctx.track_ties and not module.per_group:
        facts["threshold_ties"] = _psg_ties(module, inputs[0])
    return facts
