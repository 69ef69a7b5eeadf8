"""Elementwise activations that are not ReLUs (SiLU, Sigmoid, Tanh, GELU, Hardswish, Hardsigmoid,
LeakyReLU, ELU) and normalisations (LayerNorm, GroupNorm, InstanceNorm, RMSNorm), so that an
EfficientNet, a MobileNetV3 or a ConvNeXt is priced whole instead of their activations reading as
zero. What each counts is in :mod:`analysis.counting.rules.costs`; an exponential, a division or a
square root is counted as the multiplies, adds and shifts that compute it (``costs.PRIMITIVES``).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from analysis.counting.nonzero import deferred_count
from analysis.counting.registry import register_rule
from analysis.counting.rules.costs import ACTIVATIONS, as_events, norm_ops
from analysis.counting.signals import ANALOG_BITS, Context

__all__ = ["ACTIVATION_TYPES", "activation_rule", "batch_stats_norm_rule", "norm_rule"]

#: The activation module types with a rule here, by their row in ``costs.ACTIVATIONS``.
ACTIVATION_TYPES: dict[type[nn.Module], str] = {
    nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.GELU: "gelu", nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu",
}


def _io_facts(x: Tensor, y: Tensor, ctx: Context, kind: str) -> dict[str, Any]:
    out_shape = ctx.sample_shape(y)
    neurons = math.prod(out_shape)
    n = neurons * ctx.batch * ctx.steps  # ctx.step_elements(y)
    return dict(kind=kind, in_shape=out_shape if x is y else ctx.sample_shape(x), out_shape=out_shape,
                neurons=neurons, input_reads=n, output_writes=n, act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                signal=ctx.out_signal())


@register_rule(*ACTIVATION_TYPES)
def activation_rule(module, inputs, output, ctx):
    """An elementwise activation, per element per step: the operations of its row in
    ``costs.ACTIVATIONS`` (SiLU: 1 exp + 1 add + 1 div + 1 mul), priced as ledger events; reads and
    writes each element (32 bit). Rule name: the activation's (``silu``, ``gelu``, ...)."""
    name = ACTIVATION_TYPES.get(type(module)) or next(name for t, name in ACTIVATION_TYPES.items()
                                                      if isinstance(module, t))
    facts = _io_facts(inputs[0], output, ctx, "neuron")
    n = facts["input_reads"]
    facts.update(rule=name, output_elements=n, output_nonzero=deferred_count(output, ctx.nonzero),
                 **as_events(ACTIVATIONS[name], n))
    return facts


def _norm_shape(module: nn.Module, x: Tensor, ctx: Context) -> tuple[int, bool, bool]:
    """``(size of one normalised group, affine weight, bias)`` of a normalisation layer."""
    if isinstance(module, nn.LayerNorm | nn.RMSNorm):
        size = math.prod(module.normalized_shape)
        weight = module.weight is not None
        return size, weight, getattr(module, "bias", None) is not None
    shape = ctx.sample_shape(x)
    if isinstance(module, nn.GroupNorm):
        return math.prod(shape) // module.num_groups, module.affine, module.affine
    return math.prod(shape[1:]), module.affine, module.affine  # InstanceNorm: each channel of a sample


@register_rule(nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
def norm_rule(module, inputs, output, ctx):
    """LayerNorm / GroupNorm / RMSNorm over groups of ``size`` elements (the normalised shape; a
    group of C/G channels): per group the mean, x − mean, the mean of squares, + eps, one rsqrt
    and the scaling, then the affine weight and bias per element (``costs.norm_ops``; RMSNorm has
    no mean and no bias)."""
    x = inputs[0]
    facts = _io_facts(x, output, ctx, "norm")
    size, weight, bias = _norm_shape(module, x, ctx)
    groups = facts["input_reads"] // max(size, 1)
    centred = not isinstance(module, nn.RMSNorm)
    facts.update(rule=type(module).__name__.lower(),
                 **as_events(norm_ops(groups, size, weight, bias and centred, centred)))
    return facts


@register_rule(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
def batch_stats_norm_rule(module, inputs, output, ctx):
    """InstanceNorm: with running statistics at inference, y = a·x + b (1 ``mul`` + 1 ``add`` per
    element, as batch norm); else each channel of each sample is normalised as in
    :func:`norm_rule`."""
    x = inputs[0]
    facts = _io_facts(x, output, ctx, "norm")
    n = facts["input_reads"]
    if module.track_running_stats and not module.training:
        facts.update(rule="instancenorm.running", mul=n, add=n)
        return facts
    size, weight, bias = _norm_shape(module, x, ctx)
    facts.update(rule="instancenorm", **as_events(norm_ops(n // max(size, 1), size, weight, bias)))
    return facts
