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
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from analysis.counting.finite import FiniteCheck, NonFiniteError
from analysis.counting.inferences import InferenceCounter
from analysis.counting.ledger_builder import LedgerBuilder
from analysis.counting.naming import MOVE_ROWS, move_row, nth_call, op_layer_name
from analysis.counting.nonzero import NonzeroMaps
from analysis.counting.ops import OperatorPass, find_op_rule, run_op_rule
from analysis.counting.options import CountOptions
from analysis.counting.passing import as_bit_operations, check_spike_input, input_signal, moved_signals, spike_op_signal
from analysis.counting.plan import (
    FLAG,
    FOLD_STASH,
    NEURON_START,
    PASSTHROUGH_OP,
    PSG_STASH,
    PUSH,
    RULE,
    UNFOLD,
    ModelFacts,
    model_facts,
    plan_for,
)
from analysis.counting.registry import Rule
from analysis.counting.rules.structure import readout_rule
from analysis.counting.signals import ANALOG_BITS, UNKNOWN, Context, Signal
from analysis.counting.tracking import SignalTracker
from analysis.counting.watch import StateWatch
from analysis.methods import MethodSpec
from analysis.snn import (
    FLOAT_WEIGHT_BITS,
    IFNeuron,
    MeanOverSteps,
    SpikingNetwork,
    Stepwise,
)
from energy_models.ledger import EventLedger

__all__ = ["Counter", "NonFiniteError"]  # NonFiniteError: from analysis.counting.finite

