"""Argument checks every stage shares: one place that says what a positive integer is, and the one
check of a closed set of choices (:func:`check_choice`, from :mod:`energy_models.checks`, so that the
hardware models share it).

Each check returns the value in its plain Python type or raises a ``ValueError`` that names the
argument, what it accepts and what it got. An integer is an ``int`` or a NumPy integer, or a float
with an integer value (``4.0``, as JSON and YAML configs write numbers); never a ``bool``.
"""

from __future__ import annotations

import math
import numbers

from energy_models.checks import check_choice

__all__ = ["check_choice", "check_int", "check_optional_positive_int", "check_positive_int", "is_integer"]


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (see the module docstring); ``True``/``False`` are not."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()


def check_int(name: str, value: object, low: int | None = None, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int in ``[low, high]`` (either bound may be None); ``hint`` (how to raise
    ``high``) ends the message of a value above ``high``."""
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)  # type: ignore[call-overload]
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            bound = f">= {low}"
        elif low is None:
            bound = f"<= {high}"
        else:
            bound = f"in [{low}, {high}]"
        above = high is not None and number > high
        raise ValueError(f"{name} must be {bound}, got {value!r}{hint if above else ''}")
    return number


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1 (steps, groups, levels, widths, sizes, counts)."""
    if not is_integer(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a positive integer (1, 2, 4, ...), got {value!r}")
    return int(value)  # type: ignore[call-overload]


def check_optional_positive_int(name: str, value: object) -> int | None:
    """``None``, or ``value`` as an int >= 1 (an optional limit: a subset, an image size)."""
    if value is None:
        return None
    if not is_integer(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a positive integer (1, 2, 4, ...) or None, got {value!r}")
    return int(value)  # type: ignore[call-overload]
