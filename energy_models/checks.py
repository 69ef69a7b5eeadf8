"""The argument check both packages share for a closed set of choices (``analysis.validate``
re-exports it beside its integer checks): a value that is not one of the choices is a ``ValueError``
that names the argument, every choice and what it got.

It lives on the bottom floor (:mod:`energy_models`, no torch) so that the hardware models use the one
check too; ``analysis.validate`` re-exports it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["check_choice"]

T = TypeVar("T")


def check_choice(name: str, value: T, choices: Iterable[Any], hint: str = "",
                 error: type[ValueError] = ValueError) -> T:
    """``value`` when it equals one of ``choices`` (a boolean is never taken for the integer 0 or 1);
    otherwise ``<error>: <name> must be one of 'a', 'b', got 'x'<hint>``. ``hint`` (what the choices
    mean, how to add one) ends the message; ``error`` is a ``ValueError`` subclass naming the source
    (a table, a ledger, a checkpoint)."""
    options = tuple(choices)
    if not any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in options):
        raise error(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}{hint}")
    return value
