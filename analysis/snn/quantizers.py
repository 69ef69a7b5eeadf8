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

__all__ = ["QCFS", "SAME_WIDTH_INT", "ClampQuant"]


#: The integer type of each float type's width: a mask of all-one or all-zero bits in it keeps or
#: clears a value exactly (``where(mask, value, +0.0)``, in one vectorised ``bitwise_and``).
SAME_WIDTH_INT = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
                  torch.bfloat16: torch.int16}


class _QuantizeSTE(torch.autograd.Function):
    r"""QCFS's forward :math:`\frac{\lambda}{L}\mathrm{clip}(\lfloor x\frac{L}{\lambda} + \varphi\rfloor, 0, L)`
    and its straight-through backward in one autograd node.

    The values and gradients are bit for bit those of the composition it replaces (``x * (L / λ) +
    φ``, a floor whose gradient is the identity, ``clamp``, ``* (λ / L)``, each differentiated by
    autograd), from the same arithmetic in the same order: the products, the clamp's backward
    (``where(inside, grad, 0)``: +0.0 outside, a NaN kept inside), the two full sums that give λ its
    gradient (each as autograd's ``sum_to`` makes it) and the scalar chain through
    ``L / λ = reciprocal(λ) · L``. What it saves: one node instead of seven, intermediate tensors made
    in place, and the clamp's mask found as floats (``clip(f) == f``, false for NaN) and applied as
    bits, where the composition made three boolean tensors and a ``where`` (boolean tensors take
    several times a float operation's time on the CPU).
    """

    @staticmethod
    def forward(ctx, x: Tensor, lam: Tensor, levels: int, shift: float) -> Tensor:
        inverse = lam.reciprocal()
        scale, step = inverse * levels, lam / levels
        floored = x * scale
        floored.add_(shift).floor_()
        clipped = torch.clamp(floored, 0, levels)
        keep = SAME_WIDTH_INT.get(x.dtype)
        # 1.0 where the floor lies in [0, L] (so the clamp passes its gradient), as all-one bits
        inside = floored.eq_(clipped) if keep is None else floored.eq_(clipped).to(keep).neg_()
        ctx.save_for_backward(x, inverse, scale, step, clipped, inside)
        ctx.levels = levels
        return clipped * step

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, inverse, scale, step, clipped, inside = ctx.saved_tensors
        levels = ctx.levels
        upstream = grad * step  # d(clipped * step)/d clipped; the floor's backward is the identity
        if inside.is_floating_point():  # a float type without a same-width integer type
            upstream.masked_fill_(inside == 0, 0.0)
        else:  # the clamp's backward, where(inside, upstream, +0.0), as bits
            upstream.view(inside.dtype).bitwise_and_(inside)
        grad_lam = None
        if ctx.needs_input_grad[1]:
            grad_scale = (upstream * x).sum_to_size(scale.shape)
            grad_step = (grad * clipped).sum_to_size(step.shape)
            grad_lam = grad_step / levels + -(grad_scale * levels) * (inverse * inverse)
        grad_x = upstream.mul_(scale) if ctx.needs_input_grad[0] else None
        return grad_x, grad_lam, None, None


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
        if torch.is_grad_enabled() and (x.requires_grad or lam.requires_grad):
            return _QuantizeSTE.apply(x, lam, self.levels, self.shift)
        scaled = x * (self.levels / lam) + self.shift
        return torch.clamp(torch.floor(scaled), 0, self.levels) * (lam / self.levels)

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
