"""Declared model options: each option a name, a default (a value or a table constant), a checker and
one line of documentation, so that option checking is written once (in :class:`~energy_models.base.
TableModel`) and every wrong option gets the same did-you-mean error naming the model and what it accepts.

    OPTIONS = {"precision": Option("arithmetic width", default="native", check=choice("native", "fp32")),
               "xbar_size": Option("crossbar rows", default=FromTable("xbar_size"), check=multiple_of(8))}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from energy_models.checks import check_choice

#: A checker: (option name, given value) -> the checked value; raises ValueError naming the option.
Checker = Callable[[str, Any], Any]


@dataclass(frozen=True)
class FromTable:
    """An option default read from the model's table (a plain constant, by key); with
    ``required=False``, None where the table has no such constant (the model then says what is missing
    if the option is needed)."""

    key: str
    required: bool = True


@dataclass(frozen=True)
class Option:
    """One option a model accepts: what it does, its default, and how a given value is checked."""

    doc: str
    default: Any = None
    check: Checker | None = None

    def default_value(self, table: Any) -> Any:
        if not isinstance(self.default, FromTable):
            return self.default
        if not self.default.required and self.default.key not in table.constants:
            return None
        return table.value(self.default.key)

    def checked(self, name: str, value: Any) -> Any:
        return self.check(name, value) if self.check is not None and value is not None else value


def choice(*choices: Any) -> Checker:
    """A value among ``choices`` (compared with ``==``; booleans are not integers here)."""

    def check(name: str, value: Any) -> Any:
        return check_choice(name, value, choices)

    return check


def flag(name: str, value: Any) -> bool:
    """A boolean (True/False, or 0/1)."""
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ValueError(f"{name} = {value!r}; expected True or False")


def nonneg(name: str, value: Any) -> float:
    """A finite number >= 0."""
    number = _number(name, value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} = {value!r}; expected a finite number >= 0")
    return number


def positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    number = _number(name, value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} = {value!r}; expected a finite number > 0")
    return number


def fraction(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    number = _number(name, value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} = {value!r}; expected a number in [0, 1]")
    return number


def multiple_of(step: int) -> Checker:
    """A positive integer multiple of ``step``."""

    def check(name: str, value: Any) -> int:
        number = _number(name, value)
        if not math.isfinite(number) or number != int(number) or int(number) < step or int(number) % step:
            raise ValueError(f"{name} = {value!r}; expected a multiple of {step} (>= {step})")
        return int(number)

    return check


def bit_width(name: str, value: Any) -> float:
    """A width in bits: a number in [1, 64]."""
    number = _number(name, value)
    if not math.isfinite(number) or not 1 <= number <= 64:
        raise ValueError(f"{name} = {value!r}; expected a width in bits between 1 and 64")
    return number


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} = {value!r}; expected a number, not a boolean")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}; expected a number") from None


def check_options(model: str, declared: Mapping[str, Option], given: Mapping[str, Any], table: Any) -> dict[str, Any]:
    """``given`` checked against ``declared``, with every declared default filled in.

    An unknown name is a ValueError naming ``model``, the closest accepted name and all of them."""
    unknown = [name for name in given if name not in declared]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"{model}: unknown option {name!r}" + (f" (and {unknown[1:]})" if len(unknown) > 1 else "")
                         + f"; {hint}{model} accepts: {', '.join(declared)}")
    out = {}
    for name, option in declared.items():
        value = given[name] if name in given else option.default_value(table)
        out[name] = option.checked(name, value)
    return out
