"""SNNs from elsewhere and our own LIF neurons: SpikingJelly (``activation_based``) and snnTorch
layers and neurons, recognised by class path (the frameworks are never imported), and
:class:`~analysis.snn.LIFNeuron`.

Per neuron update (n = neurons x steps x batch of the call), as each framework computes it:

==================  ==========================================================================
``vmem_reads``       one per state variable per update (membrane; snnTorch ``Synaptic``: + current)
``vmem_writes``      the same
``add``              the charge as written: IF ``v + x`` (1); SpikingJelly LIF ``v + (x − (v − v_r))/τ``
                     or ``v − (v − v_r)/τ + x`` (2, + 1 for ``v − v_r`` when v_r ≠ 0); snnTorch
                     ``β·m + x`` (1; Synaptic 2); ours ``v_r + λ(v − v_r) + x`` (1, + 2 when v_r ≠ 0);
                     plus one per soft reset (subtract θ)
``shift``/``mul``    the leak: one per update and decay factor f (1/τ, β, α, λ): a ``shift`` where f is a
                     power of two (``leak_shift``), a ``shift`` and an ``add`` where 1 − f is
                     (``leak_shift_sub``: v − v >> k), else a ``mul`` (``leak_mul``); IF: none
``cmp``              the threshold comparison, one per update
``mask``             one per hard reset (the select of v_reset where a spike fired)
``spikes``           exact, from the output; written as address events (``output_writes``)
==================  ==========================================================================

The rule name says it: ``spikingjelly.LIFNode.leak_shift.hard_reset``. Resets are counted where they
happen (one per spike; snnTorch's delayed reset one per reset signal it applied). A multi-step
SpikingJelly layer (``step_mode='m'``) runs on ``[T, B, ...]``: its time axis is read from the input
and it is counted by the torch rule of its base class (ACs from the actual input spikes);
``SeqToANNContainer``/``MultiStepContainer`` holding one layer, a conv/linear followed by a batch norm
(counted folded, the deploy form) or one neuron are counted as that layer; anything longer is refused.
A single-step network stepped T times inside one forward (an snnTorch loop, :class:`~analysis.snn.TimeLoop`)
is counted call by call; :func:`complete_snn_ledger` then sets every layer's T (the neurons' updates
per sample) on the ledger.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from torch import Tensor, nn

from analysis.counting.nonzero import nnz
from analysis.counting.registry import PASSTHROUGH, find_rule, register_rule
from analysis.counting.signals import Context, Signal
from analysis.snn.frameworks import FRAMEWORKS, SNNTORCH, SPIKINGJELLY, NeuronSpec, is_multi_step, neuron_spec
from analysis.snn.lif import LIFNeuron
from analysis.snn.neurons import is_power_of_two
from energy_models.ledger import EventLedger

__all__ = [
    "SJ_CONTAINERS",
    "SJ_LAYERS",
    "SJ_NEURONS",
    "SNNTORCH_NEURONS",
    "complete_snn_ledger",
    "framework_neuron_rule",
    "leak_events",
    "lif_rule",
    "neuron_update_events",
    "sj_container_rule",
    "sj_layer_rule",
]

_SJ_LAYER_NAMES = ("Conv1d", "Conv2d", "Linear", "AvgPool2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten")
#: SpikingJelly's stateless layer wrappers (2.0 module layout, and the single ``layer`` module of 0.0.0.0.14).
SJ_LAYERS = (*(f"{SPIKINGJELLY}.layer.stateless_wrapper.{n}" for n in _SJ_LAYER_NAMES),
             f"{SPIKINGJELLY}.layer.bn.BatchNorm1d", f"{SPIKINGJELLY}.layer.bn.BatchNorm2d",
             *(f"{SPIKINGJELLY}.layer.{n}" for n in (*_SJ_LAYER_NAMES, "BatchNorm1d", "BatchNorm2d")))
SJ_NEURONS = tuple(f"{SPIKINGJELLY}.neuron.{m}{n}" for m, n in (
    ("integrate_and_fire.", "IFNode"), ("lif.", "LIFNode"), ("plif.", "ParametricLIFNode"),
    ("", "IFNode"), ("", "LIFNode"), ("", "ParametricLIFNode")))
SJ_CONTAINERS = tuple(f"{SPIKINGJELLY}.layer.{m}{n}" for m in ("container.", "") for n in
                      ("SeqToANNContainer", "MultiStepContainer"))
SJ_DROPOUT = tuple(f"{SPIKINGJELLY}.layer.{m}{n}" for m in ("dropout.", "") for n in ("Dropout", "Dropout2d"))
SNNTORCH_NEURONS = (f"{SNNTORCH}._neurons.leaky.Leaky", f"{SNNTORCH}._neurons.synaptic.Synaptic")
#: ``extras`` key a single-step framework neuron sets, so that the ledger gets every layer's T at the end.
SINGLE_STEP = "snn_single_step_calls"


def torch_rule(module: nn.Module):
    """The counting rule of the first ``torch.nn`` class in the module's MRO."""
    base = next((c for c in type(module).__mro__ if c.__module__.startswith("torch.")), None)
    rule = find_rule(base) if base is not None else None
    if rule is None:
        raise ValueError(f"no counting rule for the torch base class of {type(module).__name__}")
    return rule


