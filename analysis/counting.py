"""Instrumented forward pass: count what a network does, layer by layer, into an ``EventLedger``.

Usage::

    with count_events(model, method="if") as ledger:
        model(x)
    ledger.total("ac"); ledger.summary()

How it works
------------
Forward hooks are registered on every counted module; they are always removed when the block ends,
also when the forward raises. Nothing of the model changes (mode, parameters, buffers). Every
counted call goes through a **rule** looked up by module type in :data:`COUNTING_RULES` (most
specific type first). A rule is a small pure function ``rule(module, inputs, output, ctx) -> dict``
returning :class:`~energy_models.ledger.LayerEvents` fields (events as totals over the batch of this
call; the counter sums calls and divides by the number of samples), plus ``"signal"``: what the
output tensor carries. Users add rules with :func:`register_rule`.

Signals: whether a tensor holds spikes comes from the module that produced it, never from its
values. An IF/PSG neuron (or a spike encoder, which is one) emits ``spike``; average pooling of
spikes gives ``pooled_spike``; QCFS/ClampQuant give ``quant`` (L levels); BinaryActivation gives
``binary``; the network input and every other output are ``analog``. Flatten/Identity/Dropout pass
the signal through. Each tensor's signal is kept in a weak-keyed table (no tensor is kept alive).

Layouts: counts follow the **reference semantics** of each method, so an IF SNN gives the same
ledger in the ``sequence`` and ``stream`` layouts, and OneSpike the same in ``grouped`` and
``onepass``: e.g. in the one-pass layout a conv sees Σ_g s_g, but the bias is still added once per
group and a PSG layer on grouped input still performs its G−1 additions.

Containers (``nn.Sequential``, :class:`~analysis.snn.SpikingNetwork`, residual blocks, any
module with children and no rule) are traversed, not counted. :class:`~analysis.snn.Stepwise`
is counted with its inner module's rule, knowing the step axis. A leaf module with no rule (other
than Identity/Dropout) is listed in ``ledger.unsupported``; ``strict=True`` makes it an error.

Conventions used by the rules (per call; S = steps/groups the tensor stands for, B = batch):

- ``weight_bits``: ann 32; qcfs/cq/if/onespike 8 (``count_events(weight_bits=...)``); bnn: binary
  layers 1, real layers 32 (or ``weight_bits``).
- ``act_bits`` of a synaptic layer's input: spikes 1; ``quant`` ``ceil(log2(L+1))``; pooled spikes
  ``ceil(log2(levels+1))``; binary ±1: 1; analog 32. ``out_bits`` of conv/linear: 32 (accumulator).
- ``vmem_bits``: 16 (``count_events(vmem_bits=...)``) for IF and PSG neurons.
- ``weight_reads``: logical, one weight word per ``ac``/``mac`` (per xnor bit for BNN layers).
- Spikes are written as address events: a neuron's ``output_writes`` = its spikes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

from analysis.snn import InputClamp, MeanOverSteps, PSGLayer, RepeatSteps, SpikingNetwork, Stepwise
from analysis.snn.neurons import (
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    BinaryLinear,
    IFNeuron,
    PSGNeuron,
    is_power_of_two,
)
from energy_models.ledger import ACTIVITY, EVENTS, METHODS, EventLedger, LayerEvents

__all__ = [
    "COUNTING_RULES",
    "Context",
    "Rule",
    "Signal",
    "conv_fanout_map",
    "count_events",
    "register_rule",
]

#: Bits of an analog value (pixels, ANN activations, currents) and of a conv/linear accumulator.
ANALOG_BITS = 32
#: A decision is a tie when it lies within this many units of float rounding of the threshold.
TIE_ULPS = 4


# -- signals ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Signal:
    """What a tensor carries, set by the module that produced it.

    ``kind``: ``analog`` | ``quant`` | ``spike`` | ``pooled_spike`` | ``binary``. ``levels``: the
    number of non-zero levels (L for ``quant``; the pooling window for ``pooled_spike``).
    ``steps``: steps/groups the tensor stands for; ``stepped``: a leading step axis is present
    (otherwise, with ``steps > 1``, the tensor is the sum over the groups: one-pass OneSpike).
    ``per_step``: the explicit ``[S, B, ...]`` form of such a sum when a rule needs it (pooled spikes),
    or a zero-argument function computing it, so that one-pass OneSpike builds it only when asked.
    ``weighted``: the sum is weighted by per-group spike values (not a plain count).
    ``known``: False for tensors no hooked module produced (then treated as analog, with a note).
    """

    kind: str = "analog"
    levels: int = 0
    steps: int = 1
    stepped: bool = False
    per_step: Tensor | Callable[[], Tensor] | None = None
    weighted: bool = False
    known: bool = True

    @property
    def bits(self) -> int:
        if self.kind in ("spike", "binary"):
            return 1
        if self.kind in ("quant", "pooled_spike") and self.levels > 0:
            return max(1, math.ceil(math.log2(self.levels + 1)))
        return ANALOG_BITS


UNKNOWN = Signal(known=False)


@dataclass
class Context:
    """What a rule knows about one call besides the module and its tensors.

    ``signals``: one :class:`Signal` per tensor input. ``steps``/``stepped``/``batch``: the layout of
    the input tensor (see :class:`Signal`). ``axis``: ``"time"`` or ``"group"`` inside a
    :class:`~analysis.snn.Stepwise`, else None. ``timesteps``/``groups``: the network's T and G.
    ``weight_bits``: for non-binary weights. ``extras``: values other hooks left for this call
    (``"psg_spikes"``: the ``[G, B, ...]`` output of a PSGLayer's neuron).
    """

    path: str
    method: str
    signals: tuple[Signal, ...]
    steps: int
    stepped: bool
    batch: int
    axis: str | None
    timesteps: int
    groups: int
    weight_bits: int
    vmem_bits: int
    track_ties: bool
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def signal(self) -> Signal:
        return self.signals[0] if self.signals else UNKNOWN

    def sample_shape(self, t: Tensor) -> tuple[int, ...]:
        """Shape of one sample at one step (no step or batch axis)."""
        return tuple(t.shape[2:] if self.stepped else t.shape[1:])

    def per_sample(self, t: Tensor) -> int:
        return math.prod(self.sample_shape(t))

    def step_elements(self, t: Tensor) -> int:
        """Elements over the batch and all S steps/groups the tensor stands for."""
        return self.per_sample(t) * self.batch * self.steps

    def out_signal(self, kind: str = "analog", **kw: Any) -> Signal:
        return Signal(kind, steps=self.steps, stepped=self.stepped, **kw)


Rule = Callable[[nn.Module, tuple, Any, Context], dict[str, Any]]
#: Counting rules by module type: ``rule(module, inputs, output, ctx) -> {LayerEvents field: value}``.
COUNTING_RULES: dict[type, Rule] = {}
#: Leaf modules that do nothing worth counting: their output carries their input's signal.
PASSTHROUGH: tuple[type, ...] = (nn.Identity, nn.Dropout)


def register_rule(*types: type) -> Callable[[Rule], Rule]:
    """Register a counting rule for module types (decorator); users may add their own.

    The rule receives ``(module, inputs, output, ctx: Context)`` and returns
    :class:`~energy_models.ledger.LayerEvents` fields: ``kind`` and ``rule`` names, events and
    activity counts as **totals over the call's batch** (the counter divides by the samples), shape
    facts per sample, and optionally ``"signal"``: the :class:`Signal` of its output.
    """

    def deco(rule: Rule) -> Rule:
        for t in types:
            COUNTING_RULES[t] = rule
        return rule

    return deco


def find_rule(module_type: type) -> Rule | None:
    for cls in module_type.__mro__:
        if cls in COUNTING_RULES:
            return COUNTING_RULES[cls]
    return None


# -- helpers ----------------------------------------------------------------------------------------
def _shift_or_mul(factor: float) -> str:
    """A scaling by a power of two is a shift; anything else a multiplication."""
    return "shift" if is_power_of_two(float(factor)) else "mul"


def _nnz(t: Tensor) -> Tensor:
    return torch.count_nonzero(t)


def _spike_total(t: Tensor) -> Tensor:
    return t.sum(dtype=torch.float64)


_FANOUT_CACHE: dict[tuple, Tensor] = {}


def conv_fanout_map(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``[H, W]`` float64: how many output positions (of one output channel) each input position
    reaches, edges, padding, stride and dilation included (cached per layer geometry).

    It is the gradient of Σ conv_ones(x) with respect to x (= ``conv_transpose2d`` of a ones map of the
    output shape with a ones kernel). A spike at position p of input channel c reaches
    ``fanout[p] · out_channels / groups`` synapses.
    """
    key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.padding_mode, height, width, str(device))
    cached = _FANOUT_CACHE.get(key)
    if cached is not None:
        return cached
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.zeros(1, 1, height, width, dtype=torch.float64, requires_grad=True)
        w = torch.ones(1, 1, *conv.kernel_size, dtype=torch.float64)
        if conv.padding_mode != "zeros":
            padded = nn.functional.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            y = nn.functional.conv2d(padded, w, None, conv.stride, 0, conv.dilation)
        else:
            y = nn.functional.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation)
        (grad,) = torch.autograd.grad(y.sum(), x)
    fanout = grad[0, 0].detach().to(device) if device is not None else grad[0, 0].detach()
    _FANOUT_CACHE[key] = fanout
    return fanout


