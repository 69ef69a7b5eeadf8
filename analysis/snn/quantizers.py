"""The quantized activations a ReLU becomes before conversion, each with its equation: QCFS
(quantization-clip-floor-shift, :class:`QCFS`) and clamp-and-quantize (:class:`ClampQuant`). With L
levels, each is exactly what an IF or PSG neuron emits over L timesteps or groups (see
:mod:`analysis.snn.neurons`), which is why the converter starts from them.

Notation: ``λ`` (or ``c``) the trainable clip, ``L`` the levels, ``φ`` the shift.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from analysis.snn.checks import check_threshold, check_v_init
from analysis.validate import check_positive_int

__all__ = ["QCFS", "ClampQuant"]


class _FloorSTE(torch.autograd.Function):
    """floor() forward, identity gradient backward (the straight-through estimator of QCFS)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


class QCFS(nn.Module):
    r"""Quantization-clip-floor-shift activation (Bu et al., ICLR 2022).

    .. math:: y = \frac{\lambda}{L}\,\mathrm{clip}\Big(\big\lfloor x\frac{L}{\lambda} + \varphi\big\rfloor, 0, L\Big)

    ``λ`` (``threshold``) is trainable; the floor uses a straight-through gradient. With
    ``φ = 0.5`` it is exactly what an IF/PSG neuron with threshold λ and initial membrane λ/2
    emits over L steps/groups.
    """

    def __init__(self, levels: int = 4, threshold: float = 1.0, shift: float = 0.5, trainable: bool = True):
        super().__init__()
        self.levels = check_positive_int("levels", levels)
        check_threshold("threshold", threshold)
        self.shift = check_v_init(shift, "shift")
        self.threshold = nn.Parameter(torch.tensor(float(threshold)), requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        lam = self.threshold.to(x.dtype)
        scaled = x * (self.levels / lam) + self.shift
        return torch.clamp(_FloorSTE.apply(scaled), 0, self.levels) * (lam / self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}, shift={self.shift}"


class ClampQuant(QCFS):
    r"""Clamp-and-quantize activation (CQ training, Yan, Zhou & Wong, TPAMI 2023).

    .. math:: y = \frac{c}{L}\,\mathrm{clip}\Big(\big\lfloor x\frac{L}{c}\big\rfloor, 0, L\Big)

    The clamp ``c`` plays the threshold's role; no shift, so an IF/PSG neuron starting from an
    empty membrane (``v_init = 0``, the OneSpike authors' setting) reproduces it exactly.
    """

    def __init__(self, levels: int = 4, clamp: float = 1.0, trainable: bool = True):
        super().__init__(levels=levels, threshold=clamp, shift=0.0, trainable=trainable)

    @property
    def clamp(self) -> float:
        return float(self.threshold)
