"""A map keyed by tensor identity that keeps no tensor alive, for the per-tensor facts of a count
(signals, producers, non-zero maps).

``torch.utils.weak.WeakIdKeyDictionary`` does this by building a Python key object (``WeakIdRef``,
with Python ``__hash__``/``__eq__``) for every lookup: a few microseconds, several times per counted
layer. :class:`TensorMap` keeps a plain ``{id(tensor): (weakref, value)}`` dict instead; a lookup
checks that the weakref still points at the tensor asked about (an id can be reused only after its
tensor died, whose entry the weakref's callback has removed by then).
"""

from __future__ import annotations

import weakref
from typing import Any

from torch import Tensor

__all__ = ["TensorMap"]


class TensorMap:
    """``{tensor: value}`` by identity; an entry goes when its tensor does."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, t: Tensor, default: Any = None) -> Any:
        entry = self.items.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        return default

    def __setitem__(self, t: Tensor, value: Any) -> None:
        key, items = id(t), self.items
        entry = items.get(key)
        if entry is not None and entry[0]() is t:
            items[key] = (entry[0], value)
            return

        def drop(ref: weakref.ref, key: int = key, items: dict = items) -> None:
            current = items.get(key)
            if current is not None and current[0] is ref:
                del items[key]

        items[key] = (weakref.ref(t, drop), value)

    def __contains__(self, t: object) -> bool:
        entry = self.items.get(id(t))
        return entry is not None and entry[0]() is t

    def __len__(self) -> int:
        return len(self.items)
