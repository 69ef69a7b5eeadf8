"""The binary network's layers (the BNN method): the sign activation and XNOR-Net's binary-weight
convolution and linear layer, trained with straight-through gradients. They never spike: a BNN is
counted as ±1 activations and 1-bit weights (xnor + popcount)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BinaryActivation", "BinaryConv2d", "BinaryLinear"]


class _SignSTE(torch.autograd.Function):
    """sign() forward (+1 for x >= 0), clipped straight-through gradient (|x| <= 1)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class BinaryActivation(nn.Module):
    r"""Binary activation :math:`y = \mathrm{sign}(x) \in \{-1, +1\}` (``sign(0) = +1``).

    Backward: the clipped straight-through estimator :math:`\partial y/\partial x = 1_{|x|\le 1}`
    (Hubara et al., 2016).
    """

    def forward(self, x: Tensor) -> Tensor:
        return _SignSTE.apply(x)


def _binarize_weight(weight: Tensor) -> Tensor:
    """XNOR-Net weights: ``α · sign(W)`` with one ``α = mean |W|`` per output channel."""
    dims = tuple(range(1, weight.dim()))
    alpha = weight.abs().mean(dim=dims, keepdim=True)
    return _SignSTE.apply(weight) * alpha


class BinaryConv2d(nn.Conv2d):
    r"""Conv2d with binary weights :math:`\alpha_k\,\mathrm{sign}(W_k)` (XNOR-Net, Rastegari 2016).

    Latent real weights are trained with the straight-through estimator. With binary (±1) inputs
    the dot product is ``xnor`` + ``popcount`` of bits, scaled by ``α`` once per output.
    """

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, _binarize_weight(self.weight), self.bias)


class BinaryLinear(nn.Linear):
    r"""Linear layer with binary weights :math:`\alpha_k\,\mathrm{sign}(W_k)` (see :class:`BinaryConv2d`)."""

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, _binarize_weight(self.weight), self.bias)
