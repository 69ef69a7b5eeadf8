"""The hook plan of a model: what the counter does before and after each module's calls, worked out
once per model and reused by every count of it.

Walking a model to find each module's rule, and registering two to four hooks per module, cost
more than the counting itself on a small network. A :class:`Plan` is that walk's result as data:
per module, the steps to run when it starts (:data:`PUSH` its frame, :data:`FLAG` it as
unsupported, :data:`NEURON_START`, :data:`WATCH_START`) and when it ends (:data:`RULE`,
:data:`PASSTHROUGH_OP`, :data:`PSG_STASH`, :data:`FOLD_STASH`, :data:`UNFOLD`, :data:`WATCH_END`,
then its frames popped). The counter runs them from two process-wide hooks
(``torch.nn.modules.module.register_module_forward_pre_hook`` / ``..._forward_hook``), so no hook is
ever registered on the model's modules. :func:`model_facts` keeps what it found per model, weakly
(a plan is keyed by ``id(module)`` and refers to no module: it keeps no model alive), and works it
out again when the model's module tree, the rule registries or the count's rule overrides changed.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from analysis.counting.coverage import calls_children_only, forward_is_structure, is_empty_container
from analysis.counting.naming import layer_names
from analysis.counting.registry import COUNTING_RULES, PASSTHROUGH, PATH_RULES, Rule, find_rule
from analysis.methods import METHODS, MethodSpec, infer_method
from analysis.snn import (
    FoldedTime,
    IFNeuron,
    PSGLayer,
    SpikingNetwork,
    Stepwise,
    is_framework_neuron,
    looks_like_neuron,
)
from analysis.snn.neurons import PSGNeuron

__all__ = ["FLAG", "FOLD_STASH", "NEURON_START", "PASSTHROUGH_OP", "PSG_STASH", "PUSH", "RULE", "UNFOLD", "WATCH_END",
           "WATCH_START", "ModelFacts", "Plan", "model_facts", "plan_for"]

# What to do when a module starts (pre): a framework neuron's start (with its arguments: what the
# call is), its frame, its unsupported flag, the state snapshot of a leaf module without a rule ...
NEURON_START, PUSH, FLAG, WATCH_START = 0, 1, 2, 3
# ... and when it ends (post; its frames are popped after these): its rule, a pass-through of its
# input's signal, a PSGLayer's neuron's [G, B, ...] spikes stashed for the layer's rule, a
# FoldedTime's neuron's [T, B, ...] spikes stashed and passed on to its folded output, the check of
# whether a watched leaf module kept state (an unrecognised neuron)
RULE, PASSTHROUGH_OP, PSG_STASH, FOLD_STASH, UNFOLD, WATCH_END = 10, 11, 12, 13, 14, 15


@dataclass(slots=True)
class Plan:
    """``pre[id(module)]``: ``(step, payload)`` pairs run when the module starts; ``post[id(module)]``:
    those run when it returns, after which ``pops[id(module)]`` frames are popped (also when it raises).
    A :data:`RULE` payload is ``(path, rule, stepwise)``: the rule counts the module itself, or the
    inner module of a :class:`~analysis.snn.Stepwise` when ``stepwise``.
    ``names``: path -> ledger name; ``unsupported``: neurons no rule recognises, found by the walk
    (listed, or an error under ``strict``, at every count)."""

    names: dict[str, str]
    pre: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)
    post: dict[int, list[tuple[int, Any]]] = field(default_factory=dict)
    pops: dict[int, int] = field(default_factory=dict)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    #: ``ends[id(module)] = (post steps, pops)``: both of a module's end in one lookup (filled by :func:`plan_for`)
    ends: dict[int, tuple[list[tuple[int, Any]], int]] = field(default_factory=dict)


@dataclass(slots=True)
class ModelFacts:
    """What a count needs of a model's module tree, kept while the tree is unchanged (every module
    held weakly, so that the cache keeps no model alive)."""

    modules: tuple[weakref.ref, ...]
    framework_neurons: tuple[weakref.ref, ...]
    if_neurons: tuple[weakref.ref, ...]
    psg_neurons: tuple[weakref.ref, ...]
    inferred: tuple[int, MethodSpec] | None = None  # (METHODS.version, spec)
    plans: dict[tuple, Plan] = field(default_factory=dict)

    def same_tree(self, modules: tuple[nn.Module, ...]) -> bool:
        return len(modules) == len(self.modules) and all(r() is m for r, m in zip(self.modules, modules, strict=True))

    @staticmethod
    def alive(refs: tuple[weakref.ref, ...]) -> list[Any]:
        return [m for m in (r() for r in refs) if m is not None]

    def infer_method(self, model: nn.Module) -> MethodSpec:
        if self.inferred is None or self.inferred[0] != METHODS.version:
            self.inferred = (METHODS.version, infer_method(model))
        return self.inferred[1]


_FACTS: weakref.WeakKeyDictionary[nn.Module, ModelFacts] = weakref.WeakKeyDictionary()


def model_facts(model: nn.Module, modules: tuple[nn.Module, ...] | None = None) -> ModelFacts:
    """The facts of ``model``'s module tree (worked out again when a module was added, removed or
    replaced since the last count); ``modules``: ``tuple(model.modules())`` when already at hand."""
    modules = tuple(model.modules()) if modules is None else modules
    facts = _FACTS.get(model)
    if facts is None or not facts.same_tree(modules):
        facts = ModelFacts(_refs(modules), _refs(m for m in modules if is_framework_neuron(m)),
                           _refs(m for m in modules if isinstance(m, IFNeuron)),
                           _refs(m for m in modules if isinstance(m, PSGNeuron)))
        _FACTS[model] = facts
    return facts


def plan_for(model: nn.Module, facts: ModelFacts, rules: dict[type, Rule], operators: bool) -> Plan:
    """The plan of ``model`` under these rule overrides and operator-pass setting (cached in ``facts``)."""
    key = (COUNTING_RULES.version, PATH_RULES.version, tuple(rules.items()), operators)
    plan = facts.plans.get(key)
    if plan is None:
        plan = Plan(layer_names(model))
        for neuron in facts.alive(facts.framework_neurons):
            _add(plan.pre, neuron, NEURON_START, None)
        _Walk(plan, rules, operators).walk(model, "")
        plan.ends = {module_id: (plan.post.get(module_id, []), plan.pops.get(module_id, 0))
                     for module_id in plan.post.keys() | plan.pops.keys()}
        facts.plans = {key: plan}  # one plan per model: a changed registry makes the old one stale
    return plan


def _refs(modules: Any) -> tuple[weakref.ref, ...]:
    return tuple(weakref.ref(m) for m in modules)


def _add(table: dict[int, list[tuple[int, Any]]], module: nn.Module, step: int, payload: Any) -> None:
    table.setdefault(id(module), []).append((step, payload))


class _Walk:
    """The counter's walk of a model (which module gets which rule, frame and flag), into a plan."""

    def __init__(self, plan: Plan, rules: dict[type, Rule], operators: bool):
        self.plan, self.rules, self.operators = plan, rules, operators

    def track(self, module: nn.Module, path: str, covered: bool) -> None:
        """A frame pushed when the module starts, popped when it ends."""
        _add(self.plan.pre, module, PUSH, (self.plan.names.get(path, path), covered))
        self.plan.pops[id(module)] = self.plan.pops.get(id(module), 0) + 1

    def flag(self, module: nn.Module, path: str, type_name: str) -> None:
        """Listed as unsupported when it runs: a module that never runs does no uncounted work."""
        _add(self.plan.pre, module, FLAG, (path or "<root>", type_name))

    def walk(self, module: nn.Module, path: str) -> None:
        plan = self.plan
        rule = find_rule(type(module), self.rules)
        if isinstance(module, Stepwise) and rule is None:
            inner = module.module
            inner_rule = find_rule(type(inner), self.rules)
            if inner_rule is None:
                if isinstance(inner, PASSTHROUGH):
                    self.track(module, path, True)
                    _add(plan.post, module, PASSTHROUGH_OP, None)
                else:
                    self.track(module, path, True)
                    self.flag(module, path, f"Stepwise({type(inner).__name__})")
                return
            _add(plan.post, module, RULE, (path, inner_rule, True))
            self.track(module, path, True)
            return
        if rule is not None:
            _add(plan.post, module, RULE, (path, rule, False))
            if isinstance(module, PSGLayer):  # the neuron's [G, B, ...] spikes, for the layer's rule
                _add(plan.post, module.neuron, PSG_STASH, None)
            self.track(module, path, True)
            return
        if looks_like_neuron(module):
            # a stateful spiking neuron no rule recognises: never counted as its operators (a dense ANN)
            plan.unsupported.append((path, f"{type(module).__module__}.{type(module).__qualname__}"))
            self.track(module, path, True)
            return
        children = list(module.named_children())
        if isinstance(module, FoldedTime):  # a DirectSNN's training form: its folded spikes stay spikes
            _add(plan.post, module.neuron, FOLD_STASH, None)
            _add(plan.post, module, UNFOLD, None)
        if children:
            # a container: its own operators (written in its forward) are the operator pass's;
            # a SpikingNetwork's own (input check, streamed readout) are counted by the engine; an
            # nn.Sequential has none, so the pass stays off while it runs
            self.track(module, path, isinstance(module, SpikingNetwork) or calls_children_only(module))
            if not self.operators and not forward_is_structure(module):  # its own operators go unseen
                self.flag(module, path, f"{type(module).__name__}.forward (operators=False)")
            for name, child in children:
                self.walk(child, f"{path}.{name}" if path else name)
            return
        if isinstance(module, PASSTHROUGH) or is_empty_container(module):
            _add(plan.post, module, PASSTHROUGH_OP, None)
            self.track(module, path, True)
        elif self.operators and not type(module).__module__.startswith("torch."):
            # a user's leaf module without a rule: the operator pass counts (or flags) what it does,
            # and a module that keeps state across calls (an unrecognised neuron) is refused/listed
            _add(plan.pre, module, WATCH_START, None)
            _add(plan.post, module, WATCH_END, path or "<root>")
            self.track(module, path, False)
        else:
            self.track(module, path, True)
            self.flag(module, path, type(module).__name__)
