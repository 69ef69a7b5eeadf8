"""One registry type for every keyed table of the toolkit (hardware models, methods, data sets, study
variants, questions by name; counting rules and converters by module class; operator rules by aten
name): a duplicate key is refused unless ``replace=True`` (as torch's flop counter refuses a
duplicate op), and an unknown name is an error with a did-you-mean.

It lives on the bottom floor (:mod:`energy_models`, no torch) so that both packages use the one type:
``analysis.registry`` re-exports it."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["DuplicateNameError", "Registry", "TypeRegistry", "unknown_name_message"]

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

    ``kind`` names what is registered ("model", "method", ...) in error messages. ``normalize``
    maps a name to the key it is stored under (``"CIFAR-10"`` and ``"cifar10"`` may be one key); a
    name keeps the spelling it was first registered with. ``duplicate_hint`` ends the message of a
    refused duplicate (another way out than ``replace=True``).
    """

    def __init__(self, kind: str, normalize: Callable[[str], str] | None = None, duplicate_hint: str = ""):
        self.kind = kind
        self.duplicate_hint = duplicate_hint
        self._normalize = normalize
        self._items: dict[Hashable, V] = {}
        self._labels: dict[Hashable, str] = {}  # key -> the name as first registered
        #: Bumped by every change, so that what was worked out from the table can tell it is stale.
        self.version = 0

    # -- keys --------------------------------------------------------------------------------------
    def _key(self, name: Any) -> Hashable:
        """The key ``name`` is stored under (a ValueError when it is no name at all)."""
        key = self._normalize(name) if self._normalize is not None and isinstance(name, str) else name
        if not isinstance(name, str) or not key:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        return key

    def _label(self, name: Any) -> str:
        """How error messages and :meth:`names` spell a key."""
        return str(name)

    # -- adding and removing -------------------------------------------------------------------------
    def add(self, name: Any, value: V, replace: bool = False) -> V:
        """Register ``value`` under ``name`` (refused when the name is taken, unless ``replace=True``)."""
        self.add_all((name,), value, replace)
        return value

    def add_all(self, names: Iterable[Any], value: V, replace: bool = False) -> V:
        """Register ``value`` under every name; nothing is registered when one name is refused."""
        keyed = [(name, self._key(name)) for name in names]
        for name, key in keyed:
            if key in self._items and not replace:
                first = self._labels[key]
                spelled = f" (as {first!r})" if first != self._label(name) else ""
                raise DuplicateNameError(f"{self.kind} {self._label(name)!r} is already registered{spelled}; pass "
                                         f"replace=True to replace it{self.duplicate_hint}")
        for name, key in keyed:
            self._labels.setdefault(key, self._label(name))
            self._items[key] = value
        self.version += 1
        return value

    def register(self, *names: Any, replace: bool = False) -> Callable[[V], V]:
        """Decorator form of :meth:`add_all`."""

        def deco(value: V) -> V:
            return self.add_all(names, value, replace=replace)

        return deco

    def remove(self, name: Any) -> None:
        key = self._key(name)
        self.get(name)
        del self._items[key]
        del self._labels[key]
        self.version += 1

    __delitem__ = remove

    # -- looking up --------------------------------------------------------------------------------
    def get(self, name: Any) -> V:
        """The value registered under ``name`` (a ValueError with a did-you-mean otherwise)."""
        key = self._key(name)
        if key not in self._items:
            raise ValueError(self._unknown(name))
        return self._items[key]

    __getitem__ = get

    def _unknown(self, name: Any) -> str:
        if self._normalize is None:
            return unknown_name_message(self.kind, name, self.names())
        by_key = {self._normalize(label): label for label in self.names()}
        close = difflib.get_close_matches(self._normalize(name), list(by_key), n=1, cutoff=0.5)
        hint = f" Did you mean {by_key[close[0]]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}"

    def label(self, name: Any) -> str:
        """``name`` as it was first registered (``"cifar10"`` for ``"CIFAR-10"``)."""
        self.get(name)
        return self._labels[self._key(name)]

    def names(self) -> list[str]:
        """Registered names in registration order, as first spelled."""
        return [self._labels[key] for key in self._items]

    def keys(self) -> list[Any]:
        """What the values were registered under: names (as first spelled) here, classes in a
        :class:`TypeRegistry`."""
        return self.names()

    def values(self) -> list[V]:
        return list(self._items.values())

    def items(self) -> list[tuple[Any, V]]:
        return list(zip(self.keys(), self._items.values(), strict=True))

    def __contains__(self, name: object) -> bool:
        try:
            return self._key(name) in self._items
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)


class TypeRegistry(Registry[V]):
    """A registry keyed by class (counting rules and converters by module type); :meth:`find`
    answers for a subclass with its nearest registered base."""

    def _key(self, name: Any) -> Hashable:
        if not isinstance(name, type):
            raise TypeError(f"{self.kind}s are registered for classes, got {name!r}")
        return name

    def _label(self, name: Any) -> str:
        return name.__name__ if isinstance(name, type) else str(name)

    def _unknown(self, name: Any) -> str:
        return f"no {self.kind} for {self._label(name)}; registered for: {', '.join(sorted(self.names()))}"

    def keys(self) -> list[Any]:
        return list(self._items)

    def lookup(self, cls: type, overrides: Mapping[type, V] | None = None) -> tuple[type, V] | None:
        """``(base, value)`` for the most specific class in ``cls``'s MRO that has a value (a
        per-call override before a registered value of the same class); None when none has one."""
        for base in cls.__mro__:
            if overrides and base in overrides:
                return base, overrides[base]
            if base in self._items:
                return base, self._items[base]
        return None

    def find(self, cls: type, overrides: Mapping[type, V] | None = None) -> V | None:
        """The value :meth:`lookup` finds for ``cls``, or None."""
        found = self.lookup(cls, overrides)
        return None if found is None else found[1]