def multi_step_context(ctx: Context, x: Tensor, name: str) -> Context:
    """The context of a ``[T, B, ...]`` input of a multi-step SpikingJelly layer: its layout is the
    layer's (time first), whatever the tensor was taken for before (the counted model's own input
    ``net(x_seq)``: the call's samples then come from its second axis, checked by its neurons)."""
    sig = ctx.signal
    if x.dim() < 2:
        raise ValueError(f"SpikingJelly multi-step layer {name!r} got {tuple(x.shape)}: it takes [T, B, ...]")
    if not sig.stepped:
        sig = Signal(sig.kind, sig.levels, steps=x.shape[0], stepped=True, known=sig.known)
    return replace(ctx, signals=(sig, *ctx.signals[1:]), steps=x.shape[0], stepped=True, batch=x.shape[1])


def _multi_step(facts: dict[str, Any], steps: int) -> dict[str, Any]:
    facts.update(timesteps=steps, repeat_steps=1)
    return facts


@register_rule(*SJ_LAYERS)
def sj_layer_rule(module: nn.Module, inputs: tuple, output: Any, ctx: Context) -> dict[str, Any]:
    """A SpikingJelly stateless layer: its torch base class's rule, on ``[T, B, ...]`` in multi-step
    mode (ACs from the actual input spikes), per call in single-step mode."""
    rule = torch_rule(module)
    if not is_multi_step(module):
        return rule(module, inputs, output, ctx)
    x = inputs[0]
    facts = rule(module, inputs, output, multi_step_context(ctx, x, ctx.name or ctx.path))
    return _multi_step(facts, x.shape[0])


@register_rule(*SJ_DROPOUT)
def sj_dropout_rule(module, inputs, output, ctx):
    """SpikingJelly dropout at evaluation: the identity (a training-mode count is refused)."""
    if module.training:
        raise ValueError(f"{ctx.name or ctx.path}: count a network in eval mode (SpikingJelly dropout is training)")
    return dict(kind="reshape", rule="dropout.identity", in_shape=tuple(inputs[0].shape[1:]),
                out_shape=tuple(output.shape[1:]), signal=ctx.signal)


# -- neurons ---------------------------------------------------------------------------------------
def leak_events(factor: float, n: float) -> tuple[str, dict[str, float]]:
    """``(tag, events)`` of n multiplications by a decay factor: a shift where it is a power of two,
    a shift and a subtraction where 1 − factor is (v − v >> k), else a multiplication."""
    if is_power_of_two(factor):
        return "leak_shift", {"shift": n}
    if 0.0 < factor < 1.0 and is_power_of_two(1.0 - factor):
        return "leak_shift_sub", {"shift": n, "add": n}
    return "leak_mul", {"mul": n}


