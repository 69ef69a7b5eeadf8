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
import math
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from analysis.snn.activations import float_activation_sites
from analysis.snn.binary import BinaryActivation, BinaryConv2d, BinaryLinear
from analysis.snn.calibration import (
    bounded_threshold,
    calibrate_thresholds,
    float_samples,
    is_relu_activation,
    mse_clip,
    percentile_clip,
)
from analysis.snn.context import (
    ConversionContext,
    ConversionError,
    convert_module,
    fold_batchnorm,
)
from analysis.snn.graph import convert_graph
from analysis.snn.modules import InputClamp, MeanOverSteps, PSGLayer, RepeatSteps, SpikingNetwork
from analysis.snn.neurons import IFNeuron, PSGNeuron
from analysis.snn.quantizers import QCFS, ClampQuant
from analysis.snn.rules import make_neuron  # noqa: F401  (registers the conversion rules)
from analysis.snn.trace import explicit_graph, stamp_source_names, tree_convertible
from analysis.snn.vocabulary import QuantizerKind, SpikingForm, StepAxis
from analysis.validate import check_choice, check_positive_int

__all__ = [
    "calibrate_thresholds",  # re-exported from analysis.snn.calibration
    "round_thresholds_pow2",
    "to_binary",
    "to_if_snn",
    "to_onespike",
    "to_quantized",
]

# -- ANN -> quantized ANN --------------------------------------------------------------------------
def _replace_modules(module: nn.Module, predicate, factory, prefix: str = "") -> int:
    count = 0
    for name, child in list(module.named_children()):
        path = f"{prefix}.{name}" if prefix else name
        if predicate(child):
            setattr(module, name, factory(child, path))
            count += 1
        else:
            count += _replace_modules(child, predicate, factory, path)
    return count


def _use_graph(model: nn.Module, leaf_modules: Sequence[type], converter: str) -> bool:
    if converter not in ("auto", "tree", "graph"):
        raise ValueError(f"converter must be 'auto', 'tree' or 'graph', got {converter!r}")
    if converter == "auto":
        return bool(leaf_modules) or not tree_convertible(model)
    return converter == "graph"


def _clip_value(module: nn.Module, path: str) -> float | None:
    """The clip of a ReLU6 / Hardtanh(0, a) (None for a plain ReLU); other clips are refused."""
    if type(module) is nn.ReLU:
        return None
    if float(module.min_val) != 0.0 or float(module.max_val) <= 0.0:
        raise ConversionError(
            f"layer {path or type(module).__name__} is {type(module).__name__}(min_val={module.min_val}, "
            f"max_val={module.max_val}): only clips of the form [0, a] with a > 0 become a quantizer (the clip "
            "is the quantizer's clamp). Use nn.ReLU, nn.ReLU6 or nn.Hardtanh(0, a)"
        )
    return float(module.max_val)