class Counter:
    """The hooks of one count of ``model`` into ``ledger`` as method ``spec`` (``options`` with the
    method's widths filled in, :meth:`CountOptions.for_method`): :meth:`attach` before the forward
    passes, :meth:`detach` and :meth:`finish` after them (:func:`~analysis.counting.count_events`
    does all three)."""

    def __init__(self, model: nn.Module, ledger: EventLedger, spec: MethodSpec, options: CountOptions,
                 facts: ModelFacts | None = None):
        self.model = model
        self.ledger = ledger
        self.spec = spec
        self.options = options
        self.rules = options.rules
        self.op_rules = options.op_rules
        facts = facts if facts is not None else model_facts(model)
        self.plan = plan_for(model, facts, options.rules, options.operators)
        self.names = self.plan.names
        self.calls: dict[Any, int] | None = None if spec.is_time_stepped else {}  # a forward's, naming.nth_call
        self.root_snn = isinstance(model, SpikingNetwork)
        self.tracker = SignalTracker()
        self.nonzero = NonzeroMaps()  # each tensor's non-zero map, shared by its producer and readers
        self.builder = LedgerBuilder(ledger, spec, self.names)
        self.handles: list[Any] = []
        self.extras: dict[str, Any] = {}
        # samples: every call's batch, but a call that continues an inference (a network stepped from outside)
        self.inferences = InferenceCounter(facts.alive(facts.framework_neurons))
        # the modules executing, each a (ledger name with its call's #k, covered by a rule) pair: no object per call
        self.stack: list[tuple[str, bool]] = []
        self.busy = False  # inside counter code: operators are the counter's own
        self.mode = (OperatorPass(self._op_covered, self._on_op, self._has_op_rule, self._on_reshape)
                     if options.operators else None)
        self.watch = StateWatch(self._unsupported, self._quiet)  # unrecognised stateful leaf modules
        self.check_finite = FiniteCheck(options.on_nonfinite, ledger.method, self.builder.flag_nonfinite)
        # the one context of this count, refilled for every rule call (see Context)
        self.ctx = Context("", ledger.method, (), 1, False, 0, None, ledger.timesteps, ledger.groups,
                           options.weight_bits, options.vmem_bits, options.track_ties, self.extras, "", self.nonzero)
        # Streaming IF layout: layers on the analog (unstepped) input run again at every timestep
        # although their output does not change; the reference counts them once per forward.
        self.streaming = False
        self.seen_unstepped: set[str] = set()

    # -- hooks -----------------------------------------------------------------------------------
    def attach(self) -> None:
        # the root's own hook sees keyword inputs (``model(input=x)``); every other module is served
        # by the two process-wide hooks, which run the plan's steps for the modules of this model
        self.handles.append(self.model.register_forward_pre_hook(self._root_pre, with_kwargs=True))
        self.handles.append(register_module_forward_pre_hook(self._pre))
        self.handles.append(register_module_forward_hook(self._post, with_kwargs=True, always_call=True))
        for path, type_name in self.plan.unsupported:
            self._unsupported(path, type_name)

    def detach(self) -> None:
        self.stack.clear()
        self._sync_mode()
        while self.handles:
            self.handles.pop().remove()
        if self.mode is not None and self.mode.on_stack:  # a mode entered after ours is on: ours cannot leave first
            raise RuntimeError(
                "count_events: a TorchDispatchMode entered inside the count_events block is still active when "
                "the block ends; exit it inside the block (nest the with-statements)"
            )

    def _pre(self, module: nn.Module, args: tuple) -> None:
        steps = self.plan.pre.get(id(module))
        # the root's steps run from its own hook; a module the counter itself calls (a rule applying
        # a pool to one group's spikes) is the counter's work, not the model's
        if steps is not None and module is not self.model and not self.busy:
            self._run_pre(module, steps, args)

    def _run_pre(self, module: nn.Module, steps: list[tuple[int, Any]], args: tuple) -> None:
        for step, payload in steps:
            if step == PUSH:
                # the frame: the plan's (name, covered) pair, named with its call's index where calls are told apart
                frame = payload if self.calls is None else (nth_call(payload[0], self.calls, id(module)), payload[1])
                self.stack.append(frame)
                if self.mode is not None and frame[1] == self.mode.on_stack:  # the mode's state changes
                    self._sync_mode()
            elif step == FLAG:
                if payload not in self.ledger.unsupported:
                    self._unsupported(*payload)
            elif step == NEURON_START:  # a framework neuron: the first of a call says what the call is
                with self._quiet():
                    self.inferences.neuron_starts(module, args)
            else:  # WATCH_START: the state an unrecognised leaf module holds before it runs
                self.watch.start(module)

    def _post(self, module: nn.Module, args: tuple, *rest: Any) -> None:
        """After a module's forward: ``rest`` is ``(kwargs, output)``, or ``(output,)`` when the
        forward raised (then only its frames are popped)."""
        end = self.plan.ends.get(id(module))
        if end is None or self.busy:
            return
        steps, pops = end
        try:
            if len(rest) == 2:
                if self.root_snn and module is self.model:
                    self._root_post(module, args, rest[1])
                for step, payload in steps:
                    if step == RULE:
                        self._on_rule(module, payload, args, rest[0], rest[1])
                    else:
                        self._run_post(module, step, payload, args, rest[0], rest[1])
        finally:
            if pops:
                stack = self.stack
                for _ in range(pops):
                    if stack:
                        stack.pop()
                if self.mode is not None and (not stack or stack[-1][1] == self.mode.on_stack):  # off, on, or left
                    self._sync_mode()

    def _run_post(self, module: nn.Module, step: int, payload: Any, args: tuple, kwargs: dict, output: Any) -> None:
        if step == RULE:
            self._on_rule(module, payload, args, kwargs, output)
        elif step == PASSTHROUGH_OP:
            if args:
                self.tracker.pass_through(args[0], output)
        elif step == PSG_STASH:  # a PSGLayer's neuron's [G, B, ...] spikes, for the layer's rule
            self.extras["psg_spikes"] = output
        elif step == FOLD_STASH:  # a FoldedTime's neuron's [T, B, ...] spikes ...
            self.extras["folded_spikes"] = output
        elif step == UNFOLD:  # ... stay spikes folded to [T·B, ...]
            self.tracker.pass_through(self.extras.pop("folded_spikes", output), output)
        else:  # WATCH_END: an unrecognised leaf module that kept state is a neuron
            self.watch.end(module, payload, output)

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
        if self.calls is not None:
            self.calls.clear()
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
        steps = self.plan.pre.get(id(module))
        if steps is not None:
            self._run_pre(module, steps, args)

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

    def _context(self, path: str, inputs: tuple, stepwise: Stepwise | None) -> Context:
        """The count's one :class:`Context`, filled in for a call of the module at ``path``."""
        signal_of = self.tracker.signal_of
        if len(inputs) == 1 and isinstance(inputs[0], Tensor):  # the common case, without generators
            x = inputs[0]
            signals: tuple[Signal, ...] = (signal_of(x),)
        else:
            signals = tuple(signal_of(t) for t in inputs if isinstance(t, Tensor))
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
        ctx, ledger = self.ctx, self.ledger
        ctx.path, ctx.signals, ctx.steps, ctx.stepped, ctx.batch, ctx.axis = path, signals, steps, stepped, batch, axis
        ctx.timesteps, ctx.groups, ctx.name = ledger.timesteps, ledger.groups, self.names.get(path, path)
        return ctx

    def _on_rule(self, module: nn.Module, payload: tuple[str, Rule, bool], args: tuple, kwargs: dict,
                 output: Any) -> None:
        path, rule, stepped = payload
        target, stepwise = (module.module, module) if stepped else (module, None)
        inputs = (*args, *(v for v in kwargs.values() if isinstance(v, Tensor))) if kwargs else args
        # a neuron returning (spikes, membrane), as snnTorch's do: the signal is the spikes'
        if isinstance(output, tuple | list) and output and isinstance(output[0], Tensor):
            output = output[0]
        self.busy = True
        grad = torch.is_grad_enabled()  # the rule's own tensor work records no graph
        if grad:
            torch.set_grad_enabled(False)
        try:
            ctx = self._context(path, inputs, stepwise)
            if self.stack:  # the module's own frame: its name with its call's index
                ctx.name = self.stack[-1][0]
            facts = dict(rule(target, inputs, output, ctx))
            self.extras.pop("psg_spikes", None)
            sig = facts.pop("signal", None)
            if sig is not None:
                self.tracker.set_signal(output, sig)
            single_step = sig is None or sig.single_step
            if self.streaming and not ctx.stepped and ctx.steps == 1 and stepwise is None and single_step:
                if path in self.seen_unstepped:
                    return  # the same analog computation again: counted once per forward
                self.seen_unstepped.add(path)
            kind = facts.get("kind")
            what = type(target).__name__
            name = self.builder.record(path, what, facts, ctx.stepped or ctx.steps > 1, single_step, ctx.name)
            producer = self.tracker.link(name, kind, inputs[0] if inputs else None, output)
            if producer is not None:
                self.builder.mark_fused(producer, name)
            self.check_finite(name, what, kind, output)
        finally:
            self.busy = False
            if grad:
                torch.set_grad_enabled(True)

    # -- operator pass ---------------------------------------------------------------------------
    def _sync_mode(self) -> None:
        """The dispatch mode is on only while an uncovered module (a container, the root, a user's
        leaf without a rule) is executing: inside rule-covered modules, and outside the model, the
        operators cost nothing extra. Between the model's start and end the pass stays entered and is
        only taken off the dispatch stack (:meth:`OperatorPass.suspend`). A mode entered after ours
        (the user's) is left alone: ours then stays on and its ``covered`` check passes the operators
        through."""
        mode, stack = self.mode, self.stack
        if mode is None:
            return
        if not stack:  # outside the model, or at its end
            mode.leave()
        elif not stack[-1][1]:
            mode.resume()
        else:
            mode.suspend()

    def _op_covered(self) -> bool:
        return self.busy or not self.stack or self.stack[-1][1]

    def _has_op_rule(self, name: str) -> bool:
        return find_op_rule(name, self.op_rules) is not None

    def _on_op(self, func, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        where = self.stack[-1][0]
        self.busy = True
        try:
            with torch.no_grad():
                facts = run_op_rule(name, args, kwargs, out, self.op_rules)
                if facts is None:
                    self._unsupported_op(where, name)
                    return
                layer = op_layer_name(where, name, self.calls)
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
                self.check_finite(record_name, f"aten.{name}", kind, result)
        finally:
            self.busy = False

    def _on_reshape(self, name: str, args: tuple, out: Any) -> None:
        """A data-moving operator written in a forward (``spk.flatten(1)``, ``x[t]``, ``chunk``,
        ``cat``) passes its input's signal on (:func:`~analysis.counting.passing.moved_signals`); a
        concatenation of tensors whose non-zero maps are known has their sum as its map."""
        if name == "cat" and isinstance(out, Tensor) and args:
            self.nonzero.concatenated(args[0], args[1] if len(args) > 1 else 0, out)
        if name in MOVE_ROWS and self.calls is not None and not self.mode.decomposing:  # a row in every form
            self.builder.record_op(*move_row(self.stack[-1][0], self.calls, name, args, out))
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

    def _record(self, path: str, module: nn.Module, facts: dict[str, Any], ctx: Context) -> str:
        sig = facts.pop("signal", None)
        return self.builder.record(path, type(module).__name__, facts, per_step=ctx.stepped or ctx.steps > 1,
                                   single_step_output=sig is None or sig.single_step, name=ctx.name)

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
