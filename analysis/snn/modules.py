"""The layers converted networks are made of: per-step application (:class:`Stepwise`), step and
group repeats (:class:`RepeatSteps`, :class:`RepeatGroups`) and readout (:class:`MeanOverSteps`),
the OneSpike neuron layer (:class:`PSGLayer`), the input clamp and the shortcut scale
(:class:`ShortcutScale`); with :class:`~analysis.models.residual.ResidualBlock` and
:class:`~analysis.models.residual.ResidualAdd` re-exported, which conversion and counting must see.

The network that holds them and chooses their layout is :class:`~analysis.snn.network.SpikingNetwork`;
the rules that convert the zoo's residual and RepVGG blocks into them are in :mod:`analysis.snn.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from analysis.models.residual import ResidualAdd, ResidualBlock
from analysis.snn.context import ConversionContext
from analysis.snn.neurons import PSGNeuron, check_positive_int
from analysis.snn.vocabulary import StepAxis

__all__ = [
    "InputClamp",
    "MeanOverSteps",
    "PSGLayer",
    "RepeatGroups",
    "RepeatSteps",
    "ResidualAdd",
    "ResidualBlock",
    "ShortcutScale",
    "Stepwise",
]


# -- building blocks of converted networks ---------------------------------------------------------
class Stepwise(nn.Module):
    """Apply a stateless ``module`` to every step of a ``[S, B, ...]`` tensor (same weights).

    ``axis`` says what the steps are: a :class:`~analysis.snn.vocabulary.StepAxis`, ``StepAxis.TIME``
    (sequential timesteps of an IF SNN; also written ``"T"`` or ``"time"``) or ``StepAxis.GROUPS``
    (parallel groups of OneSpike; ``"G"`` or ``"group"``). ``step_scales`` (optional, ``[S]``)
    multiplies step s's input by a constant before the module: it carries per-group spike values
    (Q11, θ_i/θ, a shift when both are powers of two).
    """

    def __init__(self, module: nn.Module, axis: StepAxis | str = StepAxis.TIME, step_scales: Tensor | None = None):
        super().__init__()
        self.module = module
        self.axis = StepAxis.parse(axis, "Stepwise axis")
        self.register_buffer("step_scales", None if step_scales is None else torch.as_tensor(step_scales).float())

    #: Set by :class:`SpikingNetwork` in the one-pass OneSpike layout: the input is the sum over the
    #: G groups (no step axis), and the output is the sum over groups of the per-group outputs.
    onepass_groups: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass_groups is not None:
            return self._forward_group_sum(x, self.onepass_groups)
        steps, batch = x.shape[0], x.shape[1]
        if self.step_scales is not None:
            if self.step_scales.numel() != steps:
                raise ValueError(f"step_scales has {self.step_scales.numel()} values for {steps} steps")
            x = x * self.step_scales.to(x).reshape(-1, *([1] * (x.dim() - 1)))
        y = self.module(x.flatten(0, 1))
        return y.reshape(steps, batch, *y.shape[1:])

    def _forward_group_sum(self, total: Tensor, groups: int) -> Tensor:
        """Σ_g f(x_g) from Σ_g x_g for an affine f(x) = A·x + c: f(Σ x_g) + (G−1)·c.

        Conv/linear carry c as their bias (applied G times), batch norm as its shift; pooling and
        flatten are linear (c = 0). Any other module is evaluated once more on zeros to get c.
        """
        m = self.module
        if isinstance(m, nn.Conv2d | nn.Linear):
            bias = None if m.bias is None else m.bias * groups
            if isinstance(m, nn.Linear):
                return nn.functional.linear(total, m.weight, bias)
            return m._conv_forward(total, m.weight, bias)
        if getattr(m, "is_linear", False) or isinstance(
            m, nn.AvgPool2d | nn.AdaptiveAvgPool2d | nn.Flatten | nn.Identity | ShortcutScale
        ):
            return m(total)
        return m(total) + (groups - 1) * m(torch.zeros_like(total))


class RepeatSteps(nn.Module):
    """``[B, ...] -> [T, B, ...]``: the same analog current at every timestep (a view, no copy)."""

    def __init__(self, timesteps: int):
        super().__init__()
        self.timesteps = check_positive_int("timesteps", timesteps)

    #: In the streaming layout each call produces one step.
    streaming = False

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(0).expand(1 if self.streaming else self.timesteps, *x.shape)


class MeanOverSteps(nn.Module):
    """``[S, B, ...] -> [B, ...]``: the classifier's output averaged over timesteps or groups.

    In the one-pass OneSpike layout the input is already the sum over the G groups: divide by G.
    """

    onepass_groups: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass_groups is not None:
            return x / self.onepass_groups
        return x.mean(dim=0)


class InputClamp(nn.Module):
    """Clamp pixels to [0, 1] before spike encoding (``input_encoding="spikes"``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(0.0, 1.0)


class PSGLayer(nn.Module):
    """A OneSpike neuron layer: sum the G group currents, then emit all G spike maps (PSG).

    ``grouped_input=True``: input ``[G, B, ...]`` currents, total ``I = Σ_g x_g`` (G−1 additions
    per neuron). ``False`` (first layer, analog input): input ``[B, ...]`` is the same current in
    every group, so the total is ``G·x`` (a shift when G is a power of two). Output ``[G, B, ...]``.
    """

    def __init__(self, neuron: PSGNeuron, grouped_input: bool = True, spike_scales: Sequence[float] | None = None):
        super().__init__()
        self.neuron = neuron
        self.grouped_input = grouped_input
        # per-group spike values relative to the base θ folded into the next weights (Q11)
        self.register_buffer("spike_scales", None if spike_scales is None else torch.tensor(list(spike_scales)))

    #: One-pass layout: input is already the total current (or the analog current), and the output
    #: is the spike-count map Σ_g s_g (weighted by per-group spike values) instead of [G, B, ...].
    onepass = False

    @property
    def groups(self) -> int:
        return self.neuron.groups

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass:
            total = x if self.grouped_input else x * self.groups
            if self.spike_scales is not None:
                spikes = self.neuron(total)
                return torch.tensordot(self.spike_scales.to(spikes), spikes, dims=1)
            return self.neuron.spike_count(total)  # the G spike maps themselves are never needed here
        if self.grouped_input:
            if x.shape[0] != self.groups:
                raise ValueError(f"PSGLayer expects [G={self.groups}, B, ...] currents, got {tuple(x.shape)}")
            total = x.sum(dim=0)
        else:
            total = x * self.groups
        return self.neuron(total)


class ShortcutScale(nn.Module):
    """``out = scale · x``: an identity shortcut that carries spikes worth θ into a current.

    In a converted network a spike is 0/1 and worth its neuron's θ; an identity shortcut must turn
    it back into the current θ·s. With a power-of-two θ this is a shift (counted as ``shift``),
    otherwise a multiplication (counted as ``mul``); for analog input (``scale == 1``) it is free.
    """

    def __init__(self, scale: float):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"scale={float(self.scale):.4g}"

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        """Turn incoming spikes (worth ``ctx.spike_scale``, per-group ``ctx.step_scales``) into a
        current: ``ShortcutScale(scale·θ)`` applied per step/group. The output is a current."""
        theta = 1.0 if ctx.spike_scale is None else float(ctx.spike_scale)
        layer: nn.Module = ShortcutScale(float(self.scale) * theta)
        if ctx.stepped:
            scales = None if ctx.step_scales is None else torch.tensor(ctx.step_scales)
            layer = Stepwise(layer, ctx.axis, scales)
        return layer, replace(ctx, spike_scale=None, step_scales=None)


class RepeatGroups(Stepwise):
    """OneSpike: an analog current ``[B, ...]`` that is the same in each of the G groups.

    Grouped layout: ``[G, B, ...]`` (a view, no copy). One-pass layout (the network sets
    ``onepass_groups``): the sum over the groups, ``G·x`` (a shift when G is a power of two).
    It is a :class:`Stepwise` (around ``nn.Identity``, no weights) only so that
    :class:`SpikingNetwork` switches it between layouts like every per-group layer.
    """

    def __init__(self, groups: int):
        super().__init__(nn.Identity(), StepAxis.GROUPS)
        self.groups = check_positive_int("groups", groups)

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass_groups is not None:
            return x * self.onepass_groups
        return x.unsqueeze(0).expand(self.groups, *x.shape)

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        return nn.Identity(), ctx  # like RepeatSteps: the enclosing block re-inserts what it needs

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
