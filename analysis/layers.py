"""Small explicit modules for operations that conversion and counting must see.

A residual ``out = f(x) + x`` written as ``+`` inside a ``forward`` is invisible to forward hooks
and to the converter; written with :class:`ResidualAdd` it is a module both can find.
:class:`ResidualBlock` is the generic ``act(main(x) + shortcut(x))`` container the model zoo's
residual blocks build on; it knows how to convert itself (``to_spiking``).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from analysis.convert import ConversionContext, ConversionError, RepeatSteps, Stepwise, fold_batchnorm
from analysis.neurons import check_positive_int

__all__ = ["RepeatGroups", "ResidualAdd", "ResidualBlock", "ShortcutScale"]


class ResidualAdd(nn.Module):
    """``out = x + shortcut`` (elementwise; any shapes that match, with or without a step axis).

    Counted as one ``add`` per output element per step/group.
    """

    def forward(self, x: Tensor, shortcut: Tensor) -> Tensor:
        if x.shape != shortcut.shape:
            raise ValueError(f"ResidualAdd: branch shapes differ: {tuple(x.shape)} vs {tuple(shortcut.shape)}")
        return x + shortcut


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


def _as_current(module: nn.Module, ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """If a branch ends in spikes (worth θ), append the per-step ``ShortcutScale(θ)`` that turns them
    into the current ``θ·s``; a branch that already ends in a current is returned unchanged."""
    if ctx.spike_scale is None:
        return module, ctx
    scale, ctx = ShortcutScale(1.0).to_spiking(ctx, None)
    if isinstance(module, nn.Identity):
        return scale, ctx
    return nn.Sequential(module, scale), ctx


class RepeatGroups(Stepwise):
    """OneSpike: an analog current ``[B, ...]`` that is the same in each of the G groups.

    Grouped layout: ``[G, B, ...]`` (a view, no copy). One-pass layout (the network sets
    ``onepass_groups``): the sum over the groups, ``G·x`` (a shift when G is a power of two).
    It is a :class:`~analysis.convert.Stepwise` (around ``nn.Identity``, no weights) only so that
    :class:`~analysis.convert.SpikingNetwork` switches it between layouts like every per-group layer.
    """

    def __init__(self, groups: int):
        super().__init__(nn.Identity(), "group")
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
    :class:`~analysis.convert.RepeatSteps`) or in every group (OneSpike: :class:`RepeatGroups`)."""
    repeat = RepeatSteps(ctx.steps) if ctx.method == "if" else RepeatGroups(ctx.steps)
    if isinstance(module, nn.Identity):
        return repeat
    return nn.Sequential(module, repeat)


class ResidualBlock(nn.Module):
    """``out = act(add(main(x), shortcut(x)))``: a residual block whose parts are all submodules.

    ``main`` and ``shortcut`` are modules (``shortcut`` defaults to the identity), ``add`` is a
    :class:`ResidualAdd`, ``act`` the block's final activation (``nn.ReLU`` in an ANN, so
    ``to_quantized`` reaches it; ``nn.Identity`` for none).

    Conversion rule (``to_spiking``): **out = neuron(main_current + shortcut_current); a spike is
    worth θ, an identity shortcut carries θ·s.** The block folds its own BatchNorms (conv -> BN
    pairs inside ``main``/``shortcut`` Sequentials, with :func:`~analysis.convert.fuse_conv_bn`);
    ``main`` and ``shortcut`` are converted with the incoming context (a conv shortcut gets its
    weights × θ like any conv); a branch that still carries spikes (the identity shortcut) gets a
    per-step :class:`ShortcutScale` (θ); an analog branch (a block on the raw input) is repeated
    over the steps/groups without scaling (:class:`~analysis.convert.RepeatSteps` for IF,
    :class:`RepeatGroups` for OneSpike). The add happens on the **currents**, step by step (IF) or
    group by group (OneSpike), and only then does the block's final activation become an IF/PSG
    neuron. OneSpike is then exact: the PSG neuron sums the group currents, and by linearity
    ``Σ_g (main_g + θ·s_g) = G·(main(a) + a)`` for the quantized activation ``a``, so its
    output is ``q(main(a) + shortcut(a))`` as in the quantized ANN. The converted block is again a
    ``ResidualBlock`` (with spiking parts), so an IF SNN built from it converts on to OneSpike.
    In the one-pass OneSpike layout both branches carry their sums over the groups and the add is
    on those summed currents (same result, by linearity).
    """

    def __init__(self, main: nn.Module, shortcut: nn.Module | None = None, act: nn.Module | None = None):
        super().__init__()
        self.main = main
        self.shortcut = nn.Identity() if shortcut is None else shortcut
        self.add = ResidualAdd()
        self.act = nn.Identity() if act is None else act

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.add(self.main(x), self.shortcut(x)))

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        block = fold_batchnorm(self)  # a copy: the block's own conv -> BN pairs folded
        main, ctx_main = convert(block.main, ctx)
        shortcut, ctx_short = convert(block.shortcut, ctx)
        main, ctx_main = _as_current(main, ctx_main)
        shortcut, ctx_short = _as_current(shortcut, ctx_short)
        if (ctx_main.method, ctx_main.steps) != (ctx_short.method, ctx_short.steps):
            raise ConversionError("ResidualBlock: main and shortcut branches converted to different step counts")
        if ctx_main.stepped and not ctx_short.stepped:
            shortcut = _repeat(shortcut, ctx)
        elif ctx_short.stepped and not ctx_main.stepped:
            main = _repeat(main, ctx)
        stepped = ctx_main.stepped or ctx_short.stepped
        act, ctx_out = convert(block.act, replace(ctx_main, stepped=stepped, spike_scale=None, step_scales=None))
        return ResidualBlock(main, shortcut, act), ctx_out
