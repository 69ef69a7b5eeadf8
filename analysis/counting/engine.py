"""Rule running: the hooks of a count.

:class:`Counter` walks the model and hooks every module, keeps the stack of modules executing,
runs each module's rule (and the operator pass where no rule covers the work), and hands what the
rules return to the :class:`~analysis.counting.tracking.SignalTracker` (what each output carries)
and the :class:`~analysis.counting.ledger_builder.LedgerBuilder` (the per-layer records). It
checks every new value for NaN/Inf on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import _get_current_dispatch_mode as _current_dispatch_mode

from analysis.counting.coverage import forward_is_structure, is_empty_container
from analysis.counting.inferences import InferenceCounter
from analysis.counting.ledger_builder import LedgerBuilder
from analysis.counting.naming import layer_names
from analysis.counting.ops import OperatorPass, find_op_rule, run_op_rule
from analysis.counting.options import CountOptions
from analysis.counting.passing import as_bit_operations, check_spike_input, input_signal, moved_signals, spike_op_signal
from analysis.counting.registry import PASSTHROUGH, Rule, find_rule
from analysis.counting.rules.structure import readout_rule
from analysis.counting.signals import ANALOG_BITS, UNKNOWN, Context
from analysis.counting.tracking import SignalTracker
from analysis.counting.watch import StateWatch
from analysis.methods import MethodSpec
from analysis.snn import (
    FLOAT_WEIGHT_BITS,
    IFNeuron,
    MeanOverSteps,
    PSGLayer,
    SpikingNetwork,
    Stepwise,
    is_framework_neuron,
    looks_like_neuron,
)
from energy_models.ledger import EventLedger

__all__ = ["Counter", "NonFiniteError"]

#: Layer kinds whose output is not checked for NaN/Inf. Raising: only layers that make new values
#: from weights or arithmetic (conv, linear, norm, add, other, operators) are checked, since a
#: neuron, a pool or a reshape of finite values is finite, so the first non-finite value is still
#: reported at the layer that made it; flagging counts them in every layer.
_NO_NEW_VALUES = {"raise": ("reshape", "neuron", "pool", "encoder"), "flag": ("reshape",)}


class NonFiniteError(ValueError):
    """A counted layer produced NaN/Inf values (``count_events(on_nonfinite="raise")``)."""


@dataclass
class _Frame:
    """One module executing: its ledger name and whether a rule covers the work inside it."""

    name: str
    covered: bool
    op_calls: dict[str, int] = field(default_factory=dict)


class Counter:
    """The hooks of one count of ``model`` into ``ledger`` as method ``spec`` (``options`` with the
    method's widths filled in, :meth:`CountOptions.for_method`): :meth:`attach` before the forward
    passes, :meth:`detach` and :meth:`finish` after them (:func:`~analysis.counting.count_events`
    does all three)."""

    def __init__(self, model: nn.Module, ledger: EventLedger, spec: MethodSpec, options: CountOptions):
        self.model = model
        self.ledger = ledger
        self.spec = spec
        self.options = options
        self.rules = options.rules
        self.op_rules = options.op_rules
        self.names = layer_names(model)
        self.tracker = SignalTracker()
        self.builder = LedgerBuilder(ledger, spec, self.names)
        self.handles: list[Any] = []
        self.extras: dict[str, Any] = {}
        # samples: every call's batch, but a call that continues an inference (a network stepped from outside)
        self.inferences = InferenceCounter([m for m in model.modules() if is_framework_neuron(m)])
        self.stack: list[_Frame] = []
        self.busy = False  # inside counter code: operators are the counter's own
        self.mode = (OperatorPass(self._op_covered, self._on_op, self._has_op_rule, self._on_reshape)
                     if options.operators else None)
        self.mode_active = False
        self.watch = StateWatch(self._unsupported, self._quiet)  # unrecognised stateful leaf modules
        # Streaming IF layout: layers on the analog (unstepped) input run again at every timestep
        # although their output does not change; the reference counts them once per forward.
        self.streaming = False
        self.seen_unstepped: set[str] = set()

    # -- hooks -----------------------------------------------------------------------------------
    def attach(self) -> None:
        self.handles.append(self.model.register_forward_pre_hook(self._root_pre, with_kwargs=True))
        for neuron in self.inferences.neurons:
            self.handles.append(neuron.register_forward_pre_hook(self._neuron_starts))
        if isinstance(self.model, SpikingNetwork):
            self.handles.append(self.model.register_forward_hook(self._root_post))
        self._walk(self.model, "")

    def detach(self) -> None:
        self.stack.clear()
        self._sync_mode()
        while self.handles:
            self.handles.pop().remove()
        if self.mode_active:  # a mode entered after ours is still on: ours cannot leave first
            raise RuntimeError(
                "count_events: a TorchDispatchMode entered inside the count_events block is still active when "
                "the block ends; exit it inside the block (nest the with-statements)"
            )

    def _track(self, module: nn.Module, path: str, covered: bool) -> None:
        """Push a frame when the module starts, pop it when it ends (also when it raises)."""
        frame_name = self.names.get(path, path)

        def push(m, args):
            self.stack.append(_Frame(frame_name, covered))
            self._sync_mode()

        def pop(m, args, output):
            if self.stack:
                self.stack.pop()
            self._sync_mode()

        self.handles.append(module.register_forward_pre_hook(push))
        self.handles.append(module.register_forward_hook(pop, always_call=True))

    def _walk(self, module: nn.Module, path: str) -> None:
        rule = find_rule(type(module), self.rules)
        if isinstance(module, Stepwise) and rule is None:
            inner = module.module
            inner_rule = find_rule(type(inner), self.rules)
            if inner_rule is None:
                self._track(module, path, True)
                if isinstance(inner, PASSTHROUGH):
                    self.handles.append(module.register_forward_hook(self._passthrough))
                else:
                    self._flag_when_run(module, path, f"Stepwise({type(inner).__name__})")
                return
            self.handles.append(module.register_forward_hook(self._make_hook(path, inner_rule, inner, module),
                                                             with_kwargs=True))
            self._track(module, path, True)
            return
        if rule is not None:
            self.handles.append(module.register_forward_hook(self._make_hook(path, rule, module), with_kwargs=True))
            if isinstance(module, PSGLayer):  # the neuron's [G, B, ...] spikes, for the layer's rule
                self.handles.append(module.neuron.register_forward_hook(self._stash_psg))
            self._track(module, path, True)
            return
        if rule is None and looks_like_neuron(module):
            # a stateful spiking neuron no rule recognises: never counted as its operators (a dense ANN)
            self._unsupported(path, f"{type(module).__module__}.{type(module).__qualname__}")
            self._track(module, path, True)
            return
        children = list(module.named_children())
        if children:
            # a container: its own operators (written in its forward) are the operator pass's;
            # a SpikingNetwork's own (input check, streamed readout) are counted by the engine
            self._track(module, path, isinstance(module, SpikingNetwork))
            if self.mode is None and not forward_is_structure(module):  # its own operators go unseen
                self._flag_when_run(module, path, f"{type(module).__name__}.forward (operators=False)")
            for name, child in children:
                self._walk(child, f"{path}.{name}" if path else name)
            return
        if isinstance(module, PASSTHROUGH) or is_empty_container(module):
            self.handles.append(module.register_forward_hook(self._passthrough))
        elif self.mode is not None and not type(module).__module__.startswith("torch."):
            # a user's leaf module without a rule: the operator pass counts (or flags) what it does,
            # and a module that keeps state across calls (an unrecognised neuron) is refused/listed
            self.handles.extend(self.watch.attach(module, path or "<root>"))
            self._track(module, path, False)
            return
        else:
            self._track(module, path, True)
            self._flag_when_run(module, path, type(module).__name__)
            return
        self._track(module, path, True)

    def _flag_when_run(self, module: nn.Module, path: str, type_name: str) -> None:
        """List ``module`` as unsupported (strict: raise) when it runs: a module that never runs
        (an empty branch, an unused head) does no uncounted work."""
        where = path or "<root>"

        def flag(m, args):
            if (where, type_name) not in self.ledger.unsupported:
                self._unsupported(where, type_name)

        self.handles.append(module.register_forward_pre_hook(flag))

    def _unsupported(self, path: str, type_name: str) -> None:
        if self.options.strict:
            raise ValueError(
                f"count_events(strict=True): no counting rule for module {path!r} of type {type_name}. Register one "
                f"with analysis.counting.register_rule({type_name.split('(')[-1].rstrip(')')})(fn), where "
                "fn(module, inputs, output, ctx) returns the LayerEvents fields, or pass strict=False to list it "
                "in ledger.unsupported"
            )
        self.ledger.unsupported.append((path, type_name))

    def _root_pre(self, module, args, kwargs) -> None:
        self.stack.clear()
        self._sync_mode()
        x = next((t for t in (*args, *kwargs.values()) if isinstance(t, Tensor)), None)
        if isinstance(module, SpikingNetwork):
            self.streaming = module.resolved_layout == "stream"
            self.seen_unstepped.clear()
        if isinstance(x, Tensor) and x.dim() > 0:
            axis = self.options.time_axis
            if axis is None:
                axis = getattr(module, "input_time_axis", None)
            if self.options.input_spikes:
                check_spike_input(x)
            stacked = isinstance(module, IFNeuron) or (isinstance(module, Stepwise) and module.onepass_groups is None)
            if axis is not None and x.dim() < 2:
                raise ValueError(f"count_events(time_axis={axis}): the input {tuple(x.shape)} has no batch axis beside "
                                 "its time axis")
            batch = x.shape[1] if (stacked or axis == 0) and x.dim() > 1 else x.shape[0]
            if axis == 0 and self.spec.is_time_stepped and not isinstance(module, SpikingNetwork):
                self.ledger.timesteps = int(x.shape[0])  # a declared [T, B, ...] input says T
            self.inferences.call(int(batch), tuple(x.shape), declared=axis is not None)
            self.tracker.set_signal(x, input_signal(x, self.options.input_spikes, 0 if stacked else axis))

    def _root_post(self, module: SpikingNetwork, inputs, output) -> None:
        # The streaming layout averages the steps itself instead of calling the readout module.
        if module.resolved_layout != "stream":
            return
        readout = module.body[-1] if isinstance(module.body, nn.Sequential) and len(module.body) else None
        if isinstance(readout, MeanOverSteps):
            path = f"body.{list(module.body._modules)[-1]}"
            ctx = self._context(path, (), None)
            ctx.steps, ctx.batch = module.steps, output.shape[0]
            self.busy = True
            try:
                self._record(path, readout, dict(readout_rule(readout, (), output, ctx)), ctx)
            finally:
                self.busy = False

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """The counter's own tensor reads inside a forward: no operators of the network."""
        busy, self.busy = self.busy, True
        try:
            with torch.no_grad():
                yield
        finally:
            self.busy = busy

    def _neuron_starts(self, module: nn.Module, args: tuple) -> None:
        with self._quiet():
            self.inferences.neuron_starts(module, args)

    def _passthrough(self, module, inputs, output) -> None:
        if inputs:
            self.tracker.pass_through(inputs[0], output)

    def _stash_psg(self, module, inputs, output) -> None:
        self.extras["psg_spikes"] = output

    def _context(self, path: str, inputs: tuple, stepwise: Stepwise | None) -> Context:
        signals = tuple(self.tracker.signal_of(t) for t in inputs if isinstance(t, Tensor))
        x = next((t for t in inputs if isinstance(t, Tensor)), None)
        sig = signals[0] if signals else UNKNOWN
        axis = None
        if stepwise is not None:
            axis = stepwise.axis
            if stepwise.onepass_groups is not None:
                steps, stepped, batch = stepwise.onepass_groups, False, x.shape[0]
            else:
                steps, stepped, batch = x.shape[0], True, x.shape[1]
        elif x is None:
            steps, stepped, batch = 1, False, 0
        elif sig.stepped:
            steps, stepped, batch = x.shape[0], True, x.shape[1]
        else:
            steps, stepped, batch = sig.steps, False, x.shape[0]
        ledger, options = self.ledger, self.options
        return Context(path=path, method=ledger.method, signals=signals, steps=steps, stepped=stepped, batch=batch,
                       axis=axis, timesteps=ledger.timesteps, groups=ledger.groups, weight_bits=options.weight_bits,
                       vmem_bits=options.vmem_bits, track_ties=options.track_ties, extras=self.extras,
                       name=self.names.get(path, path))

    def _make_hook(self, path: str, rule: Rule, target: nn.Module, stepwise: Stepwise | None = None):
        def hook(module, args, kwargs, output):
            inputs = (*args, *(v for v in kwargs.values() if isinstance(v, Tensor)))
            # a neuron returning (spikes, membrane), as snnTorch's do: the signal is the spikes'
            if isinstance(output, tuple | list) and output and isinstance(output[0], Tensor):
                output = output[0]
            self.busy = True
            try:
                with torch.no_grad():
                    ctx = self._context(path, inputs, stepwise)
                    facts = dict(rule(target, inputs, output, ctx))
                    self.extras.pop("psg_spikes", None)
                    sig = facts.get("signal")
                    if sig is not None:
                        self.tracker.set_signal(output, sig)
                    if self.streaming and not ctx.stepped and ctx.steps == 1 and stepwise is None and (
                        sig is None or sig.single_step
                    ):
                        if path in self.seen_unstepped:
                            return  # the same analog computation again: counted once per forward
                        self.seen_unstepped.add(path)
                    kind = facts.get("kind")
                    name = self._record(path, target, facts, ctx)
                    self._link(name, kind, inputs[0] if inputs else None, output)
                    self._check_finite(name, type(target).__name__, kind, output)
            finally:
                self.busy = False

        return hook

    # -- operator pass ---------------------------------------------------------------------------
    def _sync_mode(self) -> None:
        """The dispatch mode is on only while an uncovered module (a container, the root, a user's
        leaf without a rule) is executing: inside rule-covered modules, and outside the model, the
        operators cost nothing extra. A mode entered after ours (the user's) is left alone: ours then
        stays on and its ``covered`` check passes the operators through."""
        if self.mode is None:
            return
        want = bool(self.stack) and not self.stack[-1].covered
        if want == self.mode_active:
            return
        if want:
            self.mode.__enter__()
            self.mode_active = True
        elif _current_dispatch_mode() is self.mode:
            self.mode.__exit__(None, None, None)
            self.mode_active = False

    def _op_covered(self) -> bool:
        return self.busy or not self.stack or self.stack[-1].covered

    def _has_op_rule(self, name: str) -> bool:
        return find_op_rule(name, self.op_rules) is not None

    def _on_op(self, func, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        frame = self.stack[-1]
        self.busy = True
        try:
            with torch.no_grad():
                facts = run_op_rule(name, args, kwargs, out, self.op_rules)
                if facts is None:
                    self._unsupported_op(frame.name, name)
                    return
                calls = frame.op_calls[name] = frame.op_calls.get(name, 0) + 1
                layer = f"{frame.name}/{name}"
                if calls > 1:
                    layer = f"{layer}#{calls}"
                x = next((a for a in args if isinstance(a, Tensor)), None)
                facts.setdefault("rule", f"op.{name}")
                if self.mode.decomposing:
                    facts.setdefault("notes", f"counted through aten.{self.mode.decomposing[0]}'s decomposition")
                facts.setdefault("act_bits", self.tracker.signal_of(x).bits if x is not None else ANALOG_BITS)
                facts.setdefault("out_bits", ANALOG_BITS)
                if facts.get("mac"):  # an operand of an operator is no layer the quantizer marked: float
                    facts.setdefault("weight_bits", self.options.weight_bits or FLOAT_WEIGHT_BITS)
                facts.setdefault("in_shape", tuple(x.shape[1:]) if x is not None and x.dim() else ())
                result = out[0] if isinstance(out, tuple | list) else out
                spikes = spike_op_signal(name, args, out, self.tracker.signal_of)
                if spikes is not None:
                    facts = as_bit_operations(name, facts, out)
                    facts.update(output_spiking=True)
                    self.tracker.set_signal(result, spikes)
                kind = facts.get("kind")
                record_name = self.builder.record_op(layer, f"aten.{name}", facts)
                self._link(record_name, kind, x, result)
                self._check_finite(record_name, f"aten.{name}", kind, result)
        finally:
            self.busy = False

    def _on_reshape(self, name: str, args: tuple, out: Any) -> None:
        """A data-moving operator written in a forward (``spk.flatten(1)``, ``x[t]``, ``chunk``,
        ``cat``) passes its input's signal on (:func:`~analysis.counting.passing.moved_signals`)."""
        for tensor, sig in moved_signals(name, args, out, self.tracker.signal_of):
            self.tracker.set_signal(tensor, sig)

    def _unsupported_op(self, where: str, name: str) -> None:
        entry = (where or "<root>", f"aten.{name}")
        if self.options.strict:
            raise ValueError(
                f"count_events(strict=True): operator aten.{name} in module {entry[0]!r} does arithmetic that no "
                f"counting rule covers. Register an operator rule with analysis.counting.register_op_rule({name!r})"
                "(fn), or move the computation into a module with a rule (register_rule), or pass strict=False to "
                "list it in ledger.unsupported"
            )
        if entry not in self.ledger.unsupported:
            self.ledger.unsupported.append(entry)

    # -- what the rules found ---------------------------------------------------------------------
    def _link(self, name: str, kind: str | None, x: Tensor | None, output: Any) -> None:
        producer = self.tracker.link(name, kind, x, output)
        if producer is not None:
            self.builder.mark_fused(producer, name)

    def _check_finite(self, name: str, what: str, kind: str | None, output: Any) -> None:
        """NaN/Inf in a layer's new values: an error naming the layer, or flagged in its record."""
        if not isinstance(output, Tensor) or not output.is_floating_point():
            return
        policy = self.options.on_nonfinite
        if kind in _NO_NEW_VALUES[policy]:
            return
        if torch.isfinite(output.sum()):
            return
        bad = int((~torch.isfinite(output)).sum())
        if bad == 0:  # the sum overflowed; every value is finite
            return
        if policy == "raise":
            raise NonFiniteError(
                f"count_events: layer {name!r} ({what}) of the {self.ledger.method!r} network produced {bad} NaN/Inf "
                "value(s); its counts would be wrong. Check the input and weights, or pass "
                "count_events(..., on_nonfinite='flag') to record them in the ledger (LayerEvents.nonfinite_values)"
            )
        self.builder.flag_nonfinite(name, bad)

    def _record(self, path: str, module: nn.Module, facts: dict[str, Any], ctx: Context) -> str:
        sig = facts.pop("signal", None)
        return self.builder.record(path, type(module).__name__, facts, per_step=ctx.stepped or ctx.steps > 1,
                                   single_step_output=sig is None or sig.single_step)

    def finish(self) -> None:
        """Write the ledger: every layer's counts per sample."""
        self.inferences.settle()
        if self.inferences.inferred_time_axis is not None:
            self.ledger.meta.setdefault("time_axis", self.inferences.inferred_time_axis)
            self.ledger.meta.setdefault("time_axis_inferred", True)
        elif self.options.time_axis is not None:
            self.ledger.meta.setdefault("time_axis", self.options.time_axis)
        if self.options.input_spikes:
            self.ledger.meta.setdefault("input_spikes", True)
        if self.inferences.continued:
            self.ledger.meta.setdefault("continued_calls", self.inferences.continued)
        self.builder.finish(self.inferences.samples)
        self.watch.finish(self.ledger, self.spec)
