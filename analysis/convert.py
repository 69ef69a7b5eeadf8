"""The conversion ladder: ANN -> quantized ANN -> T-step IF SNN -> OneSpike (and ANN -> BNN).

All functions return new modules; their input is never mutated.

Signal semantics of a converted network (``SpikingNetwork``):

- Tensors inside carry a leading **step axis**: ``[T, B, ...]`` timesteps for the IF SNN,
  ``[G, B, ...]`` groups for OneSpike. :class:`Stepwise` applies a stateless layer (conv, linear,
  pooling, flatten, batch norm) to every step with the same weights.
- A spike is 0/1 and worth the emitting neuron's threshold θ; the converter folds θ into the
  **weights** of the next synaptic layer (``W' = θ·W``), never into its bias.
- **First layer (analog input, the default, as in the OneSpike paper):** the image is not
  spike-encoded. The first conv/linear runs once on the pixels (dense MACs) and its current is the
  same at every step: the IF SNN repeats it over T steps (:class:`RepeatSteps`), the PSG layer
  takes it as the average current directly. ``input_encoding="spikes"`` instead clamps pixels to
  [0, 1] and spike-encodes them with a threshold-1 IF/PSG neuron (``floor(T·x)`` spikes, the
  authors' VGG path); the first layer then sees spikes, and the quantized ANN it matches is the one
  whose input is floored to multiples of 1/T.
- **Classifier:** the last synaptic layer does not spike; logits are its output averaged over the
  steps (:class:`MeanOverSteps`).
- **OneSpike layer:** each PSG layer sums its G group currents and emits all G spike maps at once
  (:class:`PSGLayer`). With θ = λ and ``v_init = φ`` (½ for QCFS, 0 for clamp-and-quantize),
  OneSpike(G) computes exactly the quantized ANN with L = G levels (Q1).
- **Average pooling** is linear, so it runs per step on whatever flows (currents or spikes). Pooled
  spikes are fractional; logits stay exact by linearity. Max pooling is not linear in spike counts
  and is refused with an error.
- **Residual blocks** and other composite modules convert through :data:`CONVERTERS` (a type ->
  rule registry) or a ``to_spiking(ctx, convert)`` method on the module.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from analysis.neurons import (
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    BinaryLinear,
    ClampQuant,
    IFNeuron,
    PSGNeuron,
    check_finite,
    check_positive_int,
)

__all__ = [
    "CONVERTERS",
    "ConversionContext",
    "ConversionError",
    "InputClamp",
    "MeanOverSteps",
    "PSGLayer",
    "RepeatSteps",
    "SpikingNetwork",
    "Stepwise",
    "calibrate_thresholds",
    "fold_batchnorm",
    "fuse_conv_bn",
    "round_thresholds_pow2",
    "to_binary",
    "to_if_snn",
    "to_onespike",
    "to_quantized",
]


class ConversionError(TypeError):
    """A model cannot be converted (an unsupported layer, a missing quantized activation, ...)."""


# -- building blocks of converted networks ---------------------------------------------------------
class Stepwise(nn.Module):
    """Apply a stateless ``module`` to every step of a ``[S, B, ...]`` tensor (same weights).

    ``axis`` says what the steps are: ``"time"`` (sequential timesteps of an IF SNN) or ``"group"``
    (parallel groups of OneSpike). ``step_scales`` (optional, ``[S]``) multiplies step s's input by
    a constant before the module: it carries per-group spike values (Q11, θ_i/θ, a shift when both
    are powers of two).
    """

    def __init__(self, module: nn.Module, axis: str = "time", step_scales: Tensor | None = None):
        super().__init__()
        if axis not in ("time", "group"):
            raise ValueError(f"axis must be 'time' or 'group', got {axis!r}")
        self.module = module
        self.axis = axis
        self.register_buffer("step_scales", None if step_scales is None else torch.as_tensor(step_scales).float())

    #: Set by :class:`SpikingNetwork` in the one-pass OneSpike layout: the input is the sum over the
    #: G groups (no step axis), and the output is the sum over groups of the per-group outputs.
    onepass_groups: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass_groups is not None:
            return self._forward_group_sum(x, self.onepass_groups)
        steps, batch = x.shape[0], x.shape[1]
        if self.step_scales is not None:
            if self.step_scales.numel() != steps:
                raise ValueError(f"step_scales has {self.step_scales.numel()} values for {steps} steps")
            x = x * self.step_scales.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        y = self.module(x.flatten(0, 1))
        return y.reshape(steps, batch, *y.shape[1:])

    def _forward_group_sum(self, total: Tensor, groups: int) -> Tensor:
        """Σ_g f(x_g) from Σ_g x_g for an affine f(x) = A·x + c: f(Σ x_g) + (G−1)·c.

        Conv/linear carry c as their bias (applied G times), batch norm as its shift; pooling and
        flatten are linear (c = 0). Any other module is evaluated once more on zeros to get c.
        """
        from analysis.layers import ShortcutScale  # layers builds on this module: import late

        m = self.module
        if isinstance(m, nn.Conv2d | nn.Linear):
            bias = None if m.bias is None else m.bias * groups
            if isinstance(m, nn.Linear):
                return nn.functional.linear(total, m.weight, bias)
            return m._conv_forward(total, m.weight, bias)
        if isinstance(m, nn.AvgPool2d | nn.AdaptiveAvgPool2d | nn.Flatten | nn.Identity | ShortcutScale):
            return m(total)
        return m(total) + (groups - 1) * m(torch.zeros_like(total))


class RepeatSteps(nn.Module):
    """``[B, ...] -> [T, B, ...]``: the same analog current at every timestep (a view, no copy)."""

    def __init__(self, timesteps: int):
        super().__init__()
        self.timesteps = check_positive_int("timesteps", timesteps)

    #: In the streaming layout each call produces one step.
    streaming = False

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(0).expand(1 if self.streaming else self.timesteps, *x.shape)


class MeanOverSteps(nn.Module):
    """``[S, B, ...] -> [B, ...]``: the classifier's output averaged over timesteps or groups.

    In the one-pass OneSpike layout the input is already the sum over the G groups: divide by G.
    """

    onepass_groups: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass_groups is not None:
            return x / self.onepass_groups
        return x.mean(dim=0)


class InputClamp(nn.Module):
    """Clamp pixels to [0, 1] before spike encoding (``input_encoding="spikes"``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(0.0, 1.0)


class PSGLayer(nn.Module):
    """A OneSpike neuron layer: sum the G group currents, then emit all G spike maps (PSG).

    ``grouped_input=True``: input ``[G, B, ...]`` currents, total ``I = Σ_g x_g`` (G−1 additions
    per neuron). ``False`` (first layer, analog input): input ``[B, ...]`` is the same current in
    every group, so the total is ``G·x`` (a shift when G is a power of two). Output ``[G, B, ...]``.
    """

    def __init__(self, neuron: PSGNeuron, grouped_input: bool = True, spike_scales: Sequence[float] | None = None):
        super().__init__()
        self.neuron = neuron
        self.grouped_input = grouped_input
        # per-group spike values relative to the base θ folded into the next weights (Q11)
        self.register_buffer("spike_scales", None if spike_scales is None else torch.tensor(list(spike_scales)))

    #: One-pass layout: input is already the total current (or the analog current), and the output
    #: is the spike-count map Σ_g s_g (weighted by per-group spike values) instead of [G, B, ...].
    onepass = False

    @property
    def groups(self) -> int:
        return self.neuron.groups

    def forward(self, x: Tensor) -> Tensor:
        if self.onepass:
            total = x if self.grouped_input else x * self.groups
            if self.spike_scales is not None:
                spikes = self.neuron(total)
                return torch.tensordot(self.spike_scales.to(spikes.dtype), spikes, dims=1)
            return self.neuron.spike_count(total)  # the G spike maps themselves are never needed here
        if self.grouped_input:
            if x.shape[0] != self.groups:
                raise ValueError(f"PSGLayer expects [G={self.groups}, B, ...] currents, got {tuple(x.shape)}")
            total = x.sum(dim=0)
        else:
            total = x * self.groups
        return self.neuron(total)


class SpikingNetwork(nn.Module):
    """A converted network: ``body`` maps analog input ``[B, ...]`` to logits ``[B, classes]``.

    ``method`` is ``"if"`` (``steps`` sequential timesteps) or ``"onespike"`` (``steps`` parallel
    groups in one timestep).
    """

    LAYOUTS = ("auto", "sequence", "stream", "grouped", "onepass")
    #: ``layout="auto"`` streams an IF SNN timestep by timestep from this T on.
    STREAM_FROM_T = 16

    def __init__(self, body: nn.Module, method: str, steps: int, input_encoding: str = "analog",
                 layout: str = "auto"):
        super().__init__()
        if method not in ("if", "onespike"):
            raise ValueError(f"method must be 'if' or 'onespike', got {method!r}")
        self.body = body
        self.method = method
        self.steps = check_positive_int("timesteps" if method == "if" else "groups", steps)
        self.input_encoding = input_encoding
        self.layout = layout

    @property
    def layout(self) -> str:
        """How the network is executed (same logits and same ledger either way).

        IF SNN: ``"sequence"`` runs each layer on all T steps at once (``[T, B, ...]``, fastest);
        ``"stream"`` runs the whole network one timestep at a time with each layer's membrane kept
        as state, so peak memory does not grow with T. OneSpike: ``"grouped"`` carries the G spike
        maps ``[G, B, ...]`` through every layer (the explicit per-group reference); ``"onepass"``
        carries only their sum Σ_g s_g, since the next layer needs only W·Σ_g s_g (+ G·bias): one
        quantized-ANN-sized forward. ``"auto"``: ``onepass`` for OneSpike, ``stream`` for IF from
        T >= STREAM_FROM_T, else ``sequence``.
        """
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        allowed = {"if": ("auto", "sequence", "stream"), "onespike": ("auto", "grouped", "onepass")}[self.method]
        if value not in allowed:
            raise ValueError(f"layout for a {self.method} network must be one of {allowed}, got {value!r}")
        self._layout = value
        resolved = self.resolved_layout
        groups = self.steps if resolved == "onepass" else None
        for m in self.body.modules():
            if isinstance(m, Stepwise | MeanOverSteps):
                m.onepass_groups = groups
            elif isinstance(m, PSGLayer):
                m.onepass = groups is not None

    @property
    def resolved_layout(self) -> str:
        if self._layout != "auto":
            return self._layout
        if self.method == "onespike":
            return "onepass"
        return "stream" if self.steps >= self.STREAM_FROM_T else "sequence"

    @property
    def timesteps(self) -> int:
        """Sequential steps of one inference: T for IF, 1 for OneSpike."""
        return self.steps if self.method == "if" else 1

    @property
    def groups(self) -> int:
        """Parallel groups of one inference: G for OneSpike, 1 for IF."""
        return self.steps if self.method == "onespike" else 1

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        if self.resolved_layout == "stream":
            return self._forward_stream(x)
        return self.body(x)

    def _check_input(self, x: Tensor) -> None:
        """A clear error for input of the wrong rank or channel count, or holding NaN/Inf."""
        first = next((m for m in self.body.modules() if isinstance(m, nn.Conv2d | nn.Linear)), None)
        if isinstance(first, nn.Conv2d) and (x.dim() != 4 or x.shape[1] != first.in_channels):
            raise ValueError(
                f"{self.method} network expects images [B, {first.in_channels}, H, W]; got shape {tuple(x.shape)}"
            )
        if x.dim() < 2:
            raise ValueError(f"{self.method} network expects a batch [B, ...]; got shape {tuple(x.shape)}")
        check_finite("network", x)

    def _flat_program(self) -> list[nn.Module]:
        """The body as a flat list of modules: nested Sequentials are compositions, so unrolling them
        is exact, and it lets the analog prefix (e.g. a ResNet stem's conv) run once, not per step."""
        items: list[nn.Module] = []

        def unroll(module: nn.Module) -> None:
            if type(module) is nn.Sequential:
                for child in module.children():
                    unroll(child)
            else:
                items.append(module)

        unroll(self.body)
        return items

    def _forward_stream(self, x: Tensor) -> Tensor:
        """Timestep by timestep: the analog prefix (layers before the first neuron) runs once, the
        rest once per step with the IF membranes as state; logits are averaged over the steps."""
        items = self._flat_program()
        first = next(i for i, m in enumerate(items)
                     if any(isinstance(sub, IFNeuron | RepeatSteps) for sub in m.modules()))
        readout = items[-1] if isinstance(items[-1], MeanOverSteps) else None
        body = items[first:-1] if readout is not None else items[first:]
        stateful = [m for m in self.body.modules() if isinstance(m, IFNeuron | RepeatSteps)]
        h0 = x
        for m in items[:first]:
            h0 = m(h0)
        try:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.start_stream()
                else:
                    m.streaming = True
            total = None
            for _ in range(self.steps):
                h = h0
                for m in body:
                    h = m(h)
                total = h[0] if total is None else total + h[0]
        finally:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.stop_stream()
                else:
                    m.streaming = False
        return total / self.steps

    def extra_repr(self) -> str:
        return f"method={self.method!r}, steps={self.steps}, input_encoding={self.input_encoding!r}"


# -- batch-norm folding ------------------------------------------------------------------------
def fuse_conv_bn(layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of ``layer`` with an eval-mode BatchNorm that follows it folded into weight and bias."""
    fused = copy.deepcopy(layer)
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.affine else torch.ones_like(std)
        beta = bn.bias if bn.affine else torch.zeros_like(std)
        scale = gamma / std
        fused.weight.mul_(scale.reshape(-1, *([1] * (fused.weight.dim() - 1))))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        new_bias = (bias - bn.running_mean) * scale + beta
        fused.bias = nn.Parameter(new_bias)
    return fused


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode where every BatchNorm directly after a Conv2d/Linear inside
    a Sequential is folded into it (replaced by Identity). Other BatchNorms stay (they are affine
    and convert per step)."""
    model = copy.deepcopy(model).eval()
    _fold_in_place(model)
    return model


def _fold_in_place(module: nn.Module) -> None:
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for a, b in itertools.pairwise(names):
            first, second = module._modules[a], module._modules[b]
            if isinstance(first, nn.Conv2d | nn.Linear) and isinstance(second, nn.BatchNorm1d | nn.BatchNorm2d):
                module._modules[a] = fuse_conv_bn(first, second)
                module._modules[b] = nn.Identity()
    for child in module.children():
        _fold_in_place(child)


# -- ANN -> quantized ANN --------------------------------------------------------------------------
def _replace_modules(module: nn.Module, predicate, factory) -> int:
    count = 0
    for name, child in list(module.named_children()):
        if predicate(child):
            setattr(module, name, factory(child))
            count += 1
        else:
            count += _replace_modules(child, predicate, factory)
    return count


@torch.no_grad()
def calibrate_thresholds(qann: nn.Module, data: Tensor, percentile: float = 99.9) -> nn.Module:
    """Set each QCFS/ClampQuant threshold to the ``percentile`` of its positive pre-activations on
    ``data`` (in place, returns ``qann``): a standard initialisation before fine-tuning."""
    acts = [m for m in qann.modules() if isinstance(m, QCFS)]
    captured: dict[int, Tensor] = {}

    def hook(mod, inputs):
        captured[id(mod)] = inputs[0].detach().flatten()

    handles = [m.register_forward_pre_hook(hook) for m in acts]
    was_training = qann.training
    try:
        qann.eval()
        qann(data)
    finally:
        for h in handles:
            h.remove()
        qann.train(was_training)
    for m in acts:
        values = captured.get(id(m))
        if values is None:
            continue
        positive = values[values > 0]
        if positive.numel():
            m.threshold.fill_(max(float(torch.quantile(positive.float()[:1_000_000], percentile / 100)), 1e-3))
    return qann


def to_quantized(
    ann: nn.Module,
    levels: int,
    kind: str = "qcfs",
    threshold: float = 1.0,
    calibration_data: Tensor | None = None,
) -> nn.Module:
    """A copy of ``ann`` with every ReLU replaced by a quantized activation with ``levels`` levels.

    ``kind="qcfs"``: :class:`QCFS` (shift φ = ½); ``kind="cq"``: :class:`ClampQuant` (no shift).
    Thresholds start at ``threshold`` or, with ``calibration_data``, at the 99.9th percentile of
    each layer's positive pre-activations. Fine-tune afterwards (``analysis.training``).
    """
    levels = check_positive_int("levels", levels)
    if kind not in ("qcfs", "cq"):
        raise ValueError(f"kind must be 'qcfs' or 'cq', got {kind!r}")
    qann = copy.deepcopy(ann)

    def factory(_):
        return QCFS(levels, threshold) if kind == "qcfs" else ClampQuant(levels, threshold)

    replaced = _replace_modules(qann, lambda m: type(m) is nn.ReLU, factory)
    if replaced == 0:
        raise ConversionError(
            "to_quantized found no nn.ReLU to replace; the model must use nn.ReLU activations "
            f"(found types: {sorted({type(m).__name__ for m in ann.modules()})})"
        )
    if calibration_data is not None:
        calibrate_thresholds(qann, calibration_data)
    return qann


def round_thresholds_pow2(qann: nn.Module) -> nn.Module:
    """A copy whose QCFS/ClampQuant thresholds are rounded to the nearest power of two (in log2),
    as PSG ``mode="hardware"`` requires."""
    qann = copy.deepcopy(qann)
    with torch.no_grad():
        for m in qann.modules():
            if isinstance(m, QCFS):
                m.threshold.fill_(2.0 ** round(math.log2(float(m.threshold))))
    return qann


# -- ANN -> BNN -------------------------------------------------------------------------------------
def to_binary(ann: nn.Module) -> nn.Module:
    """A BNN of the same shape: ReLU -> sign activation, hidden conv/linear -> binary weights.

    The first synaptic layer (it sees analog pixels) and the last (the classifier) keep real
    weights, the usual BNN practice (XNOR-Net, Bi-Real). Latent weights start from ``ann``'s.
    """
    bnn = copy.deepcopy(ann)
    synapses = [(n, m) for n, m in bnn.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if len(synapses) < 2:
        raise ConversionError("to_binary needs at least two conv/linear layers (first and classifier stay real)")
    hidden = {n for n, _ in synapses[1:-1]}

    def swap(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            path = f"{prefix}.{name}" if prefix else name
            if path in hidden:
                if isinstance(child, nn.Conv2d):
                    new = BinaryConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                       child.padding, child.dilation, child.groups, child.bias is not None)
                else:
                    new = BinaryLinear(child.in_features, child.out_features, child.bias is not None)
                new.load_state_dict(child.state_dict())
                setattr(parent, name, new)
            elif type(child) is nn.ReLU:
                setattr(parent, name, BinaryActivation())
            else:
                swap(child, path)

    swap(bnn, "")
    return bnn


# -- quantized ANN -> spiking networks -------------------------------------------------------------
@dataclass(frozen=True)
class ConversionContext:
    """What the converter knows about the signal flowing into the next module.

    ``method``: "if" or "onespike"; ``steps``: T or G; ``stepped``: the tensor has a step axis;
    ``spike_scale``: the value of one incoming spike (None for analog values/currents);
    ``step_scales``: per-group spike values relative to ``spike_scale`` (per-group thresholds);
    ``mode``: PSG mode; ``group_threshold_scales``: multipliers of θ per group, or None.
    """

    method: str
    steps: int
    stepped: bool = False
    spike_scale: float | None = None
    step_scales: tuple[float, ...] | None = None
    mode: str = "exact"
    group_threshold_scales: tuple[float, ...] | None = None

    @property
    def axis(self) -> str:
        return "time" if self.method == "if" else "group"


Rule = Callable[[nn.Module, ConversionContext, Callable], tuple[nn.Module, ConversionContext]]
#: Conversion rules by module type: ``rule(module, ctx, convert) -> (new_module, ctx_after)``.
CONVERTERS: dict[type, Rule] = {}


def register_converter(*types: type) -> Callable[[Rule], Rule]:
    """Register a conversion rule for module types (users may add their own)."""

    def deco(rule: Rule) -> Rule:
        for t in types:
            CONVERTERS[t] = rule
        return rule

    return deco


def convert_module(module: nn.Module, ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """Convert one module given the incoming signal; dispatch on type (most specific first)."""
    if hasattr(module, "to_spiking"):
        return module.to_spiking(ctx, convert_module)
    for cls in type(module).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls](module, ctx, convert_module)
    raise ConversionError(
        f"cannot convert layer of type {type(module).__name__}: supported types are "
        f"{sorted(t.__name__ for t in CONVERTERS)}; register a rule with "
        "analysis.convert.register_converter(YourType) or give the module a to_spiking(ctx, convert) method"
    )


@register_converter(nn.Sequential)
def _convert_sequential(module, ctx, convert):
    out = nn.Sequential()
    for name, child in module.named_children():
        new, ctx = convert(child, ctx)
        out.add_module(name, new)
    return out, ctx


def _wrap(layer: nn.Module, ctx: ConversionContext) -> nn.Module:
    if not ctx.stepped:
        return layer
    scales = None if ctx.step_scales is None else torch.tensor(ctx.step_scales)
    return Stepwise(layer, ctx.axis, scales)


@register_converter(nn.Conv2d, nn.Linear)
def _convert_synapse(module, ctx, convert):
    layer = copy.deepcopy(module)
    if ctx.spike_scale is not None:
        with torch.no_grad():
            layer.weight.mul_(ctx.spike_scale)  # a spike is worth θ: fold θ into the weights, not the bias
    return _wrap(layer, ctx), replace(ctx, spike_scale=None, step_scales=None)


@register_converter(nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.BatchNorm1d, nn.BatchNorm2d)
def _convert_linear_op(module, ctx, convert):
    # Linear in its input: runs per step on spikes or currents and keeps the spike scale; per-group
    # spike values commute with it and are applied by the next synaptic layer.
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d) and ctx.step_scales is not None:
        raise ConversionError(
            "a BatchNorm that is not folded into a conv/linear cannot follow per-group thresholds "
            "(it is affine, not linear); place it directly after a conv/linear so it folds"
        )
    layer = copy.deepcopy(module)
    return (Stepwise(layer, ctx.axis) if ctx.stepped else layer), ctx


@register_converter(nn.Identity, nn.Dropout)
def _convert_identity(module, ctx, convert):
    return nn.Identity(), ctx


@register_converter(nn.MaxPool2d, nn.AdaptiveMaxPool2d)
def _refuse_maxpool(module, ctx, convert):
    raise ConversionError(
        f"{type(module).__name__} cannot be converted exactly: the max of spike counts is not the count "
        "of a max. Use nn.AvgPool2d in the ANN (as conversion work does)"
    )


@register_converter(nn.ReLU)
def _refuse_relu(module, ctx, convert):
    raise ConversionError(
        "found an unquantized nn.ReLU: spiking conversion needs a quantized ANN. Call "
        "analysis.convert.to_quantized(ann, levels) (and fine-tune it) first"
    )


@register_converter(QCFS)
def _convert_quant(module, ctx, convert):
    theta = float(module.threshold.detach())
    return _make_neuron(theta, module.shift, ctx)


def _make_neuron(theta: float, v_init: float, ctx: ConversionContext):
    if ctx.method == "if":
        neuron = IFNeuron(theta, ctx.steps, v_init)
        layer = neuron if ctx.stepped else nn.Sequential(RepeatSteps(ctx.steps), neuron)
        return layer, replace(ctx, stepped=True, spike_scale=theta, step_scales=None)
    scales = ctx.group_threshold_scales
    thresholds = theta if scales is None else [theta * s for s in scales]
    neuron = PSGNeuron(thresholds, ctx.steps, mode=ctx.mode, v_init=v_init)
    return (
        PSGLayer(neuron, grouped_input=ctx.stepped, spike_scales=scales),
        replace(ctx, stepped=True, spike_scale=theta, step_scales=scales),
    )


# -- IF SNN -> OneSpike rules (the SNN's own layers) -----------------------------------------------
@register_converter(IFNeuron)
def _convert_if(module, ctx, convert):
    if ctx.method == "if":
        if ctx.stepped:
            return copy.deepcopy(module), replace(ctx, spike_scale=1.0)
        raise ConversionError("an IFNeuron received analog input; insert RepeatSteps(T) before it")
    layer, ctx = _make_neuron(float(module.threshold), module.v_init, ctx)
    # In a spiking network the next layer's weights already include θ: spikes count as 1.
    return layer, replace(ctx, spike_scale=1.0)


@register_converter(Stepwise)
def _convert_stepwise(module, ctx, convert):
    inner = module.module
    if isinstance(inner, nn.Conv2d | nn.Linear) and ctx.spike_scale == 1.0:
        layer = copy.deepcopy(inner)
        return _wrap(layer, ctx), replace(ctx, spike_scale=None, step_scales=None)
    return convert(inner, ctx)


@register_converter(RepeatSteps)
def _convert_repeat(module, ctx, convert):
    return nn.Identity(), ctx  # PSG takes the analog current directly; IF re-inserts it itself


@register_converter(MeanOverSteps, InputClamp)
def _convert_passthrough(module, ctx, convert):
    return copy.deepcopy(module), ctx


@register_converter(SpikingNetwork)
def _convert_network(module, ctx, convert):
    return convert(module.body, ctx)


def _encoder(ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """Spike-encode pixels clamped to [0, 1] with a threshold-1, empty-membrane neuron."""
    if ctx.method == "if":
        enc = nn.Sequential(InputClamp(), RepeatSteps(ctx.steps), IFNeuron(1.0, ctx.steps, 0.0))
    else:
        enc = nn.Sequential(InputClamp(), PSGLayer(PSGNeuron(1.0, ctx.steps, mode=ctx.mode, v_init=0.0), False))
    return enc, replace(ctx, stepped=True, spike_scale=1.0)


def _build(model: nn.Module, ctx: ConversionContext, input_encoding: str, layout: str = "auto") -> SpikingNetwork:
    if input_encoding not in ("analog", "spikes"):
        raise ValueError(f"input_encoding must be 'analog' or 'spikes', got {input_encoding!r}")
    prefix = nn.Sequential()
    if input_encoding == "spikes":
        enc, ctx = _encoder(ctx)
        prefix.add_module("encoder", enc)
    if isinstance(model, SpikingNetwork):
        model = model.body
    body, ctx = convert_module(model, ctx)
    if not ctx.stepped:
        raise ConversionError("the model has no quantized activation (QCFS/ClampQuant) or IF neuron to convert")
    layers = nn.Sequential()
    if input_encoding == "spikes":
        layers.add_module("encoder", prefix.encoder)
    layers.add_module("net", body)
    layers.add_module("readout", MeanOverSteps())
    return SpikingNetwork(layers, ctx.method, ctx.steps, input_encoding, layout).eval()


def _strip_readout(model: nn.Module) -> nn.Module:
    """Drop a trailing MeanOverSteps (the converter adds its own readout)."""
    if isinstance(model, SpikingNetwork):
        model = model.body
    if isinstance(model, nn.Sequential) and len(model) and isinstance(model[-1], MeanOverSteps):
        return nn.Sequential(*list(model.children())[:-1])
    return model


def to_if_snn(
    qann: nn.Module, timesteps: int, input_encoding: str = "analog", layout: str = "auto"
) -> SpikingNetwork:
    """The T-step IF SNN of a quantized ANN (QCFS conversion, Bu et al. 2022).

    Each QCFS(λ, φ) becomes an :class:`IFNeuron` with θ = λ and ``v_init = φ`` (reset by
    subtraction); BatchNorm is folded into the preceding conv/linear; the next layer's weights are
    multiplied by θ. The first layer sees analog pixels (its current repeated over T steps) and
    logits are the classifier output averaged over T (see the module docstring). As T grows the
    spike rates approach the quantized activations; exact equality holds only where every layer's
    input current is constant over time. ``layout``: ``"sequence"``, ``"stream"`` or ``"auto"``
    (see :attr:`SpikingNetwork.layout`).
    """
    timesteps = check_positive_int("timesteps", timesteps)
    ctx = ConversionContext("if", timesteps)
    return _build(fold_batchnorm(qann), ctx, input_encoding, layout)


def to_onespike(
    model: nn.Module,
    groups: int,
    mode: str = "exact",
    input_encoding: str = "analog",
    group_threshold_scales: Sequence[float] | None = None,
    layout: str = "auto",
) -> SpikingNetwork:
    """OneSpike(G): every layer emits its G spike maps in one timestep by PSG.

    ``model`` is a quantized ANN (QCFS/ClampQuant activations) **or** any multi-step IF SNN built
    from :class:`IFNeuron` and per-step layers (bare or :class:`Stepwise`, e.g. the output of
    :func:`to_if_snn`, whatever its T): the paper's claim that any rate-coded SNN converts.

    From a quantized ANN with thresholds λ and shift φ, PSG uses θ = λ and ``v_init = φ``, and the
    logits equal the quantized ANN's with L = G levels on every sample (Q1; up to float rounding at
    exact ties, use float64 to check). From an IF SNN, each IF neuron (θ, v_init) becomes a PSG
    neuron with the same θ and v_init, and the weights are kept as they are (they already include θ).

    ``mode="hardware"`` requires power-of-two thresholds and G (see
    :func:`round_thresholds_pow2`). ``group_threshold_scales`` (Q11) gives group i the threshold
    ``θ·scales[i]``; spikes of group i are then worth ``θ·scales[i]``.

    ``layout``: ``"onepass"`` (the default via ``"auto"``) or ``"grouped"``; see
    :attr:`SpikingNetwork.layout`.
    """
    groups = check_positive_int("groups", groups)
    scales = None
    if group_threshold_scales is not None:
        scales = tuple(float(s) for s in group_threshold_scales)
        if len(scales) != groups:
            raise ValueError(f"group_threshold_scales needs {groups} values (one per group), got {len(scales)}")
    ctx = ConversionContext("onespike", groups, mode=mode, group_threshold_scales=scales)
    source = _strip_readout(model)
    if not any(isinstance(m, IFNeuron) for m in source.modules()):
        source = fold_batchnorm(source)
    return _build(source, ctx, input_encoding, layout)
