"""How a count counts: :class:`CountOptions`, one value per keyword of
:func:`~analysis.counting.count_events` besides the model, its method and free-form facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, get_args

from analysis.counting.ops import OpRule
from analysis.counting.registry import Rule
from analysis.methods import MethodSpec
from analysis.validate import check_choice, check_positive_int

__all__ = ["ON_NONFINITE", "CountOptions", "NonFinitePolicy"]

#: What a NaN/Inf in a layer's output does: ``"raise"`` an error naming the layer, or ``"flag"`` it
#: in the ledger (``LayerEvents.nonfinite_values``).
NonFinitePolicy = Literal["raise", "flag"]
ON_NONFINITE: tuple[str, ...] = get_args(NonFinitePolicy)
#: The membrane width of a method whose registry entry names none.
DEFAULT_VMEM_BITS = 16


@dataclass(frozen=True)
class CountOptions:
    """The options of one count (see :func:`~analysis.counting.count_events` for each).

    ``weight_bits``: None (the default) reads each layer's width from the network (what the
    quantizer recorded, 32 for float weights: :func:`~analysis.snn.weight_bits_of`); a number imposes
    that width on every non-binary weight (a what-if: the weights are not changed). ``vmem_bits``:
    None means the method's default (:meth:`for_method` fills it in). ``rules``: ``{module type:
    rule}`` and ``op_rules``: ``{aten op name: rule}`` override the registered rules for this count
    only. ``operators``: run the operator-level pass (off only to measure its cost). ``time_axis``:
    the input's time axis (None: static; 0: ``[T, B, ...]``; 1: ``[B, T, ...]``). ``input_spikes``:
    the input is spikes/events (its first layer counts ACs). Bad values are
    a ``ValueError``/``TypeError`` naming the option.
    """

    strict: bool = False
    weight_bits: int | None = None
    vmem_bits: int | None = None
    track_ties: bool = False
    rules: Mapping[type, Rule] = field(default_factory=dict)
    op_rules: Mapping[str, OpRule] = field(default_factory=dict)
    on_nonfinite: NonFinitePolicy = "raise"
    operators: bool = True
    time_axis: int | None = None
    input_spikes: bool = False

    def __post_init__(self) -> None:
        check_choice("on_nonfinite", self.on_nonfinite, ON_NONFINITE)
        for t, rule in (self.rules or {}).items():
            if not isinstance(t, type) or not callable(rule):
                raise TypeError(f"rules must map module types to rule functions, got {t!r}: {rule!r}")
        for name, rule in (self.op_rules or {}).items():
            if not isinstance(name, str) or not callable(rule):
                raise TypeError(f"op_rules must map aten op names ('add', 'mm', ...) to rule functions, got "
                                f"{name!r}: {rule!r}")
        # read-only copies: a rule table changed after the count began cannot change the count
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules or {})))
        object.__setattr__(self, "op_rules", MappingProxyType(dict(self.op_rules or {})))
        if self.time_axis is not None and (isinstance(self.time_axis, bool) or self.time_axis not in (0, 1)):
            raise ValueError(f"time_axis must be None (a static input [B, ...]), 0 ([T, B, ...], time first) or 1 "
                             f"([B, T, ...], batch first), got {self.time_axis!r}")
        if not isinstance(self.input_spikes, bool):
            raise TypeError(f"input_spikes must be True (the input is spikes/events) or False, got "
                            f"{self.input_spikes!r}")
        for name in ("strict", "track_ties", "operators"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    def for_method(self, spec: MethodSpec) -> CountOptions:
        """These options with the method's default membrane width where none was given (the weight
        width is never a method default: it is the network's)."""
        weight = None if self.weight_bits is None else check_positive_int("weight_bits", self.weight_bits)
        vmem = self.vmem_bits if self.vmem_bits is not None else (spec.vmem_bits or DEFAULT_VMEM_BITS)
        return replace(self, weight_bits=weight, vmem_bits=int(vmem))
