"""The type -> rule conversions of quantized-ANN and IF-SNN layers into IF / OneSpike layers
(:data:`~analysis.snn.context.CONVERTERS`), shared by the module-tree converter
(:mod:`analysis.snn.convert`) and the graph converter (:mod:`analysis.snn.graph`).

Each rule is ``rule(module, ctx, convert) -> (new_module, ctx_after)`` (see
:class:`~analysis.snn.context.ConversionContext`): conv/linear fold the incoming spike value θ into
their weights (never the bias) and run per step when stepped; QCFS/ClampQuant become IF neurons or
PSG layers; linear ops run per step; dropout is the identity at evaluation; max pooling and
unquantized ReLUs are refused with the reason and the fix. The zoo's blocks convert here too: a
RepVGG block in its re-parameterized form, a residual block on its currents (spikes turned back
into currents by a :class:`~analysis.snn.modules.ShortcutScale`, analog branches repeated).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import replace

import torch
from torch import nn

from analysis.models.repvgg import RepVGGBlock
from analysis.models.residual import ResidualBlock
from analysis.snn.context import ConversionContext, ConversionError, fold_batchnorm, register_converter
from analysis.snn.modules import (
    InputClamp,
    MeanOverSteps,
    PSGLayer,
    RepeatGroups,
    RepeatSteps,
    ShortcutScale,
    Stepwise,
)
from analysis.snn.network import SpikingNetwork
from analysis.snn.neurons import IFNeuron, PSGNeuron
from analysis.snn.ops import Mean, Reshape
from analysis.snn.quantizers import QCFS
from analysis.snn.vocabulary import StepAxis

__all__ = ["make_neuron"]


# -- quantized ANN -> spiking networks -------------------------------------------------------------

@register_converter(nn.Sequential)
def _convert_sequential(module, ctx, convert):
    out = nn.Sequential()
    for name, child in module.named_children():
        new, ctx = convert(child, ctx)
        out.add_module(name, new)
    return out, ctx


def _wrap(layer: nn.Module, ctx: ConversionContext) -> nn.Module:
    if not ctx.stepped:
        return layer
    scales = None if ctx.step_scales is None else torch.tensor(ctx.step_scales)
    return Stepwise(layer, ctx.axis, scales)


@register_converter(nn.Conv2d, nn.Linear)
def _convert_synapse(module, ctx, convert):
    layer = copy.deepcopy(module)
    if ctx.spike_scale is not None:
        with torch.no_grad():
            layer.weight.mul_(ctx.spike_scale)  # a spike is worth θ: fold θ into the weights, not the bias
    return _wrap(layer, ctx), replace(ctx, spike_scale=None, step_scales=None)


@register_converter(nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, Reshape, Mean, nn.BatchNorm1d, nn.BatchNorm2d)
def _convert_linear_op(module, ctx, convert):
    # Linear in its input: runs per step on spikes or currents and keeps the spike scale; per-group
    # spike values commute with it and are applied by the next synaptic layer.
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return _convert_affine(module, ctx)
    layer = copy.deepcopy(module)
    return (Stepwise(layer, ctx.axis) if ctx.stepped else layer), ctx


def _convert_affine(module, ctx):
    """A BatchNorm not folded into a conv/linear is affine, ``a·x + b``: it cannot keep the spike
    value for the next layer (``W·θ·(a·s + b) != W·(a·θ·s + b)``), so incoming spikes first become the
    current θ·s (per-group values included), and the BatchNorm runs per step on currents."""
    layer: nn.Module = copy.deepcopy(module)
    if not ctx.stepped:
        return layer, ctx
    layer = Stepwise(layer, ctx.axis)
    if ctx.spike_scale is not None:
        scale, ctx = ShortcutScale(1.0).to_spiking(ctx, None)
        layer = nn.Sequential(scale, layer)
    return layer, ctx


@register_converter(nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                    nn.FeatureAlphaDropout)
def _convert_identity(module, ctx, convert):
    return nn.Identity(), ctx  # dropout is the identity at evaluation


def _layer(module: nn.Module) -> str:
    name = getattr(module, "source_name", None)
    return f"{type(module).__name__} (layer {name})" if name else type(module).__name__


@register_converter(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
                    nn.AdaptiveMaxPool3d)
def _refuse_maxpool(module, ctx, convert):
    raise ConversionError(
        f"{type(module).__name__} cannot be converted exactly to a spiking network: conversion would have "
        "to pool the spikes, and the max of spike counts over a window is not the spike count of the max "
        "activation (per step it over-counts; on the group sum it is not what a neuron emits), so the "
        f"converted net would not compute the quantized ANN. {_layer(module)}: replace it with nn.AvgPool2d "
        "(same kernel and stride) in the ANN and fine-tune; the quantized ANN itself (to_quantized) keeps "
        "max pooling as it is"
    )


@register_converter(nn.ReLU, nn.Hardtanh)
def _refuse_relu(module, ctx, convert):
    raise ConversionError(
        f"found an unquantized {_layer(module)}: spiking conversion needs a quantized ANN. Call "
        "analysis.snn.to_quantized(ann, levels) (and fine-tune it) first"
    )


@register_converter(QCFS)
def _convert_quant(module, ctx, convert):
    theta = float(module.threshold.detach())
    return make_neuron(theta, module.shift, ctx)


def make_neuron(theta: float, v_init: float, ctx: ConversionContext):
    if ctx.axis is StepAxis.TIME:
        neuron = IFNeuron(theta, ctx.steps, v_init)
        layer = neuron if ctx.stepped else nn.Sequential(RepeatSteps(ctx.steps), neuron)
        return layer, replace(ctx, stepped=True, spike_scale=theta, step_scales=None)
    scales = ctx.group_threshold_scales
    thresholds = theta if scales is None else [theta * s for s in scales]
    neuron = PSGNeuron(thresholds, ctx.steps, mode=ctx.mode, v_init=v_init, code=ctx.group_code)
    return (
        PSGLayer(neuron, grouped_input=ctx.stepped, spike_scales=scales),
        replace(ctx, stepped=True, spike_scale=theta, step_scales=scales),
    )


# -- IF SNN -> OneSpike rules (the SNN's own layers) -----------------------------------------------
@register_converter(IFNeuron)
def _convert_if(module, ctx, convert):
    if ctx.axis is StepAxis.TIME:
        if ctx.stepped:
            return copy.deepcopy(module), replace(ctx, spike_scale=1.0)
        raise ConversionError("an IFNeuron received analog input; insert RepeatSteps(T) before it")
    layer, ctx = make_neuron(float(module.threshold), module.v_init, ctx)
    # In a spiking network the next layer's weights already include θ: spikes count as 1.
    return layer, replace(ctx, spike_scale=1.0)


@register_converter(Stepwise)
def _convert_stepwise(module, ctx, convert):
    inner = module.module
    if isinstance(inner, nn.Conv2d | nn.Linear) and ctx.spike_scale == 1.0:
        layer = copy.deepcopy(inner)
        return _wrap(layer, ctx), replace(ctx, spike_scale=None, step_scales=None)
    return convert(inner, ctx)


@register_converter(RepeatSteps)
def _convert_repeat(module, ctx, convert):
    return nn.Identity(), ctx  # PSG takes the analog current directly; IF re-inserts it itself


@register_converter(MeanOverSteps, InputClamp)
def _convert_passthrough(module, ctx, convert):
    return copy.deepcopy(module), ctx


@register_converter(SpikingNetwork)
def _convert_network(module, ctx, convert):
    return convert(module.body, ctx)


# -- the zoo's blocks --------------------------------------------------------------------------------
def _name_like(new: nn.Module, branch: nn.Module) -> None:
    """Modules added to a converted branch carry the branch's ``source_name`` (if it has one)."""
    name = branch.__dict__.get("source_name")
    if name is not None:
        for m in new.modules():
            m.source_name = name


