"""The argument checks every neuron and quantized activation shares: a threshold (finite, > 0), a
membrane start ``v_init`` (a fraction of the threshold in [0, 1)) and an input current (no NaN/Inf, which
would make a spike count silently wrong). Each fails with a ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["check_finite", "check_threshold", "check_v_init"]


def check_threshold(name: str, value: float | Sequence[float] | Tensor) -> Tensor:
    """Return thresholds as a float64 tensor after checking they are finite and > 0."""
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if (tensor <= 0).any():
        raise ValueError(f"{name} must be > 0 (a firing threshold), got {value!r}")
    return tensor


def check_finite(name: str, x: Tensor) -> None:
    """Raise if ``x`` holds NaN or Inf: a spike count of NaN would be silently wrong."""
    # one sum (a NaN/Inf makes it non-finite) instead of a boolean map per call; a sum that merely
    # overflowed is told apart by the exact count
    if x.is_floating_point() and not math.isfinite(float(x.detach().sum())):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"{name} input holds {bad} NaN/Inf value(s); spiking neurons need finite currents")


def check_v_init(v_init: float, name: str = "v_init") -> float:
    """``v_init`` is a fraction of the threshold in [0, 1): 0 (clamp-and-quantize) or 0.5 (QCFS)."""
    if not isinstance(v_init, int | float) or not math.isfinite(v_init) or not 0.0 <= v_init < 1.0:
        raise ValueError(
            f"{name} is the initial membrane as a fraction of the threshold and must be in [0, 1), "
            f"e.g. 0.0 or 0.5; got {v_init!r}"
        )
    return float(v_init)
