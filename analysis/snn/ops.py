"""Functional tensor operations as modules, so that graph-level conversion (:mod:`analysis.snn.trace`)
can turn a call such as ``torch.cat``, ``x.view(x.size(0), -1)`` or ``x.mean((2, 3))`` in a user's
``forward`` into a node that forward hooks, the counter and the spiking converter all see.

Each acts on one sample's axes (axis 0 is the batch) and, in a converted network, on every step or
group alike: :class:`Reshape` and :class:`Mean` run inside a :class:`~analysis.snn.modules.Stepwise`
(both are linear: ``is_linear``), :class:`Concat` is itself step-aware.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from analysis.snn.modules import Stepwise
from analysis.snn.vocabulary import StepAxis

__all__ = ["Concat", "Mean", "Reshape"]


class Reshape(nn.Module):
    """``x.reshape(x.shape[0], *shape)``: a per-sample reshape that keeps the batch axis (the
    module form of ``x.view(x.size(0), -1)`` and ``x.view(-1, C, H, W)``)."""

    #: Linear (no constant term): a per-group Stepwise may apply it to the sum over groups.
    is_linear = True

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Mean(nn.Module):
    """``x.mean(dims, keepdim)`` over per-sample axes (never the batch axis 0): e.g. global average
    pooling written as ``x.mean((2, 3))``."""

    is_linear = True

    def __init__(self, dims: Sequence[int], keepdim: bool = False):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        if 0 in self.dims:
            raise ValueError("Mean: averaging over the batch axis 0 is not a per-sample operation")
        self.keepdim = bool(keepdim)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=self.dims, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdim}"


class Concat(Stepwise):
    """``torch.cat(tensors, dim)`` along a per-sample axis ``dim`` (never the batch axis 0).

    In an ANN (``stepped=False``) it is ``torch.cat``. In a converted network with ``stepped=True``
    its inputs carry a leading step axis (``[S, B, ...]``), so a non-negative ``dim`` moves one axis
    on; in the one-pass OneSpike layout (``onepass_groups`` set by the network) the inputs are sums
    over the groups without that axis, and ``dim`` applies as written. It is a
    :class:`~analysis.snn.modules.Stepwise` (around ``nn.Identity``, no weights) only so that the
    network switches it between layouts like every per-group layer.
    """

    def __init__(self, dim: int, stepped: bool = False):
        super().__init__(nn.Identity(), StepAxis.TIME)
        if int(dim) == 0:
            raise ValueError("Concat: concatenating along the batch axis 0 is not a per-sample operation")
        self.dim = int(dim)
        self.stepped = bool(stepped)

    def forward(self, *xs: Tensor) -> Tensor:
        dim = self.dim
        if self.stepped and self.onepass_groups is None and dim > 0:
            dim += 1
        return torch.cat(xs, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, stepped={self.stepped}"
