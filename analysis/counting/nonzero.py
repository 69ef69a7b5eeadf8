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

__all__ = ["DEFER_ELEMENTS", "Deferred", "NonzeroMaps", "deferred_count", "nnz", "nonzero_count", "nonzero_map",
           "read_counts", "value_of"]

#: Below this many elements a non-zero count fits an int32 sum, about 3x faster than count_nonzero on CPU.
_INT32_COUNT = 2**31 - 1
#: Tensors from this many elements have their counts deferred (:class:`Deferred`): a layer that
#: large has evicted the counter's code and data from the caches (VGG-11 at 64x64: 1.0 ms of its hooks'
#: 5 ms were the two or three operations that read a map), while below it reading the count at once
#: costs less than reading it at the end (SqueezeNet at 64x64: 0.17 ms saved in the hooks, 0.27 ms
#: spent reading at the end).
DEFER_ELEMENTS = 2**18
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
    """An exact count read later from non-zero maps taken now: ``Σ map`` (``weights`` None; ``map``
    may be a tuple of maps, the parts of a concatenation, summed alike) or ``Σ map · weights`` (a
    conv's fan-out sum, ``weights`` the int64 fan-out per position), times each of ``factors`` in
    turn (``(fan-out, C_out/groups)``, ``steps``) as the eager count would multiply them. Every map
    and weight is an integer, so the value is the eager one exactly."""

    __slots__ = ("factors", "map", "weights")

    def __init__(self, map: Tensor | tuple[Tensor, ...], weights: Tensor | None = None, factors: tuple = ()):
        self.map = map
        self.weights = weights
        self.factors = factors

    def __mul__(self, factor: float) -> Deferred:
        return Deferred(self.map, self.weights, (*self.factors, factor))

    __rmul__ = __mul__

    def parts(self) -> tuple[Tensor, ...]:
        return self.map if isinstance(self.map, tuple) else (self.map,)

    def nbytes(self) -> int:
        """Bytes of the maps this count holds."""
        return sum(part.numel() * part.element_size() for part in self.parts())

    def scaled(self, total: int) -> int | float:
        """``total`` (the sum this count reads) times its factors."""
        for factor in self.factors:
            total = total * factor
        return total

    def value(self) -> int | float:
        """The count, read now."""
        if self.weights is not None:
            return self.scaled(sum(int((part * self.weights).sum()) for part in self.parts()))
        return self.scaled(sum(int(part.sum(dtype=torch.int64)) for part in self.parts()))

    def __repr__(self) -> str:
        return f"Deferred({self.value()})"


def value_of(count: Any) -> Any:
    """``count`` as a number (a :class:`Deferred` read now; anything else as it is)."""
    return count.value() if isinstance(count, Deferred) else count


def read_counts(counts: list[Deferred]) -> list[int | float]:
    """Each count's :meth:`Deferred.value`, the distinct maps read together: maps of one shape, device
    and fan-out weighting stacked and summed in one operation, so that a count of many layers reads
    its maps in a few operations per map shape instead of two per map."""
    slots: dict[tuple[int, int], int] = {}
    maps: list[Tensor] = []
    weights: list[Tensor | None] = []
    uses: list[list[int]] = []
    for count in counts:
        use = []
        for part in count.parts():
            key = (id(part), id(count.weights))
            slot = slots.get(key)
            if slot is None:
                slot = slots[key] = len(maps)
                maps.append(part)
                weights.append(count.weights)
            use.append(slot)
        uses.append(use)
    groups: dict[tuple, list[int]] = {}
    for slot, (found, weight) in enumerate(zip(maps, weights, strict=True)):
        groups.setdefault((found.shape, found.dtype, found.device, id(weight)), []).append(slot)
    sums = [0] * len(maps)
    for members in groups.values():
        stacked = torch.stack([maps[slot] for slot in members])
        weight = weights[members[0]]
        if weight is not None:
            stacked = stacked * weight  # int64, as the weights are
        totals = stacked.sum(dim=tuple(range(1, stacked.dim())), dtype=torch.int64) if stacked.dim() > 1 else stacked
        for slot, total in zip(members, totals.tolist(), strict=True):
            sums[slot] = total
    return [count.scaled(sum(sums[slot] for slot in use)) for count, use in zip(counts, uses, strict=True)]


