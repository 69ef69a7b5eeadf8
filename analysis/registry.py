"""One registry type for every name-keyed table of the toolkit (models, methods, data sets,
counting rules, converters): a duplicate name is refused unless ``replace=True`` (as torch's flop
counter refuses a duplicate op), and an unknown name is an error with a did-you-mean."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


def unknown_name_message(kind: str, name: object, known: list[str]) -> str:
    """``unknown <kind> 'x'. Did you mean 'y'? Available: a, b, c``."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Available: {', '.join(known)}"


class DuplicateNameError(ValueError):
    """A name is registered twice without ``replace=True``."""


class Registry(Generic[V]):
    """A named mapping that refuses duplicates and explains unknown names.

    ``kind`` names what is registered ("model", "method", ...) in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, V] = {}

    def add(self, name: str, value: V, replace: bool = False) -> V:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items and not replace:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered; pass replace=True to replace it"
            )
        self._items[name] = value
        return value

    def register(self, name: str, replace: bool = False) -> Callable[[V], V]:
        """Decorator form of :meth:`add`."""

        def deco(value: V) -> V:
            return self.add(name, value, replace=replace)

        return deco

    def get(self, name: str) -> V:
        if name not in self._items:
            raise ValueError(unknown_name_message(self.kind, name, list(self._items)))
        return self._items[name]

    def remove(self, name: str) -> None:
        self.get(name)
        del self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, V]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