def _weight_bits(module: nn.Module, ctx: Context) -> int:
    if isinstance(module, BinaryConv2d | BinaryLinear):
        return 1
    return ctx.weight_bits


def _synapse_facts(module: nn.Module, x: Tensor, y: Tensor, ctx: Context) -> dict[str, Any]:
    facts: dict[str, Any] = dict(
        synapses=module.weight.numel(),
        in_shape=ctx.sample_shape(x),
        out_shape=ctx.sample_shape(y),
        neurons=ctx.per_sample(y),
        weight_bits=_weight_bits(module, ctx),
        act_bits=ctx.signal.bits,
        out_bits=ANALOG_BITS,
        input_spiking=ctx.signal.kind == "spike",
        input_elements=ctx.step_elements(x),
        output_writes=ctx.step_elements(y),
    )
    if isinstance(module, nn.Conv2d):
        facts.update(kind="conv", in_channels=module.in_channels, out_channels=module.out_channels,
                     kernel_size=module.kernel_size, stride=module.stride,
                     padding=module.padding if not isinstance(module.padding, str) else ())
    else:
        facts.update(kind="linear", in_channels=module.in_features, out_channels=module.out_features,
                     kernel_size=(1,), stride=(1,), padding=(0,))
    if module.bias is not None:
        facts["add"] = ctx.step_elements(y)  # one bias add per output neuron per step/group
    if not ctx.signal.known:
        facts["notes"] = "input produced outside hooked modules: counted as analog"
    return facts


def _position_dims(x: Tensor, linear: bool) -> tuple[int, ...]:
    """Dims to sum so that a map over input positions remains (conv: H, W; linear: nothing)."""
    return tuple(range(x.dim())) if linear else tuple(range(x.dim() - 2))


def _resolve(per_step: Tensor | Callable[[], Tensor]) -> Tensor:
    """A signal's per-step form, computed now if it was left lazy (one-pass OneSpike)."""
    return per_step() if callable(per_step) else per_step


