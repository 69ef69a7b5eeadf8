"""The module-rule registry: counting rules by module type (most specific type first).

A rule is a small pure function ``rule(module, inputs, output, ctx) -> dict`` returning
:class:`~energy_models.ledger.LayerEvents` fields (events as totals over the batch of this call; the
counter sums calls and divides by the number of samples), plus ``"signal"``: what the output tensor
carries. A duplicate type is refused unless ``replace=True`` (as torch's flop counter refuses a
duplicate op); ``count_events(rules={Type: rule})`` overrides rules for one call.

A rule may also be registered for a class **path** (``"package.module.ClassName"``, the defining
module and qualified name) instead of a type, so that a framework's classes (SpikingJelly,
snnTorch) are recognised without importing the framework; types and paths are looked up class by
class along the MRO, so the most specific class wins either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from analysis.counting.signals import Context
from analysis.registry import DuplicateNameError, Registry, TypeRegistry

__all__ = ["COUNTING_RULES", "PASSTHROUGH", "PATH_RULES", "Rule", "class_path", "find_rule", "register_rule"]

Rule = Callable[[nn.Module, tuple, Any, Context], dict[str, Any]]
#: Counting rules by module type: ``rule(module, inputs, output, ctx) -> {LayerEvents field: value}``.
COUNTING_RULES: TypeRegistry[Rule] = TypeRegistry(
    "counting rule", duplicate_hint=", or count_events(model, rules={Type: rule}) to override it for one count")
#: Counting rules by class path ``"module.QualifiedName"`` (classes recognised without importing them).
PATH_RULES: Registry[Rule] = Registry(
    "counting rule for class path", duplicate_hint=", or count_events(model, rules={Type: rule}) to override it")
#: Leaf modules that do nothing worth counting at inference: their output carries their input's signal.
PASSTHROUGH: tuple[type, ...] = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                                 nn.AlphaDropout, nn.FeatureAlphaDropout)


def class_path(cls: type) -> str:
    """``"defining.module.QualifiedName"`` of a class (what :data:`PATH_RULES` is keyed by)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_rule(*types: type | str, replace: bool = False) -> Callable[[Rule], Rule]:
    """Register a counting rule for module types, or class paths ``"pkg.module.Class"`` (decorator);
    users may add their own.

    The rule receives ``(module, inputs, output, ctx: Context)`` and returns
    :class:`~energy_models.ledger.LayerEvents` fields: ``kind`` and ``rule`` names, events and
    activity counts as **totals over the call's batch** (the counter divides by the samples), shape
    facts per sample, and optionally ``"signal"``: the :class:`Signal` of its output. A type that
    already has a rule is refused unless ``replace=True``.
    """
    for t in types:
        if not isinstance(t, type) and not (isinstance(t, str) and "." in t):
            raise TypeError(f"register_rule takes module types or class paths 'pkg.module.Class', got {t!r}")
    paths = [t for t in types if isinstance(t, str)]
    classes = [t for t in types if isinstance(t, type)]

    def deco(rule: Rule) -> Rule:
        taken = [t.__name__ for t in classes if t in COUNTING_RULES] + [t for t in paths if t in PATH_RULES]
        if taken and not replace:  # checked for both tables first: nothing is registered when one key is refused
            raise DuplicateNameError(f"a counting rule for {', '.join(taken)} is already registered; pass replace=True "
                                     "to replace it, or count_events(model, rules={Type: rule}) to override it for one "
                                     "count")
        COUNTING_RULES.add_all(classes, rule, replace=replace)
        PATH_RULES.add_all(paths, rule, replace=replace)
        return rule

    return deco


def find_rule(module_type: type, overrides: Mapping[type, Rule] | None = None) -> Rule | None:
    """The rule for a module type: the most specific class in its MRO with a rule (a per-call
    override before a registered rule of the same type, a type before a class path)."""
    if not len(PATH_RULES):
        return COUNTING_RULES.find(module_type, overrides)
    for cls in module_type.__mro__:
        if overrides and cls in overrides:
            return overrides[cls]
        if cls in COUNTING_RULES:
            return COUNTING_RULES.get(cls)
        path = class_path(cls)
        if path in PATH_RULES:
            return PATH_RULES.get(path)
    return None
