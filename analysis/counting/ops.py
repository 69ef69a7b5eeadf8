"""The operator-level pass: counting that cannot miss work.

Module rules see only modules. Work written in a ``forward`` (``out += identity``, ``x @ self.w``,
``F.conv2d``, ``F.relu``, attention) is invisible to them. A :class:`TorchDispatchMode` runs beside
the hooks; the engine keeps a stack of the modules executing and turns the mode on only while a
module without a rule (a container, the root, a user's leaf module) is executing, so operators
inside a rule-covered module (its work is in that rule) cost nothing extra. An operator that runs
directly in such a module is **uncovered**: it is counted by an operator
rule from :data:`OP_RULES` into its own ledger layer, named ``<module name>/<op>`` (``/<op>`` at
the root; ``#2``, ``#3`` for later calls of the same op in one forward of that module; a ``/`` is
never part of a module path, so the names cannot collide with module layers; the converter names
the module it makes of the call the same: :mod:`~analysis.counting.naming`), or, when it has no rule and does
arithmetic, listed in ``ledger.unsupported`` as ``(module name, "aten.<op>")``; ``strict=True``
raises. Operators in :data:`FREE_OPS` move or view data and do no arithmetic.

Rules are registered per aten operator (:func:`register_op_rule`; a taken name is refused unless
``replace=True``, and ``count_events(op_rules={name: rule})`` overrides rules for one count). An
operator without a rule of its own that has a decomposition into the Core ATen operator set
(``torch._decomp.core_aten_decompositions``: ``silu``, ``hardswish``, ``addcmul``, ``lerp``, ``mv``,
...) runs as that decomposition, so it is counted through the operators it is made of (as torch's
flop counter falls back on ``decompose()``); the rest is listed as unsupported.

An operator rule is ``rule(args, kwargs, out) -> {LayerEvents field: value}`` with events as totals
over the call (the counter divides by the samples). This module holds the pass and the registry;
the rules themselves are :mod:`analysis.counting.rules.operators` (arithmetic, products,
convolution, attention, pooling, batch norm) and :mod:`analysis.counting.rules.functional` (the
functional activations and normalisations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from torch.utils._python_dispatch import (
    TorchDispatchMode,
    _get_current_dispatch_mode,
    _pop_torch_dispatch_stack,
    _push_on_torch_dispatch_stack,
)

from analysis.registry import Registry

__all__ = ["FREE_OPS", "OP_RULES", "OpRule", "OperatorPass", "decompositions", "find_op_rule", "op_base_name",
           "register_op_rule", "run_op_rule"]

OpRule = Callable[[tuple, dict, Any], dict[str, Any]]
#: Operator rules by aten op name (in-place variants share the name: ``add_`` is ``add``).
OP_RULES: Registry[OpRule] = Registry(
    "operator rule", duplicate_hint=", or count_events(model, op_rules={name: rule}) to override it for one count")

#: Operators that view, move, create or inspect data: no arithmetic to count.
FREE_OPS: frozenset[str] = frozenset("""
view _unsafe_view reshape _reshape_alias t transpose permute expand expand_as unsqueeze squeeze flatten
unflatten select slice narrow split split_with_sizes chunk unbind cat stack clone contiguous _to_copy to copy
detach alias lift_fresh lift_fresh_copy empty empty_like empty_strided zeros zeros_like ones ones_like full
full_like fill zero rand rand_like randn randn_like randint arange new_empty new_empty_strided new_zeros
new_ones new_full as_strided index_select gather constant_pad_nd isfinite isnan isinf all any _local_scalar_dense
is_nonzero equal sym_size sym_stride sym_numel native_dropout dropout masked_fill where scalar_tensor repeat
_unsafe_index index _assert_async _assert_tensor_metadata resolve_conj resolve_neg conj _conj set_ masked_select
""".split())


def op_base_name(func: Any) -> str:
    """``aten.add_.Tensor`` -> ``add`` (the in-place variant shares the out-of-place name)."""
    name = func.overloadpacket.__name__
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


def register_op_rule(*names: str, replace: bool = False) -> Callable[[OpRule], OpRule]:
    """Register an operator rule for aten op names (``"add"``, ``"mm"``, ...); a taken name is
    refused unless ``replace=True``. Several names share a rule only where the formula is the same."""
    return OP_RULES.register(*names, replace=replace)


@functools.cache
def decompositions() -> dict[Any, Callable[..., Any]]:
    """torch's decompositions into the Core ATen operator set, by operator overload. Loaded on the
    first operator that needs one: ``torch._decomp`` imports torch's reference implementations
    (a third of a second), which most counts never use."""
    from torch._decomp import core_aten_decompositions

    table = core_aten_decompositions()  # a lazy mapping whose .get() does not see every entry
    return {op: table[op] for op in table}


def find_op_rule(name: str, overrides: Mapping[str, OpRule] | None = None) -> OpRule | None:
    """The rule for aten op ``name``: a per-call override before a registered rule; None when
    neither has one."""
    if overrides and name in overrides:
        return overrides[name]
    return OP_RULES.get(name) if name in OP_RULES else None


class OperatorPass(TorchDispatchMode):
    """Sees every aten operator while active; hands the uncovered ones to ``on_op``.

    ``covered()`` (a zero-argument callable) says whether the operator runs where a module rule
    already counts it (or outside the counted model); only then is it passed straight through.
    ``has_rule(name)`` says whether an operator has a rule (for this count); one without a rule
    but with a Core ATen decomposition runs as that decomposition, its operators coming back
    through this pass. ``on_free(name, args, out)``, when given, sees the uncovered free operators
    (a reshape written in a forward passes its input's signal on)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in a dynamo-disabling shim that imports
        # torch._dynamo on first use (seconds) and adds a frame per operator; this mode never runs
        # under torch.compile's tracing, so it opts out
        return False

    def __init__(self, covered: Callable[[], bool], on_op: Callable[[Any, str, tuple, dict, Any], None],
                 has_rule: Callable[[str], bool] = lambda name: name in OP_RULES,
                 on_free: Callable[[str, tuple, Any], None] | None = None):
        super().__init__()
        self.covered = covered
        self.on_op = on_op
        self.has_rule = has_rule
        self.on_free = on_free  # free (data-moving) operators: the engine passes a tensor's signal on
        self.names: dict[Any, str] = {}
        #: the operators being run as their decomposition, outermost first
        self.decomposing: list[str] = []
        self.entered = False  # entered (TorchDispatchMode's bookkeeping done), on the dispatch stack or not
        self.on_stack = False

    # The engine turns the pass on and off around every rule-covered module a container calls (SqueezeNet:
    # about 60 times a forward). TorchDispatchMode.__enter__/__exit__ keep flags that only torch.compile
    # reads besides pushing and popping the mode (2.0 us a pair); the pass is entered once while a model
    # runs and in between only pushed onto and popped off the dispatch stack (0.7 us a pair).
    def resume(self) -> None:
        """Turn the pass on: entered the first time, then pushed back onto the dispatch stack."""
        if not self.entered:
            self.__enter__()
            self.entered = True
        elif not self.on_stack:
            _push_on_torch_dispatch_stack(self)
        self.on_stack = True

    def suspend(self) -> bool:
        """Take the pass off the dispatch stack, still entered; False (nothing done) when a mode
        entered after it is on top, which it cannot leave under."""
        if self.on_stack:
            if _get_current_dispatch_mode() is not self:
                return False
            _pop_torch_dispatch_stack(None)
            self.on_stack = False
        return True

    def leave(self) -> bool:
        """Exit the pass for good (until the next :meth:`resume`); False when a mode entered after it
        is on top."""
        if not self.entered:
            return True
        if self.on_stack and _get_current_dispatch_mode() is not self:
            return False
        if not self.on_stack:
            _push_on_torch_dispatch_stack(self)
        self.__exit__(None, None, None)
        self.entered = self.on_stack = False
        return True

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.covered():
            return func(*args, **kwargs)
        name = self.names.get(func)
        if name is None:
            name = self.names[func] = op_base_name(func)
        if name in FREE_OPS:
            out = func(*args, **kwargs)
            if self.on_free is not None:
                self.on_free(name, args, out)
            return out
        if not self.has_rule(name):
            decomposition = decompositions().get(func)
            if decomposition is not None:
                self.decomposing.append(name)
                try:
                    with self:  # the mode is off while it handles an operator: back on for the parts
                        return decomposition(*args, **kwargs)
                finally:
                    self.decomposing.pop()
        out = func(*args, **kwargs)
        self.on_op(func, name, args, kwargs, out)
        return out


def run_op_rule(name: str, args: tuple, kwargs: dict, out: Any,
                overrides: Mapping[str, OpRule] | None = None) -> dict[str, Any] | None:
    """The facts of one uncovered operator, or None when no rule counts it."""
    rule = find_op_rule(name, overrides)
    return None if rule is None else rule(args, kwargs, out)
