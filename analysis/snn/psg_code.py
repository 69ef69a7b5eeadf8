"""The number formats of :class:`~analysis.snn.neurons.PSGNeuron`: its hardware mode's fixed-point
grid and the bit-plane code's thresholds (plain torch, shared by the neuron's all-groups forward
and its one-group-at-a-time :meth:`~analysis.snn.neurons.PSGNeuron.group_spikes`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["check_bitplane", "check_hardware", "hardware_grid", "is_power_of_two", "to_fixed_point"]


def is_power_of_two(value: float) -> bool:
    """True for 2**k with integer k (k may be negative: 0.5, 0.25 are powers of two)."""
    if not (value > 0 and math.isfinite(value)):
        return False
    mantissa, _ = math.frexp(value)
    return mantissa == 0.5


def check_hardware(theta: Tensor, groups: int) -> None:
    """The hardware mode needs one power-of-two threshold and a power-of-two number of groups."""
    bad = [float(t) for t in theta.flatten() if not is_power_of_two(float(t))]
    if bad:
        raise ValueError(
            f"PSGNeuron mode='hardware' needs power-of-two thresholds (2**k, e.g. 0.5, 1, 2, 4); "
            f"got {bad}. Round them with analysis.snn.round_thresholds_pow2(), or use mode='exact'"
        )
    if not is_power_of_two(groups):
        raise ValueError(
            f"PSGNeuron mode='hardware' needs a power-of-two number of groups (1, 2, 4, 8, ...); "
            f"got groups={groups}. Use mode='exact' for other group counts"
        )
    if theta.numel() > 1:
        raise ValueError("per-group thresholds run in mode='exact' only (they need a scan over groups)")


def check_bitplane(theta: Tensor, groups: int) -> None:
    """A bit-plane code needs one threshold per group, θ_i = 2^i·θ_0."""
    if theta.numel() != groups or groups < 2:
        raise ValueError(f"code='bitplane' needs one threshold per group (θ_i = 2^i·θ_0, groups >= 2); got "
                         f"{theta.numel()} value(s) for groups={groups}")
    expected = float(theta[0]) * 2.0 ** torch.arange(groups, dtype=torch.float64)
    if not torch.allclose(theta.double(), expected, rtol=1e-6, atol=0.0):
        raise ValueError(f"code='bitplane' needs binary-weighted thresholds θ_i = 2^i·θ_0, got {theta.tolist()}")


def to_fixed_point(total: Tensor, frac_bits: int) -> tuple[Tensor, Tensor]:
    """``(I, exact)``: ``total`` as int64 on the ``2**-frac_bits`` grid (floored), and a mask of the
    entries that were already exact on that grid (where hardware equals exact)."""
    scaled = total.double() * 2.0**frac_bits
    fixed = torch.floor(scaled)
    return fixed.to(torch.int64), fixed == scaled


def hardware_grid(threshold: float, groups: int, frac_bits: int, v_init: float,
                  total: Tensor) -> tuple[Tensor, int, int]:
    """``(I, shift, G·v)``: the total current on the fixed-point grid, the bit of G·θ and the
    starting running sum, checked to fit 64-bit integers (θ = 2^k, G = 2^m)."""
    k = int(math.log2(float(threshold)))
    m = int(math.log2(groups))
    shift = k + m + frac_bits  # G·θ on the fixed-point grid is 2**shift
    if shift < 0 or shift > 60:
        raise ValueError(
            f"PSGNeuron hardware mode: threshold 2**{k} with {groups} groups and frac_bits="
            f"{frac_bits} does not fit 64-bit fixed point; choose frac_bits in [{-k - m}, {60 - k - m}]"
        )
    current, _ = to_fixed_point(total, frac_bits)
    limit = 1 << 62
    if current.numel() and int(current.abs().max()) * groups >= limit:
        raise ValueError("PSGNeuron hardware mode: current too large for 64-bit fixed point")
    g_times_v = round(v_init * (1 << shift))  # G·v = v_init·G·θ, exact for v_init in {0, ½}
    return current, shift, g_times_v
