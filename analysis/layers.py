"""Small explicit modules for operations that conversion and counting must see.

A residual ``out = f(x) + x`` written as ``+`` inside a ``forward`` is invisible to forward hooks
and to the converter; written with :class:`ResidualAdd` it is a module both can find.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ResidualAdd", "ShortcutScale"]


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
