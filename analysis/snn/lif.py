"""Our own trainable IF and LIF neurons (soft or hard reset, leak as a decay factor) with surrogate
gradients, for SNNs trained directly (BPTT over T), and their conversion to OneSpike.

For input currents :math:`x_t` (``[T, B, ...]``), decay λ (1 for IF), threshold θ and reset value
:math:`v_r` (0 for soft reset):

.. math::
    h_t = v_r + \\lambda\\,(v_{t-1} - v_r) + x_t, \\qquad s_t = H(h_t - \\theta)

    v_t = h_t - \\theta s_t \\;\\text{(soft)}, \\qquad v_t = v_r \\text{ where } s_t = 1 \\;\\text{(hard)},
    \\qquad v_t = h_t \\;\\text{(none)}

with :math:`v_0 = v_r` (hard) or ``v_init``·θ (soft; 0 by default). ``reset_delay=True`` applies a
soft reset one update late, after the leak (snnTorch's default): :math:`h_t = \\lambda h_{t-1} + x_t -
\\theta s_{t-1}`. These are SpikingJelly's ``IFNode``/``LIFNode`` (with ``decay_input=False``, λ = 1 − 1/τ;
with ``decay_input=True`` feed x/τ) and snnTorch's ``Leaky`` (λ = β): the tests check spikes and
membranes against both. A spike is worth 1 to the next layer (the weights were trained so).

**OneSpike from such an SNN** (:meth:`LIFNeuron.to_spiking`): each neuron becomes a PSG neuron with
the SNN's own θ, which is exactly a soft-reset, non-leaky IF neuron fed the time-average current
for G steps. So PSG reproduces a soft-reset IF layer whose input current is constant over time; it
cannot reproduce the leak (a LIF neuron loses λ^k of an input k steps old, PSG loses nothing), a
hard reset (which discards the overshoot h − θ that PSG carries over), or spike timing when the
current varies over time. :func:`analysis.study.direct.onestep_fidelity` measures what that costs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch
from torch import Tensor, nn

from analysis.snn.checks import check_finite
from analysis.snn.context import ConversionContext, ConversionError
from analysis.snn.modules import RepeatSteps
from analysis.snn.neurons import IFNeuron
from analysis.snn.rules import make_neuron
from analysis.snn.vocabulary import StepAxis
from analysis.validate import check_choice

__all__ = ["SURROGATES", "FoldedTime", "LIFNeuron", "spike_fn"]


class _Spike(torch.autograd.Function):
    """Heaviside forward; surrogate derivative backward (``kind``: atan, sigmoid or rectangle).

    The comparisons are written as floats (1.0/0.0 straight into a float tensor) and the surrogate
    made in place: the same values as a boolean tensor cast to floats and out-of-place arithmetic, but
    a boolean tensor takes several times a float operation's time on the CPU, and BPTT calls this
    once per neuron layer and step."""

    @staticmethod
    def forward(ctx, u: Tensor, kind: str, alpha: float, at_threshold: bool) -> Tensor:
        ctx.save_for_backward(u)
        ctx.kind, ctx.alpha = kind, alpha
        fired = torch.ge if at_threshold else torch.gt
        return fired(u, 0, out=torch.empty_like(u))

    @staticmethod
    def backward(ctx, grad: Tensor):
        (u,) = ctx.saved_tensors
        a = ctx.alpha
        if ctx.kind == "atan":  # d/du of atan(π/2·α·u)/π + ½ (SpikingJelly's and snnTorch's ATan)
            d = (math.pi / 2 * a * u).pow_(2).add_(1).reciprocal_().mul_(a / 2)
        elif ctx.kind == "sigmoid":  # d/du of sigmoid(α·u)
            s = torch.sigmoid(a * u)
            d = a * s * (1 - s)
        else:  # rectangle of width 1/α and height α
            d = u.abs().lt_(0.5 / a).mul_(a)
        return grad * d, None, None, None


#: Surrogate derivatives of the spike's Heaviside step.
SURROGATES = ("atan", "sigmoid", "rectangle")


def spike_fn(u: Tensor, surrogate: str = "atan", alpha: float = 2.0, at_threshold: bool = True) -> Tensor:
    """``H(u)`` (``H(0) = 1`` unless ``at_threshold=False``) with a surrogate gradient."""
    return _Spike.apply(u, surrogate, float(alpha), bool(at_threshold))


class LIFNeuron(IFNeuron):
    """Multi-step IF/LIF neuron trainable with surrogate gradients (see the module docstring).

    ``decay`` λ in (0, 1] (1: IF); ``v_reset`` None (soft reset, subtract θ), a float (hard reset to
    it) — ``reset="none"`` keeps the membrane; ``reset_delay``: the soft reset lands one update
    late, after the leak (snnTorch); ``fire_at_threshold``: H(0) = 1 (SpikingJelly, ours) or 0
    (snnTorch). Input and output ``[T, B, ...]``; each call starts from the initial membrane.
    """

    def __init__(self, threshold: float = 1.0, timesteps: int = 4, decay: float = 1.0, v_reset: float | None = None,
                 reset: str | None = None, reset_delay: bool = False, surrogate: str = "atan", alpha: float = 2.0,
                 fire_at_threshold: bool = True, v_init: float = 0.0):
        super().__init__(threshold, timesteps, v_init)
        if not (isinstance(decay, int | float) and 0.0 < float(decay) <= 1.0):
            raise ValueError(f"decay is the membrane's decay factor per step, in (0, 1] (1 = IF); got {decay!r}")
        check_choice("surrogate", surrogate, SURROGATES)
        reset = reset or ("soft" if v_reset is None else "hard")
        if reset not in ("soft", "hard", "none"):
            raise ValueError(f"reset must be 'soft', 'hard' or 'none', got {reset!r}")
        if reset == "hard" and v_reset is None:
            v_reset = 0.0
        self.decay = float(decay)
        self.reset = reset
        self.v_reset = None if reset != "hard" else float(v_reset)
        self.reset_delay = bool(reset_delay)
        self.surrogate, self.alpha = surrogate, float(alpha)
        self.fire_at_threshold = bool(fire_at_threshold)

    @property
    def leaky(self) -> bool:
        return self.decay != 1.0

    def _initial(self, like: Tensor) -> Tensor:
        start = self.v_reset if self.reset == "hard" else self.v_init * float(self.threshold)
        return torch.full_like(like, float(start))

    def _step(self, v: Tensor, pending: Tensor | None, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One update: ``(spike, h, v_next, pending_reset)``."""
        theta = self.threshold.to(x.dtype)
        base = self.v_reset if self.reset == "hard" else 0.0
        h = v + x if not self.leaky else base + self.decay * (v - base) + x
        if pending is not None:
            h = h - pending
        s = spike_fn(h - theta, self.surrogate, self.alpha, self.fire_at_threshold)
        if self.reset == "soft" and self.reset_delay:
            return s, h, h, s * theta
        if self.reset == "soft":
            v_next = h - s * theta
        elif self.reset == "hard":
            v_next = h * (1 - s) + s * self.v_reset
        else:
            v_next = h
        return s, h, v_next, None

    def dynamics(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(spikes, h, v)`` of every step ``[T, B, ...]``: the membrane before and after reset."""
        v, pending = self._initial(x[0]), None
        spikes, charged, after = [], [], []
        for t in range(x.shape[0]):  # sequential by definition
            s, h, v, pending = self._step(v, pending, x[t])
            spikes.append(s)
            charged.append(h)
            after.append(v)
        return torch.stack(spikes), torch.stack(charged), torch.stack(after)

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            return self._forward_one_step(x)
        if x.dim() < 2 or x.shape[0] != self.timesteps:
            raise ValueError(f"LIFNeuron expects multi-step input [T={self.timesteps}, B, ...]; got shape "
                             f"{tuple(x.shape)}")
        check_finite("LIFNeuron", x)
        return self.dynamics(x)[0]

    def _forward_one_step(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[0] != 1:
            raise ValueError(f"LIFNeuron in streaming layout expects one step [1, B, ...]; got {tuple(x.shape)}")
        v, pending = self._membrane if self._membrane is not None else (self._initial(x[0]), None)
        s, _, v, pending = self._step(v, pending, x[0])
        self._membrane = (v, pending)
        return s.unsqueeze(0)

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        """T-step SNN: itself (after a repeat of an analog current). OneSpike: a PSG neuron with the
        same θ (soft reset, no leak: see the module docstring); spikes stay worth 1."""
        if ctx.axis is StepAxis.TIME:
            if ctx.steps != self.timesteps:
                raise ConversionError(f"LIFNeuron runs T={self.timesteps} steps; cannot convert it to T={ctx.steps}")
            neuron = copy.deepcopy(self)
            layer = neuron if ctx.stepped else nn.Sequential(RepeatSteps(ctx.steps), neuron)
            return layer, replace(ctx, stepped=True, spike_scale=1.0, step_scales=None)
        start = self.v_reset / float(self.threshold) if self.reset == "hard" else self.v_init
        if not 0.0 <= start < 1.0:
            raise ConversionError(f"a hard reset to v_reset={self.v_reset} starts the membrane outside [0, θ): PSG "
                                  "cannot start there")
        layer, ctx = make_neuron(float(self.threshold), start, ctx)
        return layer, replace(ctx, spike_scale=1.0)

    def extra_repr(self) -> str:
        reset = f"v_reset={self.v_reset}" if self.reset == "hard" else f"reset={self.reset!r}"
        return (f"threshold={float(self.threshold):.4g}, timesteps={self.timesteps}, decay={self.decay:.4g}, {reset}"
                + (", reset_delay=True" if self.reset_delay else ""))


class FoldedTime(nn.Module):
    """A multi-step neuron inside an ANN-shaped network whose other layers see ``[T·B, ...]``: the
    training form of a directly trained SNN (batch norm then normalises over time and batch, as
    SpikingJelly's ``SeqToANNContainer`` does). Unfolds to ``[T, B, ...]``, runs the neuron, folds back.
    Converts (``to_if_snn``/``to_onespike``) as its neuron."""

    def __init__(self, neuron: LIFNeuron):
        super().__init__()
        self.neuron = neuron

    def forward(self, x: Tensor) -> Tensor:
        t = self.neuron.timesteps
        if x.shape[0] % t:
            raise ValueError(f"FoldedTime expects [T·B, ...] with T={t}; got {tuple(x.shape)}")
        return self.neuron(x.reshape(t, x.shape[0] // t, *x.shape[1:])).reshape(x.shape)

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        new, ctx = self.neuron.to_spiking(ctx, convert)
        for m in new.modules():  # the converted neuron is this layer, named as it (``6``, not ``6.neuron``)
            m.__dict__.pop("source_name", None)
        return new, ctx
