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
import math
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from analysis.snn.context import (
    ConversionContext,
    ConversionError,
    convert_module,
    fold_batchnorm,
    register_converter,
)
from analysis.snn.modules import InputClamp, MeanOverSteps, PSGLayer, RepeatSteps, SpikingNetwork, Stepwise
from analysis.snn.neurons import (
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    BinaryLinear,
    ClampQuant,
    IFNeuron,
    PSGNeuron,
    check_positive_int,
)

__all__ = [
    "calibrate_thresholds",
    "round_thresholds_pow2",
    "to_binary",
    "to_if_snn",
    "to_onespike",
    "to_quantized",
]

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
        "analysis.snn.to_quantized(ann, levels) (and fine-tune it) first"
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
