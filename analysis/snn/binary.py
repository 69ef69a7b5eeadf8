"""The binary network's layers (the BNN method): the sign activation and XNOR-Net's binary-weight
convolution and linear layer, trained with straight-through gradients. They never spike: a BNN is
counted as ±1 activations and 1-bit weights (xnor + popcount)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BinaryActivation", "BinaryConv2d", "BinaryLinear"]


def _sign(x: Tensor) -> Tensor:
    """+1 where ``x >= 0``, -1 elsewhere (NaN included), in ``x``'s dtype and layout: the comparison
    written as floats (1.0 or 0.0), then ``2·b − 1``, exact; a boolean tensor and a ``where`` take
    several times as long on the CPU."""
    return torch.ge(x.detach(), 0, out=torch.empty_like(x, requires_grad=False)).mul_(2).sub_(1)


def _inside_unit(x: Tensor, dtype: torch.dtype) -> Tensor:
    """1 where ``|x| <= 1``, 0 elsewhere (NaN included), as ``dtype``: the clipped straight-through
    estimator's mask, multiplied into the gradient (``grad · 0`` keeps a negative gradient's sign)."""
    return x.abs().le_(1).to(dtype)


class _SignSTE(torch.autograd.Function):
    """sign() forward (+1 for x >= 0), clipped straight-through gradient (|x| <= 1)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _sign(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * _inside_unit(x, grad.dtype)


class _BinaryWeight(torch.autograd.Function):
    r"""XNOR-Net's weights :math:`\alpha \cdot \mathrm{sign}(W)`, :math:`\alpha = \mathrm{mean}|W|` per
    output channel, forward and backward in one autograd node.

    The gradient is bit for bit the one autograd makes of the composition (``abs``, ``mean``, the
    sign's clipped straight-through estimator, the product): the same tensor operations in the same
    order, the scale's gradient summed as autograd's ``sum_to`` sums it and the two paths into the
    weight added last (an addition, so their order does not matter). One node instead of four: the
    weights are small, so the per-node work, not the arithmetic, is what a training step paid for.
    """

    @staticmethod
    def forward(ctx, weight: Tensor) -> Tensor:
        dims = tuple(range(1, weight.dim()))
        alpha = weight.abs().mean(dim=dims, keepdim=True)
        sign = _sign(weight)
        ctx.save_for_backward(weight, alpha, sign)
        return sign * alpha

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        weight, alpha, sign = ctx.saved_tensors
        through_sign = (grad * alpha) * _inside_unit(weight, grad.dtype)
        grad_alpha = (grad * sign).sum_to_size(alpha.shape)
        per_weight = weight.numel() // alpha.numel()  # mean's backward: the gradient spread over its terms
        through_alpha = (grad_alpha.expand(weight.shape) / per_weight) * weight.sgn()
        return through_sign + through_alpha


class BinaryActivation(nn.Module):
    r"""Binary activation :math:`y = \mathrm{sign}(x) \in \{-1, +1\}` (``sign(0) = +1``).

    Backward: the clipped straight-through estimator :math:`\partial y/\partial x = 1_{|x|\le 1}`
    (Hubara et al., 2016).
    """

    def forward(self, x: Tensor) -> Tensor:
        return _SignSTE.apply(x)


def _binarize_weight(weight: Tensor) -> Tensor:
    """XNOR-Net weights: ``α · sign(W)`` with one ``α = mean |W|`` per output channel."""
    if torch.is_grad_enabled() and weight.requires_grad:
        return _BinaryWeight.apply(weight)
    dims = tuple(range(1, weight.dim()))
    return _sign(weight) * weight.abs().mean(dim=dims, keepdim=True)


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
