"""The module-rule registry: counting rules by module type (most specific type first).

A rule is a small pure function ``rule(module, inputs, output, ctx) -> dict`` returning
:class:`~energy_models.ledger.LayerEvents` fields (events as totals over the batch of this call; the
counter sums calls and divides by the number of samples), plus ``"signal"``: what the output tensor
carries. A duplicate type is refused unless ``replace=True`` (as torch's flop counter refuses a
duplicate op); ``count_events(rules={Type: rule})`` overrides rules for one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from analysis.counting.signals import Context
from analysis.registry import TypeRegistry

__all__ = ["COUNTING_RULES", "PASSTHROUGH", "Rule", "find_rule", "register_rule"]

Rule = Callable[[nn.Module, tuple, Any, Context], dict[str, Any]]
#: Counting rules by module type: ``rule(module, inputs, output, ctx) -> {LayerEvents field: value}``.
COUNTING_RULES: TypeRegistry[Rule] = TypeRegistry(
    "counting rule", duplicate_hint=", or count_events(model, rules={Type: rule}) to override it for one count")
#: Leaf modules that do nothing worth counting at inference: their output carries their input's signal.
PASSTHROUGH: tuple[type, ...] = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                                 nn.AlphaDropout, nn.FeatureAlphaDropout)


def register_rule(*types: type, replace: bool = False) -> Callable[[Rule], Rule]:
    """Register a counting rule for module types (decorator); users may add their own.

    The rule receives ``(module, inputs, output, ctx: Context)`` and returns
    :class:`~energy_models.ledger.LayerEvents` fields: ``kind`` and ``rule`` names, events and
    activity counts as **totals over the call's batch** (the counter divides by the samples), shape
    facts per sample, and optionally ``"signal"``: the :class:`Signal` of its output. A type that
    already has a rule is refused unless ``replace=True``.
    """
    for t in types:
        if not isinstance(t, type):
            raise TypeError(f"register_rule takes module types, got {t!r}")
    return COUNTING_RULES.register(*types, replace=replace)


def find_rule(module_type: type, overrides: Mapping[type, Rule] | None = None) -> Rule | None:
    """The rule for a module type: the most specific type in its MRO with a rule, a per-call
    override before a registered rule of the same type."""
    return COUNTING_RULES.find(module_type, overrides)