def _charge_adds(spec: NeuronSpec) -> int:
    """Additions of one charge, as each framework writes it (see the module docstring)."""
    if spec.charge_adds is not None:
        return spec.charge_adds
    if spec.framework == SNNTORCH:
        return 2 if spec.synaptic is not None else 1
    if spec.framework == SPIKINGJELLY:
        if spec.leak is None:
            return 1
        return 2 + (1 if spec.reset == "hard" and spec.v_reset != 0.0 else 0)
    return 1 + (2 if spec.leak is not None and spec.reset == "hard" and spec.v_reset != 0.0 else 0)


def neuron_update_events(spec: NeuronSpec, n: float, resets: float, vmem_bits: int) -> tuple[str, dict[str, Any]]:
    """``(rule tag, events)`` of n neuron updates that applied ``resets`` resets."""
    events: dict[str, Any] = {"add": float(_charge_adds(spec)) * n, "mul": 0.0, "shift": 0.0, "mask": 0.0,
                              "cmp": float(n), "vmem_reads": float(spec.states * n),
                              "vmem_writes": float(spec.states * n)}
    tags = []
    factors = ([] if spec.leak is None else [spec.leak]) + ([] if spec.synaptic is None else [spec.synaptic])
    for factor in [*factors, *spec.extra_factors]:
        tag, leak = leak_events(factor, n)
        tags.append(tag)
        for key, value in leak.items():
            events[key] += value
    if spec.multi_spike:  # ⌊v/θ⌋ spikes: one division by θ per update
        theta = spec.threshold
        events["shift" if not spec.per_channel and is_power_of_two(1.0 / float(theta)) else "mul"] += n
    if spec.floor:  # the membrane clipped from below
        events["cmp"] += n
    if spec.reset == "soft":
        events["add"] += resets
    elif spec.reset == "hard":
        events["mask"] += resets
    tag = ".".join(dict.fromkeys(tags)) or "no_leak"
    return f"{tag}.{spec.reset}_reset", {k: v for k, v in events.items() if v} | {"vmem_bits": vmem_bits}


def _neuron_facts(module: nn.Module, spec: NeuronSpec, prefix: str, x: Tensor, spikes: Tensor, resets: Tensor,
                  ctx: Context, multi: bool) -> dict[str, Any]:
    steps = x.shape[0] if multi else 1
    per_sample = tuple(x.shape[2:] if multi else x.shape[1:])
    n = x.numel()
    count = nnz(spikes)
    tag, events = neuron_update_events(spec, n, resets, ctx.vmem_bits)
    facts = dict(kind="neuron", rule=f"{prefix}.{tag}", in_shape=per_sample, out_shape=per_sample,
                 neurons=math.prod(per_sample),
                 input_reads=n, output_elements=n, spikes=count, output_writes=count, output_nonzero=count,
                 act_bits=ctx.vmem_bits, out_bits=1, output_spiking=True, **events)
    if multi:
        facts.update(timesteps=steps, repeat_steps=1, signal=Signal("spike", steps=steps, stepped=True))
    else:
        ctx.extras[SINGLE_STEP] = True
        facts.update(signal=Signal("spike"))
    return facts


def _neuron_call(module: nn.Module, x: Tensor, output: Any, ctx: Context, multi: bool) -> dict[str, Any]:
    spec = neuron_spec(module)
    spikes = output[0] if isinstance(output, tuple | list) else output
    if spec.framework == SNNTORCH and spec.reset_delay and spec.reset != "none":
        resets = nnz(module.reset)  # the reset signal this update applied (the previous update's spikes)
    else:
        resets = nnz(spikes)
    return _neuron_facts(module, spec, f"{spec.framework.split('.')[0]}.{spec.kind}", x, spikes, resets, ctx, multi)


@register_rule(*SJ_NEURONS, *SNNTORCH_NEURONS)
def framework_neuron_rule(module: nn.Module, inputs: tuple, output: Any, ctx: Context) -> dict[str, Any]:
    """A SpikingJelly IF/LIF/ParametricLIF node or an snnTorch Leaky/Synaptic neuron, multi-step
    (``[T, B, ...]``) or one step per call (see the module docstring for the events)."""
    return _neuron_call(module, inputs[0], output, ctx, is_multi_step(module))


