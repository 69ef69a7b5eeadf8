"""The spiking neurons, each with its equation: the multi-step integrate-and-fire neuron
(:class:`IFNeuron`, T sequential timesteps) and OneSpike's parallel spike generation (:class:`PSGNeuron`,
G groups in one timestep), both running the one IF update :func:`if_step`.

Every module here is stateless between calls (the IF neuron's membrane lives only inside one
multi-step forward), so the same instance can be counted, converted and re-run without reset.

The quantized activations they reproduce (:class:`QCFS`, :class:`ClampQuant`) live in
:mod:`analysis.snn.quantizers`, the binary layers in :mod:`analysis.snn.binary` and the shared argument
checks in :mod:`analysis.snn.checks`; all are importable from here too (the path tests, notebooks and
user code have used).

Notation: ``θ`` threshold, ``T`` timesteps, ``G`` groups, ``L`` quantization levels, ``H`` the
Heaviside step with ``H(0) = 1`` (a membrane exactly on the threshold fires).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from analysis.snn.binary import BinaryActivation, BinaryConv2d, BinaryLinear
from analysis.snn.checks import check_finite, check_threshold, check_v_init
from analysis.snn.psg_code import check_bitplane, check_hardware, hardware_grid, is_power_of_two, to_fixed_point
from analysis.snn.quantizers import QCFS, ClampQuant
from analysis.validate import check_choice, check_positive_int

__all__ = [
    "QCFS",
    "BinaryActivation",
    "BinaryConv2d",
    "BinaryLinear",
    "ClampQuant",
    "IFNeuron",
    "PSGNeuron",
    "ReLU",
    "check_finite",
    "check_positive_int",
    "check_threshold",
    "check_v_init",
    "if_step",
    "is_power_of_two",
]

ReLU = nn.ReLU


def if_step(v: Tensor, x: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
    r"""One integrate-and-fire step with reset by subtraction: ``(spikes, membrane after)``.

    :math:`u = v + x`, :math:`s = H(u - \theta)`, :math:`v' = u - \theta s`; spikes in {0, 1} of
    ``x``'s dtype. The IF neuron (every timestep, all at once or streamed) and PSG's per-group scan
    (θ per group) run this one update.
    """
    u = v + x
    s = (u >= theta).to(x.dtype)
    return s, u - s * theta


class IFNeuron(nn.Module):
    r"""Multi-step integrate-and-fire neuron with reset by subtraction.

    For input currents :math:`x_t` (``[T, B, ...]``), with :math:`v_0 = v_{init}\,\theta`:

    .. math::
        u_t = v_{t-1} + x_t, \qquad s_t = H(u_t - \theta), \qquad v_t = u_t - \theta s_t

    Output: spikes :math:`s_t \in \{0, 1\}` of the same shape as the input. A spike is worth θ to
    the next layer (the converter folds θ into that layer's weights). The membrane lives only within
    one call: each forward starts from ``v_init``.
    """

    def __init__(self, threshold: float = 1.0, timesteps: int = 4, v_init: float = 0.0):
        super().__init__()
        self.timesteps = check_positive_int("timesteps", timesteps)
        self.register_buffer("threshold", check_threshold("threshold", threshold).to(torch.float32).reshape(()))
        self.v_init = check_v_init(v_init)
        # Streaming (timestep-by-timestep) layout: one step per call, the membrane kept between calls.
        self.streaming = False
        self._membrane: Tensor | None = None

    def start_stream(self) -> None:
        """Enter the timestep-by-timestep layout: each call takes ``[1, B, ...]`` and the membrane
        persists across calls until :meth:`stop_stream` (memory independent of T)."""
        self.streaming, self._membrane = True, None

    def stop_stream(self) -> None:
        self.streaming, self._membrane = False, None

    def forward(self, x: Tensor) -> Tensor:
        if self.streaming:
            return self._forward_one_step(x)
        if x.dim() < 2 or x.shape[0] != self.timesteps:
            raise ValueError(
                f"IFNeuron expects multi-step input [T={self.timesteps}, B, ...]; got shape {tuple(x.shape)}"
            )
        check_finite("IFNeuron", x)
        theta = self.threshold.to(x.dtype)
        v = torch.full_like(x[0], float(self.v_init)) * theta
        spikes = torch.empty_like(x)
        for t in range(self.timesteps):  # sequential by definition: each step needs the last membrane
            spikes[t], v = if_step(v, x[t], theta)
        return spikes

    def _forward_one_step(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[0] != 1:
            raise ValueError(f"IFNeuron in streaming layout expects one step [1, B, ...]; got {tuple(x.shape)}")
        check_finite("IFNeuron", x)
        theta = self.threshold.to(x.dtype)
        v = self._membrane if self._membrane is not None else torch.full_like(x[0], float(self.v_init)) * theta
        s, self._membrane = if_step(v, x[0], theta)
        return s.unsqueeze(0)

    def extra_repr(self) -> str:
        return f"threshold={float(self.threshold):.4g}, timesteps={self.timesteps}, v_init={self.v_init}"


class PSGNeuron(nn.Module):
    r"""Parallel Spike Generation (OneSpike, Tang, Yan & Wong): all G spike maps in one step.

    Input: the **total** current :math:`I = \sum_{g} x_g` over the G groups (``[B, ...]``).
    With the average :math:`x = I / G` and :math:`v = v_{init}\,\theta`, group :math:`i = 0..G-1`:

    .. math::
        V_i = (v + i\,x) \bmod \theta, \qquad S_i = H(V_i + x - \theta)

    which is exactly an IF neuron (reset by subtraction, starting at ``v``) fed the constant
    current x for G steps. Hence the total count is
    :math:`\sum_i S_i = \mathrm{clip}(\lfloor I/\theta + v_{init}\rfloor, 0, G)`, a QCFS level
    (``v_init = ½``) or a clamp-and-quantize level (``v_init = 0``) with L = G.
    Output: ``[G, B, ...]`` spikes in {0, 1}, each worth θ.

    Modes:

    - ``"exact"``: the closed form above in floating point, all groups at once (tensor ops over a
      group axis, no Python loop).
    - ``"hardware"``: θ = 2^k and G = 2^m required. Currents become fixed-point integers with
      ``frac_bits`` fractional bits; the neuron keeps :math:`A_i = G v + i I` as a running sum
      (``+I`` per group), the residual :math:`A_i \bmod G\theta` is a mask of the low
      ``k + m + frac_bits`` bits, and the spike is the carry out of that mask when ``I`` is added.
      It gives the same spikes as ``"exact"`` wherever ``I`` and ``G v`` are exact on that grid;
      elsewhere the current is floored to the grid first (the ledger counts such roundings).

    Per-group thresholds (``threshold`` a sequence of G values, Q11): group i compares with θ_i and
    emits a spike worth θ_i. ``code="rate"``: the membrane update is the same IF recursion with a
    per-step threshold; there is no closed form for it, so it runs as a scan over groups (G is
    small, and it is still one timestep: no state outlives the call). ``code="bitplane"``
    (thresholds θ_i = 2^i·θ_0 required): the G spikes are the binary digits of the level
    :math:`k = \mathrm{clip}(\lfloor I/\theta_0 + v_{init}\rfloor, 0, 2^G - 1)`, i.e. a
    successive approximation of :math:`R = I + v_{init}\theta_0` against θ_{G−1}, ..., θ_0 (spike and
    subtract where R reaches θ_i). It is exact at 2^G levels: the next layer's
    :math:`\frac1G\sum_i S_i\theta_i = k\,\theta_0/G`, so with θ_i = λ·G·2^i/(2^G − 1) OneSpike(G)
    equals the quantized ANN with L = 2^G − 1 (the same λ and shift).
    """

    #: The per-group codes: G spikes as a rate (an IF scan) or as the binary digits of one level.
    CODES = ("rate", "bitplane")

    def __init__(
        self,
        threshold: float | Sequence[float] = 1.0,
        groups: int = 4,
        mode: str = "exact",
        v_init: float = 0.0,
        frac_bits: int = 16,
        code: str = "rate",
    ):
        super().__init__()
        self.groups = check_positive_int("groups", groups)
        self.code = check_choice("code", code, self.CODES)
        self.mode = check_choice("mode", mode, ("exact", "hardware"))
        self.v_init = check_v_init(v_init)
        self.frac_bits = check_positive_int("frac_bits", frac_bits)
        theta = check_threshold("threshold", threshold)
        if theta.numel() not in (1, self.groups):
            raise ValueError(
                f"threshold must be one value or one per group (groups={self.groups}); got {theta.numel()} values"
            )
        self.per_group = theta.numel() > 1
        if mode == "hardware":
            check_hardware(theta, self.groups)
        if code == "bitplane":
            check_bitplane(theta.reshape(-1), self.groups)
        self.register_buffer("threshold", theta.to(torch.float32).reshape(-1) if self.per_group
                             else theta.to(torch.float32).reshape(()))

    # The group axis index vector, shaped to broadcast against [B, ...].
    @staticmethod
    def _group_index(groups: int, like: Tensor) -> Tensor:
        return torch.arange(groups, dtype=like.dtype, device=like.device).reshape(-1, *([1] * like.dim()))

    def forward(self, total: Tensor) -> Tensor:
        check_finite("PSGNeuron", total)
        if self.code == "bitplane":
            return self._forward_bitplane(total)
        if self.per_group:
            return self._forward_per_group(total)
        if self.mode == "hardware":
            return self._forward_hardware(total)
        return self._forward_exact(total)

    def _forward_exact(self, total: Tensor) -> Tensor:
        theta = self.threshold.to(total.dtype)
        x = total / self.groups
        v = self.v_init * theta
        i = self._group_index(self.groups, total)
        residual = torch.remainder(v + i * x, theta)  # V_i, the membrane before group i's input
        return (residual + x >= theta).to(total.dtype)

    def to_fixed_point(self, total: Tensor) -> tuple[Tensor, Tensor]:
        """``(I, exact)``: the total current on this neuron's fixed-point grid (:func:`to_fixed_point`)."""
        return to_fixed_point(total, self.frac_bits)

    def hardware_grid(self, total: Tensor) -> tuple[Tensor, int, int]:
        """``(I, shift, G·v)`` of the hardware mode (:func:`~analysis.snn.psg_code.hardware_grid`)."""
        return hardware_grid(float(self.threshold), self.groups, self.frac_bits, self.v_init, total)

    def _forward_hardware(self, total: Tensor) -> Tensor:
        current, shift, g_times_v = self.hardware_grid(total)
        mask = (1 << shift) - 1
        # A_i = G·v + i·I, the running sum the hardware keeps (one add of I per group).
        steps = current.unsqueeze(0).expand(self.groups, *current.shape)
        running = torch.cumsum(steps, dim=0) - current + g_times_v
        residual = torch.bitwise_and(running, mask)  # A_i mod G·θ: the low `shift` bits
        spikes = torch.ge(residual + current, 1 << shift)  # carry into bit `shift`
        return spikes.to(total.dtype)

    def group_spikes(self, total: Tensor) -> Iterator[Tensor]:
        """The G spike maps of :meth:`forward`, one ``[B, ...]`` map at a time (group 0 first), equal
        to ``forward(total)[i]`` bit for bit: what a count needs of the groups of a one-pass layer in
        memory that does not grow with G."""
        check_finite("PSGNeuron", total)
        if self.code == "bitplane":
            level = self._bitplane_level(total)
            for i in range(self.groups):
                yield torch.remainder(torch.floor(level / 2.0**i), 2)
        elif self.per_group:
            thetas = self.threshold.to(total.dtype)
            x = total / self.groups
            v = torch.full_like(x, self.v_init) * thetas[0]
            for i in range(self.groups):
                spikes, v = if_step(v, x, thetas[i])
                yield spikes
        elif self.mode == "hardware":
            current, shift, g_times_v = self.hardware_grid(total)
            mask = (1 << shift) - 1
            for i in range(self.groups):
                residual = torch.bitwise_and(current * i + g_times_v, mask)
                yield torch.ge(residual + current, 1 << shift).to(total.dtype)
        else:
            theta = self.threshold.to(total.dtype)
            x = total / self.groups
            v = self.v_init * theta
            for i in range(self.groups):
                index = torch.tensor(float(i), dtype=total.dtype, device=total.device)
                yield (torch.remainder(v + index * x, theta) + x >= theta).to(total.dtype)

    def _forward_per_group(self, total: Tensor) -> Tensor:
        thetas = self.threshold.to(total.dtype)
        x = total / self.groups
        v = torch.full_like(x, self.v_init) * thetas[0]
        out = torch.empty((self.groups, *x.shape), dtype=total.dtype, device=total.device)
        for i in range(self.groups):  # per-group thresholds have no closed form: scan the G groups
            out[i], v = if_step(v, x, thetas[i])
        return out

    def _bitplane_level(self, total: Tensor) -> Tensor:
        theta0 = self.threshold[0].to(total.dtype)
        return torch.clamp(torch.floor(total / theta0 + self.v_init), 0, 2**self.groups - 1)

    def _forward_bitplane(self, total: Tensor) -> Tensor:
        level = self._bitplane_level(total)
        weights = 2.0 ** self._group_index(self.groups, total)  # group i carries bit i (worth θ_i = 2^i·θ_0)
        return torch.remainder(torch.floor(level / weights), 2)

    def spike_count(self, total: Tensor) -> Tensor:
        """Σ_i S_i per neuron, ``[B, ...]``, without building the G spike maps.

        The closed form telescopes: ``clip(floor(I/θ + v_init), 0, G)`` (``exact``), or in
        ``hardware`` mode ``clip((G·v + G·I) >> shift, 0, G)`` on the fixed-point grid (integer
        arithmetic, so it equals the sum of the hardware spikes exactly). Per-group thresholds have
        no closed form: their spike maps are summed.
        """
        check_finite("PSGNeuron", total)
        if self.per_group:
            return self(total).sum(dim=0)
        if self.mode == "hardware":
            current, shift, g_times_v = self.hardware_grid(total)
            count = torch.bitwise_right_shift(current * self.groups + g_times_v, shift)
            return count.clamp(0, self.groups).to(total.dtype)
        theta = self.threshold.to(total.dtype)
        return torch.clamp(torch.floor(total / theta + self.v_init), 0, self.groups)

    def spike_values(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """What one spike of each group is worth to the next layer (θ, or θ_i per group), ``[G]``."""
        return self.threshold.to(dtype).expand(self.groups).clone()

    def extra_repr(self) -> str:
        theta = self.threshold.tolist()
        code = f", code={self.code!r}" if self.code != "rate" else ""
        return f"threshold={theta}, groups={self.groups}, mode={self.mode!r}, v_init={self.v_init}{code}"
