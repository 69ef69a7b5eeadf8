"""Q11: per-group thresholds for OneSpike, chosen by measurement rather than by a guess.

Group i of a PSG layer gets threshold θ_i = θ·scale_i (a spike of group i is then worth θ_i) and
the readout divides by G as before, so the shared threshold is ``scale_i = 1`` for all i. Two
per-group codes are studied:

- :func:`binary_scales`: the binary-weighted code θ_i = 2^i·θ₀, with θ₀ chosen so that all groups
  firing gives the same largest value as the shared threshold: (1/G)·Σ_i θ_i = θ, i.e.
  scale_i = G·2^i / (2^G − 1). Run as a bit-plane code (``group_code="bitplane"``: the G spikes are
  the binary digits of one level) it represents 2^G levels instead of G + 1, exactly: OneSpike(G)
  then equals the quantized ANN re-levelled to L = 2^G − 1.
- :func:`calibrate_scales`: the best of a family of power-of-two codes by the cross-entropy of the
  OneSpike network on training images (never the test set): the shared threshold, the binary code
  in both orders, and geometric ramps from θ·r^(−½) to θ·r^(½) with r in {¼, ½, 2, 4}, each scale
  rounded to a power of two so that hardware mode stays shifts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["binary_scales", "calibrate_scales", "candidate_scales"]


def binary_scales(groups: int) -> list[float]:
    """scale_i = G·2^i / (2^G − 1) for i = 0..G−1 (see the module docstring)."""
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    denominator = 2.0**groups - 1.0
    return [groups * 2.0**i / denominator for i in range(groups)]


def _pow2(value: float) -> float:
    return 2.0 ** round(math.log2(value))


def candidate_scales(groups: int) -> dict[str, list[float]]:
    """The calibration family for ``groups`` groups, by name."""
    candidates = {"shared": [1.0] * groups,
                  "binary": binary_scales(groups),
                  "binary_reversed": binary_scales(groups)[::-1]}
    if groups > 1:
        for ratio in (0.25, 0.5, 2.0, 4.0):
            ramp = [_pow2(ratio ** (i / (groups - 1) - 0.5)) for i in range(groups)]
            candidates[f"ramp_{ratio:g}"] = ramp
    return candidates


@torch.no_grad()
def calibrate_scales(build: Callable[[list[float]], nn.Module], images: torch.Tensor,
                     labels: torch.Tensor, groups: int) -> tuple[str, list[float], float]:
    """``(name, scales, loss)`` of the candidate whose OneSpike network (``build(scales)``) has the
    lowest cross-entropy on the training ``images``/``labels``."""
    scored = [(name, scales, float(nn.functional.cross_entropy(build(scales).eval()(images), labels)))
              for name, scales in candidate_scales(groups).items()]
    return min(scored, key=lambda item: item[2])