def _as_current(module: nn.Module, ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """If a branch ends in spikes (worth θ), append the per-step ``ShortcutScale(θ)`` that turns them
    into the current ``θ·s``; a branch that already ends in a current is returned unchanged."""
    if ctx.spike_scale is None:
        return module, ctx
    scale, ctx = ShortcutScale(1.0).to_spiking(ctx, None)
    _name_like(scale, module)
    if isinstance(module, nn.Identity):
        return scale, ctx
    return nn.Sequential(module, scale), ctx


def _repeat(module: nn.Module, ctx: ConversionContext) -> nn.Module:
    """Append the repeat that makes an analog branch the same current at every step (IF:
    :class:`RepeatSteps`) or in every group (OneSpike: :class:`RepeatGroups`)."""
    repeat = RepeatSteps(ctx.steps) if ctx.axis is StepAxis.TIME else RepeatGroups(ctx.steps)
    _name_like(repeat, module)
    if isinstance(module, nn.Identity):
        return repeat
    return nn.Sequential(module, repeat)


@register_converter(RepVGGBlock)
def _convert_repvgg_block(module: RepVGGBlock, ctx: ConversionContext, convert
                          ) -> tuple[nn.Module, ConversionContext]:
    """A RepVGG block converts in its re-parameterized form (one 3x3 conv with bias, then its
    activation), whatever form it was given in (a multi-branch block is re-parameterized on a copy)."""
    block = module if module.reparam is not None else copy.deepcopy(module).reparameterize()
    return convert(nn.Sequential(OrderedDict(conv=block.reparam, act=block.act)), ctx)


@register_converter(ResidualBlock)
def _convert_residual_block(module: ResidualBlock, ctx: ConversionContext, convert
                             ) -> tuple[nn.Module, ConversionContext]:
    """A residual block converts on its currents (the rule in :class:`~analysis.models.residual.ResidualBlock`'s
    docstring): main and shortcut converted, spikes turned back into currents, analog branches repeated."""
    block = fold_batchnorm(module)  # a copy: the block's own conv -> BN pairs folded
    main, ctx_main = convert(block.main, ctx)
    shortcut, ctx_short = convert(block.shortcut, ctx)
    main, ctx_main = _as_current(main, ctx_main)
    shortcut, ctx_short = _as_current(shortcut, ctx_short)
    if (ctx_main.form, ctx_main.steps) != (ctx_short.form, ctx_short.steps):
        raise ConversionError("ResidualBlock: main and shortcut branches converted to different step counts")
    if ctx_main.stepped and not ctx_short.stepped:
        shortcut = _repeat(shortcut, ctx)
    elif ctx_short.stepped and not ctx_main.stepped:
        main = _repeat(main, ctx)
    stepped = ctx_main.stepped or ctx_short.stepped
    act, ctx_out = convert(block.act, replace(ctx_main, stepped=stepped, spike_scale=None, step_scales=None))
    converted = ResidualBlock(main, shortcut, act)
    _name_like(converted.add, block.add)
    return converted, ctx_out
