"""The zoo's residual building blocks and batch-norm fusion: plain PyTorch modules that a model is
built from, below the converter in the data flow (the converter registers their conversion rules in
:mod:`analysis.snn.rules`; nothing here knows of spikes).

A residual ``out = f(x) + x`` written as ``+`` inside a ``forward`` is invisible to forward hooks and
to a module-level converter; written with :class:`ResidualAdd` it is a module both can find.
:class:`ResidualBlock` is the generic ``act(main(x) + shortcut(x))`` container the zoo's residual
blocks build on.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["ResidualAdd", "ResidualBlock", "fuse_conv_bn"]


def fuse_conv_bn(layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of ``layer`` with an eval-mode BatchNorm that follows it folded into weight and bias."""
    fused = copy.deepcopy(layer)
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        scale = gamma / std
        fused.weight.mul_(scale.reshape(-1, *([1] * (fused.weight.dim() - 1))))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + beta
        fused.bias = nn.Parameter(new_bias)
    return fused


class ResidualAdd(nn.Module):
    """``out = x + shortcut`` (elementwise; any shapes that match, with or without a step axis).

    Counted as one ``add`` per output element per step/group.
    """

    def forward(self, x: Tensor, shortcut: Tensor) -> Tensor:
        if x.shape != shortcut.shape:
            raise ValueError(f"ResidualAdd: branch shapes differ: {tuple(x.shape)} vs {tuple(shortcut.shape)}")
        return x + shortcut


class ResidualBlock(nn.Module):
    """``out = act(add(main(x), shortcut(x)))``: a residual block whose parts are all submodules.

    ``main`` and ``shortcut`` are modules (``shortcut`` defaults to the identity), ``add`` is a
    :class:`ResidualAdd`, ``act`` the block's final activation (``nn.ReLU`` in an ANN, so
    ``to_quantized`` reaches it; ``nn.Identity`` for none).

    Conversion rule (registered by :mod:`analysis.snn.rules`, which the zoo does not import): **out =
    neuron(main_current + shortcut_current); a spike is
    worth θ, an identity shortcut carries θ·s.** The block folds its own BatchNorms (conv -> BN
    pairs inside ``main``/``shortcut`` Sequentials, with :func:`~analysis.snn.context.fuse_conv_bn`);
    ``main`` and ``shortcut`` are converted with the incoming context (a conv shortcut gets its
    weights × θ like any conv); a branch that still carries spikes (the identity shortcut) gets a
    per-step :class:`ShortcutScale` (θ); an analog branch (a block on the raw input) is repeated
    over the steps/groups without scaling (:class:`RepeatSteps` for IF,
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