def _lazy_apply(module: nn.Module, per_step: Tensor | Callable[[], Tensor], shape: torch.Size) -> Callable[[], Tensor]:
    """Apply a stateless layer to each step of a (lazy) per-step tensor, only if a rule asks for it."""

    def compute() -> Tensor:
        p = _resolve(per_step)
        return module(p.flatten(0, 1)).reshape(p.shape[0], *shape)

    return compute


def _count_map(x: Tensor, sig: Signal) -> Tensor:
    """The spike count per element summed over the steps/groups (the tensor itself in one-pass)."""
    if sig.weighted and sig.per_step is not None:
        return _resolve(sig.per_step).sum(dim=0)
    return x


def _nonzero_stepped(x: Tensor, sig: Signal) -> Tensor:
    """The tensor with an explicit step axis where non-zero entries are per step (pooled spikes)."""
    if not sig.stepped and sig.steps > 1 and sig.per_step is not None:
        return _resolve(sig.per_step)
    return x


# -- synaptic layers --------------------------------------------------------------------------------
@register_rule(nn.Conv2d, nn.Linear)
def synapse_rule(module: nn.Module, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """Conv2d / Linear, by the signal of the input (never by its values):

    - ``spike`` (IF/PSG output, possibly through flatten): ``ac`` = Σ over input spikes of the
      synapses each reaches = Σ_pos count(pos)·fanout(pos)·C_out/groups (conv; edges, padding and
      stride included), spikes·out_features (linear); rule ``conv.spike_input``/``linear.spike_input``.
    - ``pooled_spike`` (average pooling of spikes: fractional values): ``mac`` over the non-zero
      inputs only, each reaching its fan-out, with ``act_bits`` = bits of the pool's levels
      (``*.pooled_spike_input``).
    - ``quant`` / ``analog`` / ``binary`` (±1, real weights): dense ``mac`` = output elements ·
      (C_in/groups)·k_h·k_w per step (``*.quant_input``/``*.analog_input``/``*.binary_input``).

    Plus one bias ``add`` per output neuron per step/group; ``weight_reads`` = one word per ac/mac;
    ``input_reads`` = per non-zero spike (spike and pooled input) or per element (dense input);
    ``output_writes`` = output elements per step/group.
    """
    x = inputs[0]
    sig = ctx.signal
    linear = isinstance(module, nn.Linear)
    name = "linear" if linear else "conv"
    facts = _synapse_facts(module, x, output, ctx)
    dense = float(ctx.step_elements(output)) * (module.weight[0].numel())  # out · (C_in/g)·kh·kw
    if sig.kind in ("spike", "pooled_spike"):
        source = _count_map(x, sig) if sig.kind == "spike" else (_nonzero_stepped(x, sig) != 0)
        if linear:
            weight = module.out_features
            total = source.sum(dtype=torch.float64)
            synaptic = total * weight
        else:
            fanout = conv_fanout_map(module, x.shape[-2], x.shape[-1], x.device)
            per_pos = source.sum(dim=_position_dims(source, False), dtype=torch.float64)
            total = per_pos.sum()
            synaptic = (per_pos * fanout).sum() * (module.out_channels // module.groups)
        event = "ac" if sig.kind == "spike" else "mac"
        facts.update({event: synaptic, "weight_reads": synaptic, "input_reads": total, "input_nonzero": total,
                      "rule": f"{name}.{sig.kind}_input"})
    else:
        nonzero = _nnz(x)
        if not ctx.stepped and ctx.steps > 1:  # a one-pass sum of a current repeated in every group
            nonzero = nonzero * ctx.steps
        kind = sig.kind if sig.kind in ("quant", "binary") else "analog"
        facts.update(mac=dense, weight_reads=dense, input_reads=facts["input_elements"], input_nonzero=nonzero,
                     rule=f"{name}.{kind}_input")
    facts["signal"] = ctx.out_signal()
    return facts


@register_rule(BinaryConv2d, BinaryLinear)
def binary_synapse_rule(module: nn.Module, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """Binary-weight conv/linear (XNOR-Net). With ±1 input (``binary`` signal): ``xnor`` and
    ``popcount`` in bits, each = the layer's dense MACs; 1-bit ``weight_reads`` (one per xnor);
    the α scaling one ``mul`` per output; bias one ``add`` per output (rule ``*.binary``). Any other
    input: dense ``mac`` with 1-bit weights (``*.binary_weight``) and the α ``mul``.
    """
    x = inputs[0]
    facts = _synapse_facts(module, x, output, ctx)
    name = facts["kind"]
    dense = float(ctx.step_elements(output)) * module.weight[0].numel()
    outputs = ctx.step_elements(output)
    if ctx.signal.kind == "binary":
        facts.update(xnor=dense, popcount=dense, rule=f"{name}.binary")
    else:
        facts.update(mac=dense, rule=f"{name}.binary_weight")
    facts.update(weight_reads=dense, mul=outputs, input_reads=facts["input_elements"], input_nonzero=_nnz(x),
                 signal=ctx.out_signal())
    return facts


# -- neurons and activations ------------------------------------------------------------------------
def _neuron_facts(x: Tensor, y: Tensor, ctx: Context, kind: str = "neuron") -> dict[str, Any]:
    n = ctx.step_elements(y)
    return dict(kind=kind, in_shape=ctx.sample_shape(x), out_shape=ctx.sample_shape(y), neurons=ctx.per_sample(y),
                input_reads=n, output_elements=n)


@register_rule(nn.ReLU)
def relu_rule(module, inputs, output, ctx):
    """ReLU: one ``cmp`` per element per step; reads and writes each element (32 bit)."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    nonzero = _nnz(output)
    facts.update(rule="relu", cmp=n, output_writes=n, output_nonzero=nonzero, act_bits=ANALOG_BITS,
                 out_bits=ANALOG_BITS, signal=ctx.out_signal())
    return facts


@register_rule(QCFS)
def quant_rule(module: QCFS, inputs, output, ctx):
    """QCFS / ClampQuant, per element: 1 ``mul`` (x·L/λ), 1 ``add`` for the shift φ (none when
    φ = 0, i.e. ClampQuant), the floor is a truncation (free), 2 ``cmp`` (clip to [0, L]); the
    rescale λ/L folds into the next layer's weights (free). Output: ``quant`` with L levels,
    ``out_bits`` = ceil(log2(L+1))."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    signal = ctx.out_signal("quant", levels=module.levels)
    facts.update(rule="qcfs" if module.shift else "clamp_quant", mul=n, add=n if module.shift else 0, cmp=2 * n,
                 output_writes=n, output_nonzero=_nnz(output), act_bits=ANALOG_BITS, out_bits=signal.bits,
                 signal=signal)
    return facts


@register_rule(BinaryActivation)
def binary_activation_rule(module, inputs, output, ctx):
    """Sign activation: one ``cmp`` per element; output ±1 (``binary``, 1 bit)."""
    facts = _neuron_facts(inputs[0], output, ctx)
    n = facts["input_reads"]
    facts.update(rule="sign", cmp=n, output_writes=n, output_nonzero=n, act_bits=ANALOG_BITS, out_bits=1,
                 signal=ctx.out_signal("binary"))
    return facts


def _tie_tolerance(dtype: torch.dtype, magnitude: Tensor, operations: int) -> Tensor:
    """How far a float computation of ``operations`` roundings on values of ``magnitude`` can drift:
    a membrane closer than this to the threshold could fire in one precision and not another."""
    return TIE_ULPS * torch.finfo(dtype).eps * magnitude * operations


def _if_ties(module: IFNeuron, x: Tensor, spikes: Tensor) -> Tensor:
    """Count (neuron, step) membranes u_t within float rounding of θ by replaying the recursion
    (the bound grows with the steps accumulated: t additions and subtractions of values ≤ |u| + θ)."""
    theta = module.threshold.to(x.dtype)
    if module.streaming:  # the membrane after this step is kept: u = v + θ·s
        u = module._membrane + theta * spikes[0]
        return ((u - theta).abs() <= _tie_tolerance(x.dtype, u.abs() + theta, 2)).sum()
    v = torch.full_like(x[0], float(module.v_init)) * theta
    ties = torch.zeros((), dtype=torch.int64, device=x.device)
    for t in range(x.shape[0]):
        v = v + x[t]
        ties = ties + ((v - theta).abs() <= _tie_tolerance(x.dtype, v.abs() + theta, 2 * (t + 1))).sum()
        v = v - spikes[t] * theta
    return ties


@register_rule(IFNeuron)
def if_rule(module: IFNeuron, inputs, output, ctx):
    """IF neuron (reset by subtraction), per neuron per timestep: 1 ``vmem_read``, 1 ``add``
    (u = v + x), 1 ``cmp`` (u ≥ θ), 1 ``vmem_write``; plus 1 ``add`` per spike (the reset u − θ).
    Reads its input current once per step; writes its spikes as events. ``spikes`` exact (count of
    non-zeros of the output). ``threshold_ties`` (``track_ties=True``): membranes within float
    rounding of θ (see ``_if_ties``).
    """
    x = inputs[0]
    ctx = replace(ctx, steps=x.shape[0], stepped=True, batch=x.shape[1])  # always [T, B, ...]
    facts = _neuron_facts(x, output, ctx, "encoder" if ".encoder" in f".{ctx.path}" else "neuron")
    n = facts["input_reads"]
    spikes = _nnz(output)
    facts.update(rule="if", vmem_reads=n, vmem_writes=n, add=spikes + n, cmp=n, spikes=spikes, output_writes=spikes,
                 output_nonzero=spikes, act_bits=ctx.vmem_bits, out_bits=1, vmem_bits=ctx.vmem_bits,
                 output_spiking=True, timesteps=ctx.timesteps,
                 signal=Signal("spike", steps=output.shape[0], stepped=True))
    if ctx.track_ties:
        facts["threshold_ties"] = _if_ties(module, x, output)
    return facts


def _psg_ties(neuron: PSGNeuron, total: Tensor) -> Tensor:
    """Count (neuron, group) decisions V_i + x − θ within float rounding of 0 (V_i = (v + i·x) mod θ
    takes a division, a multiplication, an addition and a remainder on values up to |v| + G·|x|)."""
    theta = neuron.threshold.to(total.dtype)
    x = total / neuron.groups
    i = neuron._group_index(neuron.groups, total)
    residual = torch.remainder(neuron.v_init * theta + i * x, theta)
    margin = residual + x - theta
    return (margin.abs() <= _tie_tolerance(total.dtype, theta + neuron.groups * x.abs(), 6)).sum()


def _psg_counts(neuron: PSGNeuron, n: int, total_spikes: Tensor, source: str, ctx: Context) -> dict[str, Any]:
    """Events of one PSG layer over ``n`` neurons (the batch included) that emitted ``total_spikes``.
    ``source``: ``grouped`` (G group currents), ``analog`` (one current, the same in every group) or
    ``total`` (a bare PSGNeuron given the total current)."""
    g = neuron.groups
    counts: dict[str, float] = dict.fromkeys(("add", "mul", "mod", "shift", "mask", "cmp"), 0.0)
    if source == "grouped":
        counts["add"] += (g - 1) * n  # I = Σ_g x_g
        reads = g * n
    else:
        if source == "analog":
            counts[_shift_or_mul(g)] += n  # I = G·x
        reads = n
    if neuron.per_group:
        counts[_shift_or_mul(g)] += n  # x = I / G
        counts["add"] += g * n  # v + x
        counts["cmp"] += g * n
        rule = "psg.per_group"
    elif neuron.mode == "hardware":
        counts["add"] += 2 * g * n  # running sum A_i (+I) and the carry test A_i mod Gθ + I
        counts["mask"] += g * n
        counts["cmp"] += g * n
        rule = "psg.hardware"
    else:
        counts[_shift_or_mul(g)] += n  # x = I / G
        counts["mul"] += g * n  # i·x
        counts["mod"] += g * n  # mod θ
        counts["add"] += g * n * (2 if neuron.v_init else 1)  # V_i + x (and v + i·x when v ≠ 0)
        counts["cmp"] += g * n
        rule = "psg.exact"
    if neuron.per_group:
        counts["add"] = counts["add"] + total_spikes  # the reset by subtraction of the scan
    return dict(counts, rule=f"{rule}.{source}_input", spikes=total_spikes, output_writes=total_spikes,
                output_nonzero=total_spikes, output_elements=g * n, input_reads=reads,
                vmem_reads=n, vmem_writes=n, neurons=n // max(ctx.batch, 1), groups=g, act_bits=ctx.vmem_bits,
                vmem_bits=ctx.vmem_bits, out_bits=1, output_spiking=True, kind="neuron")


@register_rule(PSGLayer)
def psg_layer_rule(module: PSGLayer, inputs, output, ctx):
    """PSG layer (OneSpike), per neuron: sum the group currents, (G−1) ``add`` (grouped input) or
    one ``shift`` (G·x, G a power of two, else ``mul``; analog first-layer input). Then
    ``exact`` mode: x = I/G one shift/mul, and per group 1 ``mul`` (i·x), 1 ``mod``, 1 ``add``
    (V_i + x; +1 add for v + i·x when v_init ≠ 0), 1 ``cmp``. ``hardware`` mode: per group 1 ``add``
    (running sum A_i), 1 ``mask`` (mod Gθ), 1 ``add`` (+I), 1 ``cmp`` (carry). Per-group thresholds:
    x = I/G, per group 1 ``add``, 1 ``cmp``, 1 ``add`` per spike (reset). Membrane: no state crosses
    timesteps; the total current is written once and read once (``vmem_reads = vmem_writes =
    neurons``). Spikes exact, from the neuron's ``[G, B, ...]`` output, written as events.
    """
    x = inputs[0]
    source = "grouped" if module.grouped_input else "analog"
    stacked = module.grouped_input and not module.onepass  # input [G, B, ...]
    batch = x.shape[1] if stacked else x.shape[0]
    spikes = ctx.extras.get("psg_spikes")
    if spikes is None and not module.onepass:
        spikes = output
    if spikes is not None:  # the explicit [G, B, ...] spike maps
        n, total_spikes, out_shape = spikes[0].numel(), _nnz(spikes), tuple(spikes.shape[2:])
    else:  # one-pass: the output is the spike-count map Σ_g s_g; per-group maps only if a rule asks
        n, total_spikes, out_shape = output.numel(), output.sum(), tuple(output.shape[1:])
        total = x if module.grouped_input else x * module.groups

        def spikes(neuron=module.neuron, total=total):
            return neuron(total)

    facts = _psg_counts(module.neuron, n, total_spikes, source, replace(ctx, batch=batch))
    facts.update(in_shape=tuple(x.shape[2:] if stacked else x.shape[1:]), out_shape=out_shape)
    if ".encoder" in f".{ctx.path}":
        facts["kind"] = "encoder"
    if ctx.track_ties and not module.neuron.per_group:
        total = x.sum(0) if stacked else x
        facts["threshold_ties"] = _psg_ties(module.neuron, total if module.grouped_input else total * module.groups)
    g = module.groups
    if module.onepass:
        facts["signal"] = Signal("spike", steps=g, stepped=False, per_step=spikes,
                                 weighted=module.spike_scales is not None)
    else:
        facts["signal"] = Signal("spike", steps=g, stepped=True)
    return facts


@register_rule(PSGNeuron)
def psg_neuron_rule(module: PSGNeuron, inputs, output, ctx):
    """A bare PSGNeuron given the total current ``[B, ...]``: the PSG layer rule without the
    summation of group currents (``psg.*.total_input``)."""
    facts = _psg_counts(module, output[0].numel(), _nnz(output), "total", replace(ctx, batch=inputs[0].shape[0]))
    facts.update(in_shape=tuple(inputs[0].shape[1:]), out_shape=tuple(output.shape[2:]),
                 signal=Signal("spike", steps=module.groups, stepped=True))
    if ctx.track_ties and not module.per_group:
        facts["threshold_ties"] = _psg_ties(module, inputs[0])
    return facts


# -- other arithmetic -------------------------------------------------------------------------------
def _pool_windows(module: nn.Module, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(window adds, shifts, muls, largest window)`` per output map of one channel.

    AvgPool2d: every output sums k_h·k_w values (padding included) and divides by k_h·k_w (or
    ``divisor_override``); AdaptiveAvgPool2d: the exact window of each output."""
    if isinstance(module, nn.AvgPool2d):
        kh, kw = (module.kernel_size, module.kernel_size) if isinstance(module.kernel_size, int) else module.kernel_size
        window = kh * kw
        divisor = module.divisor_override or window
        outputs = out_hw[0] * out_hw[1]
        pow2 = is_power_of_two(divisor)
        return (window - 1) * outputs, outputs if pow2 else 0, 0 if pow2 else outputs, window
    adds = shifts = muls = largest = 0
    rows = [(math.floor(i * in_hw[0] / out_hw[0]), math.ceil((i + 1) * in_hw[0] / out_hw[0])) for i in range(out_hw[0])]
    cols = [(math.floor(j * in_hw[1] / out_hw[1]), math.ceil((j + 1) * in_hw[1] / out_hw[1])) for j in range(out_hw[1])]
    for r0, r1 in rows:
        for c0, c1 in cols:
            window = (r1 - r0) * (c1 - c0)
            adds += window - 1
            largest = max(largest, window)
            if is_power_of_two(window):
                shifts += 1
            else:
                muls += 1
    return adds, shifts, muls, largest


_POOL_CACHE: dict[tuple, tuple[int, int, int, int]] = {}


@register_rule(nn.AvgPool2d, nn.AdaptiveAvgPool2d)
def avgpool_rule(module, inputs, output, ctx):
    """Average pooling, per output element per step/group: window−1 ``add`` and one divide, a
    ``shift`` when the divisor is a power of two, else a ``mul`` (windows as pooled, padding
    included). Reads every input element, writes every output. Spikes in -> ``pooled_spike`` out
    (levels = window size); quantized in -> ``quant`` with L·window levels."""
    x = inputs[0]
    in_hw, out_hw = tuple(x.shape[-2:]), tuple(output.shape[-2:])
    key = (type(module), getattr(module, "kernel_size", None), getattr(module, "divisor_override", None), in_hw, out_hw)
    if key not in _POOL_CACHE:
        _POOL_CACHE[key] = _pool_windows(module, in_hw, out_hw)
    adds, shifts, muls, window = _POOL_CACHE[key]
    maps = ctx.per_sample(output) // (out_hw[0] * out_hw[1]) * ctx.batch * ctx.steps  # channel maps over steps
    sig = ctx.signal
    per_step = None
    if sig.kind in ("spike", "pooled_spike"):
        out_kind, levels = "pooled_spike", max(sig.levels, 1) * window
        if not sig.stepped and sig.steps > 1 and sig.per_step is not None:
            per_step = _lazy_apply(module, sig.per_step, output.shape)
    elif sig.kind == "quant":
        out_kind, levels = "quant", sig.levels * window
    else:
        out_kind, levels = "analog", 0
    n_out = ctx.step_elements(output)
    return dict(kind="pool", rule="avgpool", add=adds * maps, shift=shifts * maps, mul=muls * maps,
                input_reads=ctx.step_elements(x), output_writes=n_out,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(x), out_shape=ctx.sample_shape(output),
                kernel_size=(window,) if isinstance(module, nn.AdaptiveAvgPool2d) else module.kernel_size,
                stride=getattr(module, "stride", ()), padding=getattr(module, "padding", ()),
                act_bits=sig.bits, out_bits=ANALOG_BITS if out_kind == "analog" else Signal(out_kind, levels).bits,
                signal=ctx.out_signal(out_kind, levels=levels, per_step=per_step))


@register_rule(nn.BatchNorm1d, nn.BatchNorm2d)
def batchnorm_rule(module, inputs, output, ctx):
    """Unfolded batch norm (inference): y = a·x + b, 1 ``mul`` + 1 ``add`` per element per step."""
    n = ctx.step_elements(output)
    return dict(kind="norm", rule="batchnorm", mul=n, add=n, input_reads=n, output_writes=n,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), act_bits=ctx.signal.bits, out_bits=ANALOG_BITS,
                signal=ctx.out_signal())


@register_rule(nn.Flatten)
def flatten_rule(module, inputs, output, ctx):
    """Flatten: no events (a reshape); the signal passes through."""
    sig = ctx.signal
    per_step = None
    if sig.per_step is not None:
        per_step = _lazy_apply(module, sig.per_step, output.shape)
    return dict(kind="reshape", rule="reshape", in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), neurons=ctx.per_sample(output),
                signal=replace(sig, per_step=per_step, known=sig.known))


def _residual_rule(module, inputs, output, ctx):
    """ResidualAdd: one ``add`` per output element per step/group; reads both inputs, writes the sum."""
    n = ctx.step_elements(output)
    return dict(kind="add", rule="residual_add", add=n, input_reads=2 * n, output_writes=n,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(inputs[0]),
                out_shape=ctx.sample_shape(output), act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                signal=ctx.out_signal())


def _shortcut_scale_rule(module, inputs, output, ctx):
    """ShortcutScale: one ``shift`` (power-of-two scale) or ``mul`` per element per step/group; a
    scale of exactly 1 is free (rule ``scale.identity``). Output: a current (analog)."""
    n = ctx.step_elements(output)
    scale = float(module.scale)
    facts = dict(kind="other", in_shape=ctx.sample_shape(inputs[0]), out_shape=ctx.sample_shape(output),
                 neurons=ctx.per_sample(output), act_bits=ctx.signal.bits, out_bits=ANALOG_BITS,
                 signal=ctx.out_signal())
    if scale == 1.0:
        facts["rule"] = "scale.identity"
    else:
        facts.update({"rule": "scale", _shift_or_mul(scale): n, "input_reads": n, "output_writes": n})
    return facts


@register_rule(RepeatSteps)
def repeat_rule(module, inputs, output, ctx):
    """RepeatSteps / RepeatGroups: the same current at every step/group, a view (no events)."""
    sig = ctx.signal
    if isinstance(module, RepeatSteps):
        out = Signal(sig.kind, sig.levels, steps=output.shape[0], stepped=True)
    elif getattr(module, "onepass_groups", None) is not None:
        out = Signal(sig.kind, sig.levels, steps=module.onepass_groups, stepped=False)
    else:
        out = Signal(sig.kind, sig.levels, steps=output.shape[0], stepped=True)
    return dict(kind="reshape", rule="repeat", in_shape=tuple(inputs[0].shape[1:]),
                out_shape=tuple(inputs[0].shape[1:]), neurons=math.prod(inputs[0].shape[1:]), signal=out)


@register_rule(MeanOverSteps)
def readout_rule(module, inputs, output, ctx):
    """Readout (average over S steps/groups), per output element: S−1 ``add`` and one divide
    (``shift`` when S is a power of two, else ``mul``); S = 1 is free."""
    s = ctx.steps
    n = output.numel()
    facts = dict(kind="other", rule="readout.mean", neurons=output[0].numel(), in_shape=tuple(output.shape[1:]),
                 out_shape=tuple(output.shape[1:]), act_bits=ANALOG_BITS, out_bits=ANALOG_BITS,
                 signal=Signal("analog"))
    if s > 1:
        facts.update({"add": (s - 1) * n, _shift_or_mul(s): n, "input_reads": s * n, "output_writes": n})
    return facts


@register_rule(InputClamp)
def clamp_rule(module, inputs, output, ctx):
    """Input clamp to [0, 1] before spike encoding: 2 ``cmp`` per element."""
    n = ctx.step_elements(output)
    return dict(kind="encoder", rule="clamp", cmp=2 * n, input_reads=n, output_writes=n,
                neurons=ctx.per_sample(output), in_shape=ctx.sample_shape(output), out_shape=ctx.sample_shape(output),
                act_bits=ANALOG_BITS, out_bits=ANALOG_BITS, signal=ctx.out_signal())


def _register_layer_rules() -> None:
    from analysis.snn import RepeatGroups, ResidualAdd, ShortcutScale

    register_rule(ResidualAdd)(_residual_rule)
    register_rule(ShortcutScale)(_shortcut_scale_rule)
    register_rule(RepeatGroups)(repeat_rule)


_register_layer_rules()


# -- the counter ------------------------------------------------------------------------------------
_ADDITIVE = (*EVENTS, *ACTIVITY)


def _infer_method(model: nn.Module) -> str:
    mods = list(model.modules())
    if any(isinstance(m, PSGNeuron) for m in mods):
        return "onespike"
    if any(isinstance(m, IFNeuron) for m in mods):
        return "if"
    if any(isinstance(m, BinaryActivation | BinaryConv2d | BinaryLinear) for m in mods):
        return "bnn"
    if any(isinstance(m, QCFS) for m in mods):
        return "qcfs" if any(m.shift for m in mods if isinstance(m, QCFS)) else "cq"
    return "ann"


class _Counter:
    def __init__(self, model: nn.Module, ledger: EventLedger, weight_bits: int, vmem_bits: int, track_ties: bool):
        self.model = model
        self.ledger = ledger
        self.weight_bits = weight_bits
        self.vmem_bits = vmem_bits
        self.track_ties = track_ties
        self.signals: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.records: dict[str, dict[str, Any]] = {}
        self.handles: list[Any] = []
        self.extras: dict[str, Any] = {}
        self.samples = 0
        # Streaming IF layout: layers on the analog (unstepped) input run again at every timestep
        # although their output does not change; the reference counts them once per forward.
        self.streaming = False
        self.seen_unstepped: set[str] = set()

    # signals of tensors
    def signal_of(self, t: Any) -> Signal:
        if not isinstance(t, Tensor):
            return UNKNOWN
        return self.signals.get(t, UNKNOWN)

    def set_signal(self, t: Any, sig: Signal) -> None:
        if isinstance(t, Tensor):
            self.signals[t] = sig

    # hooks
    def attach(self, strict: bool) -> None:
        self.handles.append(self.model.register_forward_pre_hook(self._root_pre))
        if isinstance(self.model, SpikingNetwork):
            self.handles.append(self.model.register_forward_hook(self._root_post))
        self._walk(self.model, "", strict)

    def _walk(self, module: nn.Module, path: str, strict: bool) -> None:
        rule = find_rule(type(module))
        if isinstance(module, Stepwise) and rule is None:
            inner = module.module
            inner_rule = find_rule(type(inner))
            if inner_rule is None:
                if isinstance(inner, PASSTHROUGH):
                    self.handles.append(module.register_forward_hook(self._passthrough))
                    return
                self._unsupported(path, f"Stepwise({type(inner).__name__})", strict)
                return
            self.handles.append(module.register_forward_hook(self._make_hook(path, inner_rule, inner, stepwise=module)))
            return
        if rule is not None:
            self.handles.append(module.register_forward_hook(self._make_hook(path, rule, module)))
            if isinstance(module, PSGLayer):  # the neuron's [G, B, ...] spikes, for the layer's rule
                self.handles.append(module.neuron.register_forward_hook(self._stash_psg))
            return
        children = list(module.named_children())
        if children:
            for name, child in children:
                self._walk(child, f"{path}.{name}" if path else name, strict)
            return
        if isinstance(module, PASSTHROUGH):
            self.handles.append(module.register_forward_hook(self._passthrough))
            return
        self._unsupported(path, type(module).__name__, strict)

    def _unsupported(self, path: str, type_name: str, strict: bool) -> None:
        if strict:
            raise ValueError(
                f"count_events(strict=True): no counting rule for module {path!r} of type {type_name}. Register one "
                f"with analysis.counting.register_rule({type_name.split('(')[-1].rstrip(')')})(fn), where "
                "fn(module, inputs, output, ctx) returns the LayerEvents fields, or pass strict=False to list it "
                "in ledger.unsupported"
            )
        self.ledger.unsupported.append((path, type_name))

    def detach(self) -> None:
        while self.handles:
            self.handles.pop().remove()

    def _root_pre(self, module, inputs) -> None:
        x = inputs[0] if inputs else None
        if isinstance(module, SpikingNetwork):
            self.streaming = module.resolved_layout == "stream"
            self.seen_unstepped.clear()
        if isinstance(x, Tensor) and x.dim() > 0:
            stacked = isinstance(module, IFNeuron) or (isinstance(module, Stepwise) and module.onepass_groups is None)
            self.samples += int(x.shape[1] if stacked and x.dim() > 1 else x.shape[0])
            self.set_signal(x, Signal("analog"))

    def _root_post(self, module: SpikingNetwork, inputs, output) -> None:
        # The streaming layout averages the steps itself instead of calling the readout module.
        if module.resolved_layout != "stream":
            return
        readout = module.body[-1] if isinstance(module.body, nn.Sequential) and len(module.body) else None
        if isinstance(readout, MeanOverSteps):
            path = f"body.{list(module.body._modules)[-1]}"
            ctx = self._context(path, (), None, readout)
            ctx.steps, ctx.batch = module.steps, output.shape[0]
            self._record(path, readout, readout_rule(readout, (), output, ctx), ctx)

    def _passthrough(self, module, inputs, output) -> None:
        if inputs and output is not inputs[0]:
            self.set_signal(output, self.signal_of(inputs[0]))

    def _stash_psg(self, module, inputs, output) -> None:
        self.extras["psg_spikes"] = output

    def _context(self, path: str, inputs: tuple, stepwise: Stepwise | None, module: nn.Module) -> Any:
        signals = tuple(self.signal_of(t) for t in inputs if isinstance(t, Tensor))
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
        ledger = self.ledger
        return Context(path=path, method=ledger.method, signals=signals, steps=steps, stepped=stepped, batch=batch,
                       axis=axis, timesteps=ledger.timesteps, groups=ledger.groups, weight_bits=self.weight_bits,
                       vmem_bits=self.vmem_bits, track_ties=self.track_ties, extras=self.extras)

    def _make_hook(self, path: str, rule: Rule, target: nn.Module, stepwise: Stepwise | None = None):
        def hook(module, inputs, output):
            with torch.no_grad():
                ctx = self._context(path, inputs, stepwise, target)
                facts = rule(target, inputs, output, ctx)
                self.extras.pop("psg_spikes", None)
                sig = facts.get("signal")
                if sig is not None:
                    self.set_signal(output, sig)
                if self.streaming and not ctx.stepped and ctx.steps == 1 and stepwise is None and (
                    sig is None or (not sig.stepped and sig.steps == 1)
                ):
                    if path in self.seen_unstepped:
                        return  # the same analog computation again: counted once per forward
                    self.seen_unstepped.add(path)
                self._record(path, target, facts, ctx)

        return hook

    def _record(self, path: str, module: nn.Module, facts: dict[str, Any], ctx: Context) -> None:
        facts = dict(facts)
        facts.pop("signal", None)
        rec = self.records.get(path)
        if rec is None:
            per_step = ctx.stepped or ctx.steps > 1
            ledger = self.ledger
            rec = {"name": path, "module_type": type(module).__name__, "method": ledger.method,
                   "timesteps": ledger.timesteps if (per_step and ledger.method == "if") else 1,
                   "groups": ledger.groups if (per_step and ledger.method == "onespike") else 1}
            self.records[path] = rec
        for key, value in facts.items():
            if key in _ADDITIVE:
                rec[key] = rec.get(key, 0) + value
            else:
                rec[key] = value

    def finish(self) -> None:
        n = max(self.samples, 1)
        layers = []
        for rec in self.records.values():
            data = {k: v for k, v in rec.items() if k not in _ADDITIVE}
            for key in _ADDITIVE:
                if key in rec:
                    data[key] = float(rec[key]) / n
            layers.append(LayerEvents(**data))
        self.ledger.layers = layers
        self.ledger.samples = self.samples


@contextmanager
def count_events(
    model: nn.Module,
    method: str | None = None,
    strict: bool = False,
    weight_bits: int | None = None,
    vmem_bits: int = 16,
    track_ties: bool = False,
    **meta: Any,
) -> Iterator[EventLedger]:
    """Count the events of every forward pass run inside the block into an ``EventLedger``.

    ``method``: one of ``ann``, ``qcfs``, ``cq``, ``if``, ``onespike``, ``bnn``. For a
    :class:`~analysis.snn.SpikingNetwork` it (and T / G) is taken from the network (a different
    ``method`` is an error); otherwise it is inferred from the modules when omitted (PSG -> onespike,
    IF -> if, binary -> bnn, QCFS -> qcfs, ClampQuant -> cq, else ann). ``weight_bits``: width of
    non-binary weights (default 32 for ann and bnn, 8 otherwise). ``vmem_bits``: membrane word.
    ``track_ties``: also count membranes within 1e-6·θ of θ (replays the IF recursion: costs about
    one more neuron pass). ``meta``: free-form facts stored in ``ledger.meta``.

    Counts are per sample over every forward of the block (``ledger.samples`` = total batch). Hooks
    are removed when the block ends, also on error; the model is not modified.
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(model, SpikingNetwork):
        if method is not None and method != model.method:
            raise ValueError(f"method={method!r} but the model is a {model.method!r} SpikingNetwork")
        method, timesteps, groups = model.method, model.timesteps, model.groups
        meta.setdefault("layout", model.resolved_layout)
        meta.setdefault("input_encoding", model.input_encoding)
    else:
        method = method or _infer_method(model)
        ifs = [m for m in model.modules() if isinstance(m, IFNeuron)]
        psgs = [m for m in model.modules() if isinstance(m, PSGNeuron)]
        timesteps = ifs[0].timesteps if (method == "if" and ifs) else 1
        groups = psgs[0].groups if (method == "onespike" and psgs) else 1
    if weight_bits is None:
        weight_bits = 32 if method in ("ann", "bnn") else 8
    ledger = EventLedger(method=method, timesteps=timesteps, groups=groups, meta=dict(meta))
    counter = _Counter(model, ledger, int(weight_bits), int(vmem_bits), bool(track_ties))
    try:
        counter.attach(strict)
        yield ledger
    finally:
        counter.detach()
        counter.finish()
