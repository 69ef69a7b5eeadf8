"""Non-zero counts of tensors, each in one pass and shared between the rules that need it.

A conv or linear rule needs, of its input, the non-zero count per position (its fan-out sum gives
``mac_nonzero``); the activation that made that input reports the same tensor's non-zero count
(``output_nonzero``). :class:`NonzeroMaps` computes the per-position map once per tensor per count.

The pass over a tensor must run while the layer runs (a later in-place change overwrites it), but what
is read off its small map (the total, the fan-out sum) need not: a :class:`Deferred` count keeps the map
and is read as a number when the ledger is written, in a loop over every layer's (warm) instead of
two or three more tensor operations inside each layer's hook, where the forward has just evicted the
counter's code and data from the caches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from analysis.counting.tensormap import TensorMap

__all__ = ["Deferred", "NonzeroMaps", "deferred_count", "nnz", "nonzero_count", "nonzero_map", "value_of"]

#: Below this many elements a non-zero count fits an int32 sum, about 3x faster than count_nonzero on CPU.
_INT32_COUNT = 2**31 - 1
#: Most entries summed into one position of a map that an int16 sum holds (twice as fast as int32 on CPU).
_INT16_COUNT = 2**15 - 1


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
    dims = tuple(range(t.dim() - 2))
    if t.numel() // max(t.shape[-2] * t.shape[-1], 1) <= _INT16_COUNT:  # every position's count fits 16 bits
        return _nonzero(t).sum(dim=dims, dtype=torch.int16)
    return nnz(t, dims)


class Deferred:
    """An exact count read later from a non-zero map taken now: ``Σ map`` (``weights`` None) or
    ``Σ map · weights`` (a conv's fan-out sum, ``weights`` the int64 fan-out per position), times
    each of ``factors`` in turn (``(fan-out, C_out/groups)``, ``steps``) as the eager count would
    multiply them. Every map and weight is an integer, so the value is the eager one exactly."""

    __slots__ = ("factors", "map", "weights")

    def __init__(self, map: Tensor, weights: Tensor | None = None, factors: tuple = ()):
        self.map = map
        self.weights = weights
        self.factors = factors

    def __mul__(self, factor: float) -> Deferred:
        return Deferred(self.map, self.weights, (*self.factors, factor))

    __rmul__ = __mul__

    def value(self, totals: dict[int, int] | None = None) -> int | float:
        """The count (``totals``: map sums already read in this batch, by ``id`` of the map)."""
        if self.weights is not None:
            value: int | float = int((self.map * self.weights).sum())
        elif totals is None:
            value = int(self.map.sum(dtype=torch.int64))
        else:
            value = totals.get(id(self.map))
            if value is None:
                value = totals[id(self.map)] = int(self.map.sum(dtype=torch.int64))
        for factor in self.factors:
            value = value * factor
        return value

    def __repr__(self) -> str:
        return f"Deferred({self.value()})"


def value_of(count: Any) -> Any:
    """``count`` as a number (a :class:`Deferred` read now; anything else as it is)."""
    return count.value() if isinstance(count, Deferred) else count


class NonzeroMaps:
    """The :func:`nonzero_map` of each tensor of one count, computed once, and its total: the
    activation that made a tensor counts its non-zeros (``output_nonzero``) and the conv or linear
    that reads it reuses the same map (``input_nonzero``, ``mac_nonzero``). Keyed weakly by tensor
    identity and valid while the tensor's version (bumped by every in-place change) is the one counted."""

    __slots__ = ("maps",)

    def __init__(self) -> None:
        self.maps = TensorMap()  # tensor -> [version, map, total or None]

    def _entry(self, t: Tensor) -> list:
        hit = self.maps.get(t)
        if hit is not None and hit[0] == t._version:
            return hit
        entry = [t._version, None, None]
        self.maps[t] = entry
        return entry

    def of(self, t: Tensor) -> Tensor:
        """``t``'s :func:`nonzero_map`."""
        entry = self._entry(t)
        if entry[1] is None:
            entry[1] = nonzero_map(t)
        return entry[1]

    def count(self, t: Tensor) -> int:
        """``t``'s non-zero entries: the sum of its map, summed once. A tensor of fewer than four axes
        (a linear's ``[B, L, E]`` input, which no conv reads) is counted in one pass without a map."""
        entry = self._entry(t)
        if entry[2] is None:
            if entry[1] is None and t.dim() < 4:
                entry[2] = int(nnz(t))
            else:
                entry[2] = int(self.of(t).sum(dtype=torch.int64))
        return entry[2]

    def deferred(self, t: Tensor) -> Deferred | int:
        """``t``'s non-zero entries, read later (:class:`Deferred` on its map; the number itself
        where this count has summed it already). One pass over ``t`` now where its map is not known."""
        entry = self._entry(t)
        if entry[2] is not None:
            return entry[2]
        if entry[1] is None:
            entry[1] = nonzero_map(t)
        return Deferred(entry[1])

    def counted(self, t: Tensor) -> int | None:
        """``t``'s non-zero entries where this count has summed them already (an activation's output
        that a conv reads), else None."""
        hit = self.maps.get(t)
        return hit[2] if hit is not None and hit[0] == t._version else None

    def concatenated(self, parts: Any, dim: int, out: Tensor) -> None:
        """``out = torch.cat(parts, dim)``: where every part's map is known and ``dim`` is not one of
        the last two axes (the map's positions), ``out``'s map is their sum; no pass over ``out``."""
        if not isinstance(parts, list | tuple) or not parts or not isinstance(parts[0], Tensor) or \
                out.dim() != parts[0].dim():
            return
        if out.dim() >= 3 and dim % out.dim() >= out.dim() - 2:
            return
        entries = []
        for part in parts:
            hit = self.maps.get(part) if isinstance(part, Tensor) else None
            if hit is None or hit[0] != part._version or hit[1] is None:
                return
            entries.append(hit)
        total = entries[0][1].to(torch.int64)
        for entry in entries[1:]:
            total = total + entry[1]
        counts = [entry[2] for entry in entries]
        self.maps[out] = [out._version, total, None if None in counts else sum(counts)]


def nonzero_count(t: Tensor, maps: NonzeroMaps | None) -> int:
    """Non-zero entries of ``t``, from its shared map when the count keeps one."""
    return int(nnz(t)) if maps is None else maps.count(t)


def deferred_count(t: Tensor, maps: NonzeroMaps | None) -> Deferred | int:
    """:func:`nonzero_count` for a ledger field: read when the ledger is written where the count
    keeps shared maps (:meth:`NonzeroMaps.deferred`), else now."""
    return int(nnz(t)) if maps is None else maps.deferred(t)
