"""The conversion ladder: ANN -> quantized ANN -> T-step IF SNN -> OneSpike (and ANN -> BNN).

This module holds the spiking rungs (:func:`to_if_snn`, :func:`to_onespike`); the rungs that keep a
network an ANN (:func:`to_quantized`, :func:`round_thresholds_pow2`, :func:`to_binary`) live in
:mod:`analysis.snn.ann_forms` and are importable from here too. All functions return new modules;
their input is never mutated.

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
- **Two converters, one result.** A tree of ``nn.Sequential``/``ResidualBlock`` containers whose
  leaves have rules (the zoo) converts module by module; any other model (its own ``forward``,
  functional ReLUs, a reused ``self.relu``, ``+=``, ``torch.cat``, ``view``) is traced with torch.fx
  and converted node by node (:mod:`analysis.snn.trace`, :mod:`analysis.snn.graph`) with the same
  rules; on the zoo both give identical logits (tested). ``converter="tree"|"graph"`` forces one;
  ``leaf_modules=(T,)`` keeps modules of type ``T`` as one node (give ``T`` a rule with
  :func:`~analysis.snn.context.register_converter`).
- **Layer names.** Every converted module carries ``source_name``: the module path in the user's
  model, or the call site of a functional op or of a later call of a reused module
  (``layer1.0.relu#2``, ``layer1.0/add``: :func:`~analysis.snn.trace.layer_names_of`), the name the
  counter gives the same call in the ANN, so per-layer results of ANN, quantized ANN, IF and
  OneSpike join on it.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from torch import nn

from analysis.snn.ann_forms import round_thresholds_pow2, to_binary, to_quantized
from analysis.snn.calibration import calibrate_thresholds
from analysis.snn.context import ConversionContext, ConversionError, convert_module, fold_batchnorm
from analysis.snn.graph import convert_graph, use_graph
from analysis.snn.modules import InputClamp, MeanOverSteps, PSGLayer, RepeatSteps
from analysis.snn.network import SpikingNetwork
from analysis.snn.neurons import IFNeuron, PSGNeuron
from analysis.snn.rules import make_neuron  # noqa: F401  (registers the conversion rules)
from analysis.snn.trace import stamp_source_names
from analysis.snn.vocabulary import SpikingForm, StepAxis
from analysis.validate import check_choice, check_positive_int

__all__ = [
    "calibrate_thresholds",  # re-exported from analysis.snn.calibration
    "round_thresholds_pow2",  # the ANN rungs, re-exported from analysis.snn.ann_forms
    "to_binary",
    "to_if_snn",
    "to_onespike",
    "to_quantized",
]


def _encoder(ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """Spike-encode pixels clamped to [0, 1] with a threshold-1, empty-membrane neuron."""
    if ctx.axis is StepAxis.TIME:
        enc = nn.Sequential(InputClamp(), RepeatSteps(ctx.steps), IFNeuron(1.0, ctx.steps, 0.0))
    else:
        enc = nn.Sequential(InputClamp(), PSGLayer(PSGNeuron(1.0, ctx.steps, mode=ctx.mode, v_init=0.0), False))
    return enc, replace(ctx, stepped=True, spike_scale=1.0)


def _build(model: nn.Module, ctx: ConversionContext, input_encoding: str, layout: str = "auto",
           graph: bool = False, leaf_modules: Sequence[type] = ()) -> SpikingNetwork:
    """``SpikingNetwork(Sequential([encoder], net, readout))``; ``net`` from the module-tree
    converter (``model`` is then a copy this function may annotate) or, with ``graph``, from the
    torch.fx converter (:func:`~analysis.snn.graph.convert_graph`)."""
    check_choice("input_encoding", input_encoding, ("analog", "spikes"))
    layers = nn.Sequential()
    if input_encoding == "spikes":
        enc, ctx = _encoder(ctx)
        parts = {InputClamp: "encoder.clamp", RepeatSteps: "encoder.repeat"}  # the neuron is the encoder
        for m in enc.modules():
            m.source_name = parts.get(type(m), "encoder")
        layers.add_module("encoder", enc)
    if isinstance(model, SpikingNetwork):
        model = model.body
    if graph:
        body = convert_graph(model, ctx, leaf_modules)
    else:
        body, ctx = convert_module(stamp_source_names(model), ctx)
        if not ctx.stepped:
            raise ConversionError("the model has no quantized activation (QCFS/ClampQuant) or IF neuron to convert")
    layers.add_module("net", body)
    readout = MeanOverSteps()
    readout.source_name = "readout"
    layers.add_module("readout", readout)
    network = SpikingNetwork(layers, ctx.form, ctx.steps, input_encoding, layout).eval()
    network.source_name = layers.source_name = ""  # the whole model
    return network


def _strip_readout(model: nn.Module) -> nn.Module:
    """Drop a trailing MeanOverSteps (the converter adds its own readout)."""
    if isinstance(model, SpikingNetwork):
        model = model.body
    if isinstance(model, nn.Sequential) and len(model) and isinstance(model[-1], MeanOverSteps):
        return nn.Sequential(OrderedDict(list(model.named_children())[:-1]))
    return model


def to_if_snn(
    qann: nn.Module,
    timesteps: int,
    input_encoding: str = "analog",
    layout: str = "auto",
    leaf_modules: Sequence[type] = (),
    converter: str = "auto",
) -> SpikingNetwork:
    """The T-step IF SNN of a quantized ANN (QCFS conversion, Bu et al. 2022).

    Each QCFS(λ, φ) becomes an :class:`IFNeuron` with θ = λ and ``v_init = φ`` (reset by
    subtraction); BatchNorm is folded into the preceding conv/linear; the next layer's weights are
    multiplied by θ. The first layer sees analog pixels (its current repeated over T steps) and
    logits are the classifier output averaged over T (see the module docstring). As T grows the
    spike rates approach the quantized activations; exact equality holds only where every layer's
    input current is constant over time. ``layout``: ``"sequence"``, ``"stream"`` or ``"auto"``
    (see :attr:`SpikingNetwork.layout`).

    ``converter``/``leaf_modules`` as in :func:`to_quantized`: a model with its own ``forward`` (or a
    ``GraphModule`` from ``to_quantized``) is converted node by node from its torch.fx graph
    (:mod:`analysis.snn.graph`); the result is the same network either way. Every converted module
    carries ``source_name``, the layer of ``qann`` it came from.
    """
    timesteps = check_positive_int("timesteps", timesteps)
    ctx = ConversionContext(SpikingForm.IF, timesteps)
    if use_graph(qann, leaf_modules, converter):
        return _build(qann, ctx, input_encoding, layout, graph=True, leaf_modules=leaf_modules)
    return _build(fold_batchnorm(qann), ctx, input_encoding, layout)


def to_onespike(
    model: nn.Module,
    groups: int,
    mode: str = "exact",
    input_encoding: str = "analog",
    group_threshold_scales: Sequence[float] | None = None,
    group_code: str = "rate",
    layout: str = "auto",
    leaf_modules: Sequence[type] = (),
    converter: str = "auto",
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
    ``θ·scales[i]``; spikes of group i are then worth ``θ·scales[i]``. ``group_code``: ``"rate"``
    (an IF scan over the groups) or ``"bitplane"`` (scales ``G·2^i/(2^G − 1)``: the G spikes are the
    binary digits of one level, and OneSpike(G) equals the quantized ANN with L = 2^G − 1; see
    :class:`~analysis.snn.neurons.PSGNeuron`).

    ``layout``: ``"onepass"`` (the default via ``"auto"``) or ``"grouped"``; see
    :attr:`SpikingNetwork.layout`. ``converter``/``leaf_modules``: see :func:`to_if_snn`.
    """
    groups = check_positive_int("groups", groups)
    scales = None
    if group_threshold_scales is not None:
        scales = tuple(float(s) for s in group_threshold_scales)
        if len(scales) != groups:
            raise ValueError(f"group_threshold_scales needs {groups} values (one per group), got {len(scales)}")
    if group_code != "rate" and scales is None:
        raise ValueError(f"group_code={group_code!r} needs group_threshold_scales (one per group, θ_i = 2^i·θ_0)")
    ctx = ConversionContext(SpikingForm.ONESPIKE, groups, mode=mode, group_threshold_scales=scales,
                            group_code=group_code)
    source = _strip_readout(model)
    if use_graph(source, leaf_modules, converter):
        return _build(source, ctx, input_encoding, layout, graph=True, leaf_modules=leaf_modules)
    if not any(isinstance(m, IFNeuron) for m in source.modules()):
        return _build(fold_batchnorm(source), ctx, input_encoding, layout)
    return _build(copy.deepcopy(source), ctx, input_encoding, layout)