def to_quantized(
    ann: nn.Module,
    levels: int,
    kind: QuantizerKind | str = QuantizerKind.QCFS,
    threshold: float = 1.0,
    calibration_data: Tensor | None = None,
    leaf_modules: Sequence[type] = (),
    converter: str = "auto",
    calibration_percentile: float | None = None,
    calibrated_later: bool = False,
) -> nn.Module:
    """A copy of ``ann`` with every ReLU *call site* replaced by its own quantized activation with
    ``levels`` levels (its own threshold).

    Without ``calibration_data`` every threshold is ``threshold`` whatever the layer's range, which
    leaves a trained network near chance until it is fine-tuned: a ``UserWarning`` says so, unless
    ``calibrated_later`` (the caller calibrates or trains the thresholds next, as the study does).

    ``kind="qcfs"``: :class:`QCFS` (shift φ = ½); ``kind="cq"``: :class:`ClampQuant` (no shift).
    Thresholds start at ``threshold`` (at the clip value ``a`` for ``nn.ReLU6``/``nn.Hardtanh(0, a)``,
    whose clip is the quantizer's clamp) or, with ``calibration_data``, from each site's positive
    inputs in one pass of the **float** network ``ann`` (a seeded sample,
    :func:`~analysis.snn.calibration.float_samples`), so that no site is calibrated on inputs
    already clipped by the quantizers before it: the clip of least quantization error at ``levels``
    (:func:`~analysis.snn.calibration.mse_clip`), or their ``calibration_percentile`` where given;
    never above a clip value. Fine-tune afterwards (``analysis.training``).

    ``converter``: ``"tree"`` replaces ``nn.ReLU`` modules in place (the module tree and its type are
    kept); ``"graph"`` traces the model with torch.fx (:func:`~analysis.snn.trace.explicit_graph`),
    so functional ReLUs, a reused ``self.relu`` and ``+``/``torch.cat``/``view`` in a custom
    ``forward`` become explicit module nodes of the returned ``GraphModule`` (residual adds as
    :class:`ResidualAdd`); ``"auto"`` uses the tree where it is exact
    (:func:`~analysis.snn.trace.tree_convertible`), else the graph. ``leaf_modules``: module types
    the trace keeps as one node. Every module of the result carries ``source_name``, the user's
    module path or the call site's layer name (e.g. ``layer1.0.relu#2``, ``/relu``; see
    :func:`~analysis.snn.trace.layer_names_of`).

    Any other activation (Hardswish, Hardsigmoid, SiLU, GELU, a sigmoid gate, as a module or a
    function) is refused with a :class:`ConversionError` naming each one: it would stay in floating
    point and the result would not be a quantized network
    (:func:`~analysis.snn.activations.float_activation_sites`).
    """
    levels = check_positive_int("levels", levels)
    kind = QuantizerKind.parse(kind, "kind")
    use_graph = _use_graph(ann, leaf_modules, converter)

    calibrated: dict[nn.Module, float] = {}
    shift = kind.shift  # QCFS's φ; clamp-and-quantize has none

    def factory(module: nn.Module, path: str = "") -> nn.Module:
        clip = _clip_value(module, path)
        start = threshold if clip is None else clip
        if module in calibrated:  # the float network's statistic, never above the ANN's own clip
            start = bounded_threshold(calibrated[module], clip)
        quant = (QCFS if kind is QuantizerKind.QCFS else ClampQuant)(levels, start)
        quant.float_clip = clip  # the float activation it replaced, for a later float pass (calibration)
        return quant

    qann = explicit_graph(ann, leaf_modules) if use_graph else copy.deepcopy(ann)
    if calibration_data is not None:  # on the float network, before any quantizer is live
        for module, values in float_samples(qann, calibration_data).items():
            calibrated[module] = (mse_clip(values, levels, shift) if calibration_percentile is None
                                  else percentile_clip(values, calibration_percentile))
    if use_graph:
        replaced = 0
        for node in qann.graph.nodes:
            if node.op != "call_module":
                continue
            module = qann.get_submodule(node.target)
            if is_relu_activation(module):
                quant = factory(module, node.target)
                quant.source_name = module.__dict__.get("source_name", node.target)  # the call site's layer name
                parent, _, name = node.target.rpartition(".")
                setattr(qann.get_submodule(parent) if parent else qann, name, quant)
                replaced += 1
            else:  # a leaf module (rule, to_spiking or leaf_modules) may hold activations
                replaced += _replace_modules(module, is_relu_activation, factory, node.target)
    else:
        replaced = _replace_modules(qann, is_relu_activation, factory)
    floats = float_activation_sites(qann)
    if replaced == 0:
        raise ConversionError(
            "to_quantized found no nn.ReLU to replace; the model must use ReLU activations (nn.ReLU, F.relu, "
            "torch.relu, x.relu(), ReLU6/Hardtanh(0, a)) "
            + (f"and uses {', '.join(floats)}" if floats else
               f"(found types: {sorted({type(m).__name__ for m in ann.modules()})})")
        )
    if floats:
        raise ConversionError(
            f"to_quantized: {len(floats)} activation(s) are not ReLUs and would stay in floating point, so the "
            f"result would not be a quantized network: {', '.join(floats)}; only the ReLU family (nn.ReLU, F.relu, "
            "ReLU6, Hardtanh(0, a)) becomes a quantizer: replace them with ReLU or ReLU6 and fine-tune"
        )
    stamp_source_names(qann)
    if calibration_data is None and not calibrated_later:
        warnings.warn(f"to_quantized: no calibration_data, so all {replaced} thresholds start at {threshold} whatever "
                      "each layer's range: a trained network is then near chance until fine-tuned; pass "
                      "calibration_data=<a batch of training images> (or fine-tune, e.g. analysis.study.training)",
                      stacklevel=2)
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
def to_binary(ann: nn.Module, leaf_modules: Sequence[type] = (), converter: str = "auto") -> nn.Module:
    """A BNN of the same shape: ReLU -> sign activation, hidden conv/linear -> binary weights.

    The first synaptic layer (it sees analog pixels) and the last (the classifier) keep real
    weights, the usual BNN practice (XNOR-Net, Bi-Real). Latent weights start from ``ann``'s.
    ``converter``/``leaf_modules`` as in :func:`to_quantized` (a custom ``forward`` goes through
    the explicit graph, so functional ReLUs become sign activations too; first and last are then
    taken in execution order).
    """
    if _use_graph(ann, leaf_modules, converter):
        bnn = explicit_graph(ann, leaf_modules)
        calls = [(n.target, bnn.get_submodule(n.target)) for n in bnn.graph.nodes if n.op == "call_module"]
        synapses = [(f"{target}.{n}" if n else target, m) for target, called in calls
                    for n, m in called.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    else:
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
                act = BinaryActivation()
                act.source_name = child.__dict__.get("source_name", path)
                setattr(parent, name, act)
            else:
                swap(child, path)

    swap(bnn, "")
    return stamp_source_names(bnn)


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
    if _use_graph(qann, leaf_modules, converter):
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
    if _use_graph(source, leaf_modules, converter):
        return _build(source, ctx, input_encoding, layout, graph=True, leaf_modules=leaf_modules)
    if not any(isinstance(m, IFNeuron) for m in source.modules()):
        return _build(fold_batchnorm(source), ctx, input_encoding, layout)
    return _build(copy.deepcopy(source), ctx, input_encoding, layout)