@register_rule(LIFNeuron)
def lif_rule(module: LIFNeuron, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """Our :class:`~analysis.snn.LIFNeuron`, ``[T, B, ...]`` (see the module docstring)."""
    kind = "lif_neuron" if module.leaky else "if_neuron"
    spec = NeuronSpec(framework="analysis", kind=kind, threshold=float(module.threshold),
                      reset=module.reset, v_reset=module.v_reset or 0.0, leak=module.decay if module.leaky else None,
                      reset_delay=module.reset_delay)
    facts = _neuron_facts(module, spec, spec.kind, inputs[0], output, nnz(output), ctx, True)
    facts["timesteps"] = ctx.timesteps if module.streaming else facts["timesteps"]
    return facts


# -- containers ------------------------------------------------------------------------------------
@register_rule(*SJ_CONTAINERS)
def sj_container_rule(module: nn.Module, inputs: tuple, output: Any, ctx: Context) -> dict[str, Any]:
    """``SeqToANNContainer`` / ``MultiStepContainer``: input and output ``[T, B, ...]``. One layer, a
    conv/linear with its batch norm (counted folded: the deploy form) or one neuron."""
    children = [c for c in module.children() if not isinstance(c, PASSTHROUGH)]
    x = inputs[0]
    name = ctx.name or ctx.path
    stepped = multi_step_context(ctx, x, name)
    if len(children) == 1 and neuron_like(children[0]):
        return _neuron_call(children[0], x, output, ctx, True)
    folded = (len(children) == 2 and isinstance(children[0], nn.Conv2d | nn.Linear)
              and isinstance(children[1], nn.BatchNorm1d | nn.BatchNorm2d))
    if len(children) != 1 and not folded:
        raise ValueError(
            f"{type(module).__name__} {name!r} holds {[type(c).__name__ for c in children]}: the counter counts one "
            "layer per container (or a conv/linear with its batch norm). Split it into one container per layer, "
            "or use SpikingJelly's layer.* wrappers with step_mode='m'"
        )
    layer = children[0]
    rule = find_rule(type(layer))
    if rule is None:
        raise ValueError(f"no counting rule for {type(layer).__name__} in {name!r}")
    facts = rule(layer, (x,), output, stepped)
    if folded:
        facts["notes"] = "batch norm folded into the conv/linear (deploy form)"
        if layer.bias is None:
            facts["add"] = facts.get("add", 0) + stepped.step_elements(output)  # the folded bias
    facts["module_type"] = f"{type(module).__name__}({type(layer).__name__})"
    return _multi_step(facts, x.shape[0])


def neuron_like(module: nn.Module) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in (*SJ_NEURONS, *SNNTORCH_NEURONS) for c in type(module).__mro__)


# -- the ledger ------------------------------------------------------------------------------------
_PREFIXES = tuple(f"{f.split('.')[0]}." for f in FRAMEWORKS)


def complete_snn_ledger(ledger: EventLedger, extras: dict[str, Any], stepped: bool) -> None:
    """Give a counted SpikingJelly/snnTorch network its T: the updates per sample of its neuron
    layers (all must agree) become the ledger's ``timesteps`` (``stepped``: the method has a T), and
    where the neurons ran one step per call, every module layer ran per step: its ``timesteps`` is T
    (it was counted at each call) and nothing is reused across steps (``repeat_steps`` 1)."""
    neurons = [layer for layer in ledger.layers if layer.kind == "neuron" and layer.rule.startswith(_PREFIXES)
               and layer.neurons > 0]
    if not neurons:
        return
    steps = {layer.name: layer.output_elements / layer.neurons for layer in neurons}
    distinct = {round(s, 6) for s in steps.values()}
    if len(distinct) != 1 or abs(next(iter(distinct)) - round(next(iter(distinct)))) > 1e-6:
        raise ValueError(f"the neuron layers ran different numbers of updates per sample: {steps}. count_events counts "
                         "one call of the model as one inference of all T steps (wrap a network you step yourself "
                         "in analysis.snn.TimeLoop(net, T))")
    t = max(1, round(next(iter(distinct))))
    if stepped:
        ledger.timesteps = t
    if extras.get(SINGLE_STEP):
        for layer in ledger.layers:
            if not layer.module_type.startswith("aten."):
                layer.timesteps, layer.repeat_steps = t, 1
