"""The modules of converted networks: per-step application (:class:`Stepwise`), step repeats and
readout, the OneSpike neuron layer (:class:`PSGLayer`), the network wrapper
(:class:`SpikingNetwork`), the shortcut scale (:class:`ShortcutScale`), and the conversion rule of
the zoo's :class:`~analysis.models.residual.ResidualBlock` (re-exported here with
:class:`~analysis.models.residual.ResidualAdd`, which conversion and counting must see).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

import torch
from torch import Tensor, nn

from analysis.models.repvgg import RepVGGBlock
from analysis.models.residual import ResidualAdd, ResidualBlock
from analysis.snn.context import ConversionContext, ConversionError, fold_batchnorm, register_converter
from analysis.snn.neurons import IFNeuron, PSGNeuron, check_finite, check_positive_int
from analysis.snn.vocabulary import SpikingForm, StepAxis
from analysis.validate import check_choice

__all__ = [
    "InputClamp",
    "MeanOverSteps",
    "PSGLayer",
    "RepeatGroups",
    "RepeatSteps",
    "ResidualAdd",
    "ResidualBlock",
    "ShortcutScale",
    "SpikingNetwork",
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


class SpikingNetwork(nn.Module):
    """A converted network: ``body`` maps analog input ``[B, ...]`` to logits ``[B, classes]``.

    ``form`` is a :class:`~analysis.snn.vocabulary.SpikingForm`: ``SpikingForm.IF`` (``steps``
    sequential timesteps) or ``SpikingForm.ONESPIKE`` (``steps`` parallel groups in one timestep); its
    word (``"if"``/``"onespike"``) is accepted. ``method`` is the name of the method it is (the form's
    word: what a ledger records).
    """

    LAYOUTS = ("auto", "sequence", "stream", "grouped", "onepass")
    #: The layouts a network whose steps run on each axis may take.
    LAYOUTS_ON: ClassVar[dict[StepAxis, tuple[str, ...]]] = {
        StepAxis.TIME: ("auto", "sequence", "stream"), StepAxis.GROUPS: ("auto", "grouped", "onepass")}
    #: ``layout="auto"`` streams an IF SNN timestep by timestep from this T on.
    STREAM_FROM_T = 16

    def __init__(self, body: nn.Module, form: SpikingForm | str, steps: int, input_encoding: str = "analog",
                 layout: str = "auto"):
        super().__init__()
        self.body = body
        self.form = SpikingForm.parse(form, "SpikingNetwork form")
        self.steps = check_positive_int(self.axis.noun, steps)
        self.input_encoding = input_encoding
        self.layout = layout

    @property
    def method(self) -> str:
        """The name of the method this network is (the form's word, a plain string)."""
        return self.form.value

    @property
    def axis(self) -> StepAxis:
        """The axis its steps run on."""
        return self.form.axis

    @property
    def layout(self) -> str:
        """How the network is executed (same logits and same ledger either way).

        IF SNN: ``"sequence"`` runs each layer on all T steps at once (``[T, B, ...]``, fastest);
        ``"stream"`` runs the whole network one timestep at a time with each layer's membrane kept
        as state, so peak memory does not grow with T. OneSpike: ``"grouped"`` carries the G spike
        maps ``[G, B, ...]`` through every layer (the explicit per-group reference); ``"onepass"``
        carries only their sum Σ_g s_g, since the next layer needs only W·Σ_g s_g (+ G·bias): one
        quantized-ANN-sized forward. ``"auto"``: ``onepass`` for OneSpike, ``stream`` for IF from
        T >= STREAM_FROM_T, else ``sequence``.
        """
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        check_choice(f"layout for a {self.method} network", value, self.LAYOUTS_ON[self.axis])
        self._layout = value
        resolved = self.resolved_layout
        groups = self.steps if resolved == "onepass" else None
        for m in self.body.modules():
            if isinstance(m, Stepwise | MeanOverSteps):
                m.onepass_groups = groups
            elif isinstance(m, PSGLayer):
                m.onepass = groups is not None

    @property
    def resolved_layout(self) -> str:
        if self._layout != "auto":
            return self._layout
        if self.axis is StepAxis.GROUPS:
            return "onepass"
        return "stream" if self.steps >= self.STREAM_FROM_T else "sequence"

    @property
    def timesteps(self) -> int:
        """Sequential steps of one inference: T for IF, 1 for OneSpike."""
        return self.steps if self.axis is StepAxis.TIME else 1

    @property
    def groups(self) -> int:
        """Parallel groups of one inference: G for OneSpike, 1 for IF."""
        return self.steps if self.axis is StepAxis.GROUPS else 1

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        if self.resolved_layout == "stream":
            return self._forward_stream(x)
        return self.body(x)

    def _check_input(self, x: Tensor) -> None:
        """A clear error for input of the wrong rank or channel count, or holding NaN/Inf."""
        first = next((m for m in self.body.modules() if isinstance(m, nn.Conv2d | nn.Linear)), None)
        if isinstance(first, nn.Conv2d) and (x.dim() != 4 or x.shape[1] != first.in_channels):
            raise ValueError(
                f"{self.method} network expects images [B, {first.in_channels}, H, W]; got shape {tuple(x.shape)}"
            )
        if x.dim() < 2:
            raise ValueError(f"{self.method} network expects a batch [B, ...]; got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.method} network got an empty batch (shape {tuple(x.shape)}); pass at least one "
                             "sample")
        check_finite("network", x)

    def _flat_program(self) -> list[nn.Module]:
        """The body as a flat list of modules: nested Sequentials are compositions, so unrolling them
        is exact, and it lets the analog prefix (e.g. a ResNet stem's conv) run once, not per step."""
        items: list[nn.Module] = []

        def unroll(module: nn.Module) -> None:
            if type(module) is nn.Sequential:
                for child in module.children():
                    unroll(child)
            else:
                items.append(module)

        unroll(self.body)
        return items

    def _forward_stream(self, x: Tensor) -> Tensor:
        """Timestep by timestep: the analog prefix (layers before the first neuron) runs once, the
        rest once per step with the IF membranes as state; logits are averaged over the steps."""
        items = self._flat_program()
        first = next(i for i, m in enumerate(items)
                     if any(isinstance(sub, IFNeuron | RepeatSteps) for sub in m.modules()))
        readout = items[-1] if isinstance(items[-1], MeanOverSteps) else None
        body = items[first:-1] if readout is not None else items[first:]
        stateful = [m for m in self.body.modules() if isinstance(m, IFNeuron | RepeatSteps)]
        h0 = x
        for m in items[:first]:
            h0 = m(h0)
        try:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.start_stream()
                else:
                    m.streaming = True
            total = None
            for _ in range(self.steps):
                h = h0
                for m in body:
                    h = m(h)
                total = h[0] if total is None else total + h[0]
        finally:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.stop_stream()
                else:
                    m.streaming = False
        return total / self.steps

    def extra_repr(self) -> str:
        return f"method={self.method!r}, steps={self.steps}, input_encoding={self.input_encoding!r}"


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
