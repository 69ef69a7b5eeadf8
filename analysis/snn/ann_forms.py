"""The ladder's rungs that keep a network an ANN (no step axis): ANN -> quantized ANN
(:func:`to_quantized`: every ReLU call site a QCFS or clamp-and-quantize activation, thresholds
calibrated on the float network; :func:`round_thresholds_pow2` for PSG's hardware mode) and ANN -> BNN
(:func:`to_binary`). Both return new modules, keep every layer's ``source_name``, and go through the
module tree or the torch.fx graph as the spiking conversion does
(:func:`~analysis.snn.graph.use_graph`). The spiking rungs are :mod:`analysis.snn.convert`.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from analysis.snn.activations import float_activation_sites
from analysis.snn.binary import BinaryActivation, BinaryConv2d, BinaryLinear
from analysis.snn.calibration import (
    bounded_threshold,
    float_samples,
    is_relu_activation,
    mse_clip,
    percentile_clip,
)
from analysis.snn.context import ConversionError
from analysis.snn.graph import use_graph
from analysis.snn.quantizers import QCFS, ClampQuant
from analysis.snn.trace import explicit_graph, stamp_source_names
from analysis.snn.vocabulary import QuantizerKind
from analysis.validate import check_positive_int

__all__ = ["round_thresholds_pow2", "to_binary", "to_quantized"]


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
    graph = use_graph(ann, leaf_modules, converter)

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

    qann = explicit_graph(ann, leaf_modules) if graph else copy.deepcopy(ann)
    if calibration_data is not None:  # on the float network, before any quantizer is live
        for module, values in float_samples(qann, calibration_data).items():
            calibrated[module] = (mse_clip(values, levels, shift) if calibration_percentile is None
                                  else percentile_clip(values, calibration_percentile))
    if graph:
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
    if use_graph(ann, leaf_modules, converter):
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
