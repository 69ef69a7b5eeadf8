"""Non-zero counts of tensors, each in one pass and shared between the rules that need it.

A conv or linear rule needs, of its input, the non-zero count per position (its fan-out sum gives
``mac_nonzero``); the activation that made that input reports the same tensor's non-zero count
(``output_nonzero``). :class:`NonzeroMaps` computes the per-position map once per tensor per count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from analysis.counting.tensormap import TensorMap

__all__ = ["NonzeroMaps", "nnz", "nonzero_count", "nonzero_map"]

#: Below this many elements a non-zero count fits an int32 sum, about 3x faster than count_nonzero on CPU.
_INT32_COUNT = 2**31 - 1


def _nonzero(t: Tensor) -> Tensor:
    """``t != 0`` as booleans: ``Tensor.bool()`` is the same test (NaN counts, -0.0 does not), several
    times faster than the comparison on CPU."""
    return t if t.dtype == torch.bool else t.bool()


def nnz(t: Tensor, dim: tuple[int, ...] | None = None) -> Tensor:
    """Non-zero entries of ``t`` (over ``dim``, or all), exactly."""
    if t.numel() < _INT32_COUNT:
        return _nonzero(t).sum(dim=dim, dtype=torch.int32) if dim is not None else _nonzero(t).sum(dtype=torch.int32)
    return torch.count_nonzero(t, dim=dim)


def nonzero_map(t: Tensor) -> Tensor:
    """Non-zero entries of ``t`` per position of its last two axes, summed over the leading ones
    (a 0-d count for a tensor of fewer than three axes), in one pass: what a conv or linear rule
    needs of its input (its sum is the non-zero count) and what the rule that made ``t`` reports."""
    if t.dim() < 3:
        return nnz(t)
    return nnz(t, tuple(range(t.dim() - 2)))


class NonzeroMaps:
    """The :func:`nonzero_map` of each tensor of one count, computed once: the activation that made a
    tensor counts its non-zeros (``output_nonzero``) and the conv or linear that reads it reuses the
    same map (``input_nonzero``, ``mac_nonzero``). Keyed weakly by tensor identity and valid while the
    tensor's version (bumped by every in-place change) is the one counted."""

    def __init__(self) -> None:
        self.maps = TensorMap()

    def of(self, t: Tensor) -> Tensor:
        hit = self.maps.get(t)
        if hit is not None and hit[0] == t._version:
            return hit[1]
        found = nonzero_map(t)
        self.maps[t] = (t._version, found)
        return found

    def concatenated(self, parts: Any, dim: int, out: Tensor) -> None:
        """``out = torch.cat(parts, dim)``: where every part's map is known and ``dim`` is not one of
        the last two axes (the map's positions), ``out``'s map is their sum; no pass over ``out``."""
        if not isinstance(parts, list | tuple) or not parts or not isinstance(parts[0], Tensor) or \
                out.dim() != parts[0].dim():
            return
        if out.dim() >= 3 and dim % out.dim() >= out.dim() - 2:
            return
        maps = []
        for part in parts:
            hit = self.maps.get(part) if isinstance(part, Tensor) else None
            if hit is None or hit[0] != part._version:
                return
            maps.append(hit[1])
        total = maps[0].to(torch.int64)
        for found in maps[1:]:
            total = total + found
        self.maps[out] = (out._version, total)


def nonzero_count(t: Tensor, maps: NonzeroMaps | None) -> Tensor:
    """Non-zero entries of ``t``, from its shared map when the count keeps one."""
    return nnz(t) if maps is None else maps.of(t).sum(dtype=torch.int64)