class NonzeroMaps:
    """The :func:`nonzero_map` of each tensor of one count, computed once, and its total: the
    activation that made a tensor counts its non-zeros (``output_nonzero``) and the conv or linear
    that reads it reuses the same map (``input_nonzero``, ``mac_nonzero``). Keyed weakly by tensor
    identity and valid while the tensor's version (bumped by every in-place change) is the one counted.
    A concatenation of tensors whose maps are known keeps their maps (its parts) and sums them into
    one map only where a conv's fan-out needs it."""

    __slots__ = ("maps",)

    def __init__(self) -> None:
        self.maps = TensorMap()  # tensor -> [version, map, total or None, parts or None]

    def _entry(self, t: Tensor) -> list:
        hit = self.maps.get(t)
        if hit is not None and hit[0] == t._version:
            return hit
        entry = [t._version, None, None, None]
        self.maps[t] = entry
        return entry

    def of(self, t: Tensor) -> Tensor:
        """``t``'s :func:`nonzero_map`."""
        entry = self._entry(t)
        if entry[1] is None:
            parts = entry[3]
            if parts is None:
                entry[1] = nonzero_map(t)
            else:
                total = parts[0].to(torch.int64)
                for part in parts[1:]:
                    total = total + part
                entry[1] = total
        return entry[1]

    def count(self, t: Tensor) -> int:
        """``t``'s non-zero entries: the sum of its map, summed once. A tensor of fewer than four axes
        (a linear's ``[B, L, E]`` input, which no conv reads) is counted in one pass without a map."""
        entry = self._entry(t)
        if entry[2] is None:
            if entry[1] is None and entry[3] is not None:
                entry[2] = Deferred(entry[3]).value()
            elif entry[1] is None and t.dim() < 4:
                entry[2] = int(nnz(t))
            else:
                entry[2] = int(self.of(t).sum(dtype=torch.int64))
        return entry[2]

    def deferred(self, t: Tensor) -> Deferred | int:
        """``t``'s non-zero entries, read later (:class:`Deferred` on its map or its parts' maps; the
        number itself where this count has summed it already, or where ``t`` is smaller than
        :data:`DEFER_ELEMENTS`). One pass over ``t`` now where no map is known."""
        entry = self._entry(t)
        if entry[2] is not None:
            return entry[2]
        if t.numel() < DEFER_ELEMENTS:
            return self.count(t)
        if entry[1] is None:
            if entry[3] is not None:
                return Deferred(entry[3])
            entry[1] = nonzero_map(t)
        return Deferred(entry[1])

    def concatenated(self, parts: Any, dim: int, out: Tensor) -> None:
        """``out = torch.cat(parts, dim)``: where every part's map is known and ``dim`` is not one of
        the last two axes (the map's positions), ``out``'s map is their sum, summed when first needed;
        no pass over ``out``."""
        if not isinstance(parts, list | tuple) or not parts or not isinstance(parts[0], Tensor) or \
                out.dim() != parts[0].dim():
            return
        if out.dim() >= 3 and dim % out.dim() >= out.dim() - 2:
            return
        maps, counts = [], []
        for part in parts:
            hit = self.maps.get(part) if isinstance(part, Tensor) else None
            if hit is None or hit[0] != part._version:
                return
            if hit[1] is not None:
                maps.append(hit[1])
            elif hit[3] is not None:
                maps.extend(hit[3])
            else:
                return
            counts.append(hit[2])
        self.maps[out] = [out._version, None, None if None in counts else sum(counts), tuple(maps)]


def nonzero_count(t: Tensor, maps: NonzeroMaps | None) -> int:
    """Non-zero entries of ``t``, from its shared map when the count keeps one."""
    return int(nnz(t)) if maps is None else maps.count(t)


def deferred_count(t: Tensor, maps: NonzeroMaps | None) -> Deferred | int:
    """:func:`nonzero_count` for a ledger field: read when the ledger is written where the count
    keeps shared maps (:meth:`NonzeroMaps.deferred`), else now."""
    return int(nnz(t)) if maps is None else maps.deferred(t)
