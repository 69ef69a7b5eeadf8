"""The NaN/Inf check of a count: every layer that makes new values has its output checked in one pass
(its sum: finite unless a value is NaN/Inf, or the sum overflowed, which a second pass tells apart),
and a non-finite output is an error naming the layer or is flagged in its record."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["NO_NEW_VALUES", "FiniteCheck", "NonFiniteError"]

#: Layer kinds whose output is not checked, per policy. Raising: only layers that make new values
#: from weights or arithmetic (conv, linear, norm, add, other, operators) are checked, since a
#: neuron, a pool or a reshape of finite values is finite, so the first non-finite value is still
#: reported at the layer that made it; flagging counts them in every layer.
NO_NEW_VALUES: dict[str, frozenset[str]] = {"raise": frozenset(("reshape", "neuron", "pool", "encoder")),
                                            "flag": frozenset(("reshape",))}


class NonFiniteError(ValueError):
    """A counted layer produced NaN/Inf values (``count_events(on_nonfinite="raise")``)."""


class FiniteCheck:
    """The check of one count of the ``method`` network under ``policy`` (``"raise"`` or ``"flag"``);
    ``flag(name, values)`` records ``values`` NaN/Inf values in layer ``name``."""

    __slots__ = ("flag", "method", "raising", "unchecked")

    def __init__(self, policy: str, method: str, flag: Callable[[str, int], None]):
        self.unchecked = NO_NEW_VALUES[policy]
        self.raising = policy == "raise"
        self.method = method
        self.flag = flag

    def __call__(self, name: str, what: str, kind: str | None, output: Any) -> None:
        """Check layer ``name``'s (``what``: its module type or operator) ``output``."""
        if kind in self.unchecked or not isinstance(output, Tensor) or not output.is_floating_point():
            return
        if math.isfinite(output.sum().item()):
            return
        bad = int((~torch.isfinite(output)).sum())
        if bad == 0:  # the sum overflowed; every value is finite
            return
        if self.raising:
            raise NonFiniteError(
                f"count_events: layer {name!r} ({what}) of the {self.method!r} network produced {bad} NaN/Inf "
                "value(s); its counts would be wrong. Check the input and weights, or pass "
                "count_events(..., on_nonfinite='flag') to record them in the ledger (LayerEvents.nonfinite_values)"
            )
        self.flag(name, bad)
