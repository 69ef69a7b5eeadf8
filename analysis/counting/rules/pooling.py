"""Pooling: average pooling and means over per-sample axes (adds and one divide per output) and max
pooling (comparisons)."""

from __future__ import annotations

import math

from torch import nn

from analysis.counting.geometry import pool_windows
from analysis.counting.registry import register_rule
from analysis.counting.rules.common import lazy_apply, shift_or_mul
from analysis.counting.signals import ANALOG_BITS, Signal
from analysis.snn import Mean


def _pool_facts(module, x, output, ctx, window_shape):
    return dict(kind="pool", input_reads=ctx.step_elements(x), output_writes=ctx.step_elements(output),
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(x), out_shape=ctx.sample_shape(output),
                kernel_size=window_shape, stride=getattr(module, "stride", ()), padding=getattr(module, "padding", ()))


def pooled_signal(module, sig: Signal, window: int, summed: bool = False):
    """``(kind, levels, per-step maps)`` of an average (or, ``summed``, a sum) over ``window`` values
    of signal ``sig``: spikes summed stay integer spike counts (``spike``, levels = window × the
    input's); spikes averaged are fractions (``pooled_spike``); ``quant`` keeps L·window levels; else
    analog. A time-stepped input's per-step maps are pooled lazily, step by step."""
    per_step = None
    if sig.kind in ("spike", "pooled_spike"):
        kind = "spike" if sig.kind == "spike" and summed and not sig.weighted else "pooled_spike"
        if not sig.stepped and sig.steps > 1 and sig.per_step is not None:
            per_step = lazy_apply(module, sig.per_step)
        return kind, max(sig.levels, 1) * window, per_step
    if sig.kind == "quant":
        return "quant", sig.levels * window, per_step
    return "analog", 0, per_step


@register_rule(nn.AvgPool2d, nn.AdaptiveAvgPool2d)
def avgpool_rule(module, inputs, output, ctx):
    """Average pooling, per output element per step/group: window−1 ``add`` and one divide, a
    ``shift`` when the divisor is a power of two, else a ``mul`` (windows as pooled, padding
    included). Reads every input element, writes every output. Spikes in -> ``pooled_spike`` out
    (levels = window size: fractions, so the next layer counts MACs); quantized in -> ``quant`` with
    L·window levels. A sum pool (``divisor_override=1``: NIR's ``SumPool2d``) of spikes adds spike
    counts with no divide: its output is integer spike counts, ``spike`` with levels = window ×
    the input's levels, so the next layer counts one AC per pooled spike and synapse it reaches
    (the count's width in ``act_bits``), exactly as if the spikes had reached it unpooled."""
    x = inputs[0]
    in_hw, out_hw = tuple(x.shape[-2:]), tuple(output.shape[-2:])
    adds, shifts, muls, window = pool_windows(module, in_hw, out_hw)
    maps = ctx.per_sample(output) // (out_hw[0] * out_hw[1]) * ctx.batch * ctx.steps  # channel maps over steps
    sig = ctx.signal
    summed = isinstance(module, nn.AvgPool2d) and module.divisor_override == 1
    if summed:
        shifts, muls = 0, 0  # no divide
    out_kind, levels, per_step = pooled_signal(module, sig, window, summed)
    shape = (window,) if isinstance(module, nn.AdaptiveAvgPool2d) else module.kernel_size
    facts = _pool_facts(module, x, output, ctx, shape)
    facts.update(rule="sumpool" if summed else "avgpool", add=adds * maps, shift=shifts * maps, mul=muls * maps,
                 act_bits=sig.bits,
                 out_bits=ANALOG_BITS if out_kind == "analog" else Signal(out_kind, levels).bits,
                 signal=ctx.out_signal(out_kind, levels=levels, per_step=per_step))
    return facts


@register_rule(Mean)
def mean_rule(module, inputs, output, ctx):
    """``x.mean(dims)`` over per-sample axes (the converter's module for the call), per output
    element per step/group: window−1 ``add`` and one divide (``shift`` for a power-of-two window,
    else ``mul``), as the ``mean`` operator rule counts the ANN's call; the output's kind as average
    pooling's (spikes in -> ``pooled_spike`` out)."""
    x = inputs[0]
    outs = ctx.per_sample(output)
    window = ctx.per_sample(x) // max(outs, 1)
    n = outs * ctx.batch * ctx.steps
    sig = ctx.signal
    out_kind, levels, per_step = pooled_signal(module, sig, window)
    facts = _pool_facts(module, x, output, ctx, (window,))
    facts.update(rule="mean", add=(window - 1) * n, act_bits=sig.bits, **{shift_or_mul(window): n if window > 1 else 0},
                 out_bits=ANALOG_BITS if out_kind == "analog" else Signal(out_kind, levels).bits,
                 signal=ctx.out_signal(out_kind, levels=levels, per_step=per_step))
    return facts


@register_rule(nn.MaxPool2d, nn.AdaptiveMaxPool2d)
def maxpool_rule(module, inputs, output, ctx):
    """Max pooling, per output element per step/group: window−1 ``cmp`` (k_h·k_w windows, padding
    included; adaptive pooling: the exact windows). The output carries the input's kind and levels
    (a max of spikes is a spike). Conversion to spiking networks refuses max pooling (the max of
    spike counts is not the count of a max); this rule counts ANNs, quantized ANNs and BNNs."""
    x = inputs[0]
    in_hw, out_hw = tuple(x.shape[-2:]), tuple(output.shape[-2:])
    if isinstance(module, nn.MaxPool2d):
        k = module.kernel_size
        kernel = (k, k) if isinstance(k, int) else tuple(k)
        per_map, shape = (math.prod(kernel) - 1) * out_hw[0] * out_hw[1], kernel
    else:
        per_map, _, _, window = pool_windows(nn.AdaptiveAvgPool2d(out_hw), in_hw, out_hw)
        shape = (window,)
    maps = ctx.per_sample(output) // (out_hw[0] * out_hw[1]) * ctx.batch * ctx.steps
    sig = ctx.signal
    facts = _pool_facts(module, x, output, ctx, shape)
    facts.update(rule="maxpool", cmp=per_map * maps, act_bits=sig.bits, out_bits=sig.bits,
                 signal=ctx.out_signal(sig.kind, levels=sig.levels))
    return facts
