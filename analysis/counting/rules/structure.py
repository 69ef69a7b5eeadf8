"""Structure: batch norm, reshapes, residual adds and shortcut scales, step/group repeats, the
readout (average over steps/groups) and the spike encoder's input clamp."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from analysis.counting.registry import register_rule
from analysis.counting.rules.common import lazy_apply, shift_or_mul, steps_of
from analysis.counting.signals import ANALOG_BITS, Signal
from analysis.snn import (
    Concat,
    InputClamp,
    MeanOverSteps,
    RepeatGroups,
    RepeatSteps,
    Reshape,
    ResidualAdd,
    ShortcutScale,
)


@register_rule(nn.BatchNorm1d, nn.BatchNorm2d)
def batchnorm_rule(module, inputs, output, ctx):
    """Unfolded batch norm (inference): y = a·x + b, 1 ``mul`` + 1 ``add`` per element per step."""
    out_shape = ctx.sample_shape(output)
    neurons = math.prod(out_shape)
    n = neurons * ctx.batch * ctx.steps  # ctx.step_elements(output)
    x = inputs[0]
    return dict(kind="norm", rule="batchnorm", mul=n, add=n, input_reads=n, output_writes=n,
                neurons=neurons, in_shape=out_shape if x is output else ctx.sample_shape(x),
                out_shape=out_shape, act_bits=ctx.signal.bits, out_bits=ANALOG_BITS,
                signal=ctx.out_signal())


@register_rule(nn.Flatten, Reshape)
def flatten_rule(module, inputs, output, ctx):
    """Flatten, and the converter's ``Reshape`` of ``x.view(x.size(0), ...)``: no events (a
    reshape); the signal passes through."""
    sig = ctx.signal
    per_step = None
    if sig.per_step is not None:
        per_step = lazy_apply(module, sig.per_step)
    return dict(kind="reshape", rule="reshape", in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), neurons=ctx.per_sample(output),
                signal=replace(sig, per_step=per_step, known=sig.known))


@register_rule(Concat)
def concat_rule(module, inputs, output, ctx):
    """Concat (``torch.cat`` along a per-sample axis): no events (a view of its inputs). Its output
    carries what every input carries when they agree (spikes stay spikes), with the per-step form of
    each input joined along the same axis (one-pass OneSpike: each branch's ``[G, B, ...]`` spikes);
    inputs that carry different things (spikes and currents) make a current, counted densely."""
    first = ctx.signal
    agree = all(s.known and (s.kind, s.levels, s.steps, s.stepped, s.weighted) ==
                (first.kind, first.levels, first.steps, first.stepped, first.weighted) for s in ctx.signals)
    if not agree or not ctx.signals:
        signal = ctx.out_signal()
    elif all(s.per_step is not None for s in ctx.signals):
        parts = [s.per_step for s in ctx.signals]

        def joined(parts=parts, dim=module.dim):  # each step's [B, ...] maps joined, one step at a time
            return (torch.cat(step, dim) for step in zip(*(steps_of(p) for p in parts), strict=True))

        signal = replace(first, per_step=joined)
    else:
        signal = replace(first, per_step=None)
    return dict(kind="reshape", rule="concat", in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), neurons=ctx.per_sample(output), signal=signal)


@register_rule(ResidualAdd)
def residual_rule(module, inputs, output, ctx):
    """ResidualAdd: one ``add`` per output element per step/group; reads both inputs, writes the sum."""
    n = ctx.step_elements(output)
    return dict(kind="add", rule="residual_add", add=n, input_reads=2 * n, output_writes=n,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                signal=ctx.out_signal())


@register_rule(ShortcutScale)
def shortcut_scale_rule(module, inputs, output, ctx):
    """ShortcutScale: one ``shift`` (power-of-two scale) or ``mul`` per element per step/group; a
    scale of exactly 1 is free (rule ``scale.identity``). Output: a current (analog)."""
    n = ctx.step_elements(output)
    scale = float(module.scale)
    facts = dict(kind="other", in_shape=ctx.sample_shape(inputs[0]), out_shape=ctx.sample_shape(output),
                 neurons=ctx.per_sample(output), act_bits=ctx.signal.bits, out_bits=ANALOG_BITS,
                 signal=ctx.out_signal())
    if scale == 1.0:
        facts["rule"] = "scale.identity"
    else:
        facts.update({"rule": "scale", shift_or_mul(scale): n, "input_reads": n, "output_writes": n})
    return facts


@register_rule(RepeatSteps, RepeatGroups)
def repeat_rule(module, inputs, output, ctx):
    """RepeatSteps / RepeatGroups: the same current at every step/group, a view (no events)."""
    sig = ctx.signal
    if not isinstance(module, RepeatSteps) and getattr(module, "onepass_groups", None) is not None:
        out = Signal(sig.kind, sig.levels, steps=module.onepass_groups, stepped=False)
    else:
        out = Signal(sig.kind, sig.levels, steps=output.shape[0], stepped=True)
    return dict(kind="reshape", rule="repeat", in_shape=tuple(inputs[0].shape[1:]),
                out_shape=tuple(inputs[0].shape[1:]), neurons=math.prod(inputs[0].shape[1:]), signal=out)


@register_rule(MeanOverSteps)
def readout_rule(module, inputs, output, ctx):
    """Readout (average over S steps/groups), per output element: S−1 ``add`` and one divide
    (``shift`` when S is a power of two, else ``mul``); S = 1 is free."""
    s = ctx.steps
    n = output.numel()
    facts = dict(kind="other", rule="readout.mean", neurons=output[0].numel(), in_shape=tuple(output.shape[1:]),
                 out_shape=tuple(output.shape[1:]), act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                 signal=Signal("analog"))
    if s > 1:
        facts.update({"add": (s - 1) * n, shift_or_mul(s): n, "input_reads": s * n, "output_writes": n})
    return facts


@register_rule(InputClamp)
def clamp_rule(module, inputs, output, ctx):
    """Input clamp to [0, 1] before spike encoding: 2 ``cmp`` per element."""
    n = ctx.step_elements(output)
    return dict(kind="encoder", rule="clamp", cmp=2 * n, input_reads=n, output_writes=n,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(output), out_shape=ctx.sample_shape(output),
                act_bits=ANALOG_BITS, out_bits=ANALOG_BITS, signal=ctx.out_signal())
