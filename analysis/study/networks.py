"""Networks for a method: every method built from its parent's weights through the method registry
(:func:`derive`), weights read from checkpoints (:func:`read_weights`), and the form a network is
evaluated and counted in.

What is evaluated is what is counted: :func:`priced_form` is a network's deploy form (BN folded,
RepVGG re-parameterized) with its weights quantized per channel at the width its method requests
(``MethodSpec.requested_weight_bits``); a converted method is built from its parent's priced form.

This is the one place that turns "architecture + method + weights" into a module; the study and
the CLI both call it. Building an architecture's ANN (a zoo name or the user's factory) lives in
:mod:`analysis.study.model_spec` (re-exported here); a study's trained networks in
:mod:`analysis.study.trained`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analysis.methods import get_method, reference_method
from analysis.snn import (
    QCFS,
    BinaryConv2d,
    BinaryLinear,
    ConversionError,
    explicit_graph,
    fold_batchnorm,
    fold_batchnorm_graph,
    quantize_weights,
    round_thresholds_pow2,
)
from analysis.study.checkpoint_files import CheckpointError, check_checkpoint_config, load_checkpoint
from analysis.study.hints import not_a_state_dict
from analysis.study.model_spec import MAX_PARAMETERS, ModelSpec, build_ann, import_factory

__all__ = [
    "MAX_PARAMETERS",
    "ModelSpec",
    "base_method",
    "build_ann",
    "deploy_form",
    "derive",
    "import_factory",
    "pow2_network",
    "priced_form",
    "read_weights",
    "relevel",
]


def base_method() -> str:
    """The method a bare state dict holds: the one every other is built from (the registry's
    :func:`~analysis.methods.reference_method`, the ANN)."""
    return reference_method()



def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, config)`` of a checkpoint: ours (``config`` records arch, method, levels,
    options, input size and, for a user's network, the ``model`` factory; each checked by
    :func:`~analysis.study.checkpoint_files.check_checkpoint_config`) or a bare state dict (``config`` names
    the base method, :func:`base_method`); always loaded with ``weights_only=True``."""
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        if "not a OneSpike Study checkpoint" not in str(exc):
            raise
    state = torch.load(path, map_location="cpu", weights_only=True)  # load_checkpoint read it safely already
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # the common {"state_dict": ...} wrapper of training scripts
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(not_a_state_dict(path, state))
    return state, check_checkpoint_config({"method": base_method()}, f"checkpoint {str(path)!r}")


def derive(method: str, parent: nn.Module, steps: int = 1, levels: int = 4, calibration: torch.Tensor | None = None,
           **options: Any) -> nn.Module:
    """The network of ``method`` built from its parent's network (the registry's ``build``);
    ``calibration``: training images for a method that calibrates (``spec.needs_calibration``, the
    INT8 ANN), required there and ignored elsewhere."""
    spec = get_method(method)
    if spec.needs_calibration:
        if calibration is None:
            raise ValueError(f"method {method!r} calibrates its activation ranges on training images: pass "
                             "calibration=<a batch of training images>")
        options["calibration_data"] = calibration
    return spec.build(parent, steps=steps, levels=levels, **options)


def relevel(qann: nn.Module, levels: int) -> nn.Module:
    """The same quantized ANN (weights, thresholds) with ``levels`` quantization levels."""
    result = copy.deepcopy(qann)
    for module in result.modules():
        if isinstance(module, QCFS):
            module.levels = levels
    return result


def deploy_form(model: nn.Module) -> tuple[nn.Module, str]:
    """The inference ("deploy") form every method is counted in, and a phrase that names it.

    A copy in eval mode with every multi-branch block that can re-parameterize itself (RepVGG)
    fused into one conv, and every BatchNorm that directly follows a conv/linear folded into it.
    Conversion to the spiking networks does the same, so every method is counted in one form
    (Fairness, DESIGN.md). A block whose branches hold binary kernels cannot fuse (the sum of two
    binary kernels is not binary): it stays multi-branch, and the phrase says so.
    """
    result = copy.deepcopy(model).eval()
    kept = 0
    for module in result.modules():
        if not (hasattr(module, "reparameterize") and hasattr(module, "reparameterized")):
            continue
        if any(isinstance(sub, BinaryConv2d | BinaryLinear) for sub in module.modules()):
            kept += 1
        elif not module.reparameterized:
            module.reparameterize()
    result = fold_batchnorm(result)
    if _has_unfolded_bn(result):
        result = _fx_fold(result)
    phrase = "BN folded, multi-branch blocks re-parameterized"
    if _has_unfolded_bn(result):
        phrase += "; BatchNorms not directly after a conv/linear stay (counted as their own layers)"
    if kept:
        phrase += f"; {kept} binary multi-branch block(s) kept unfused (binary kernels do not sum to a binary kernel)"
    return result, phrase


def priced_form(model: nn.Module, weight_bits: int) -> tuple[nn.Module, str]:
    """What a study evaluates *and* counts: the deploy form of ``model`` (:func:`deploy_form`) with
    its weights quantized per output channel at ``weight_bits`` (32: float weights), and the
    phrase that names the deploy form. Quantizing after folding keeps the counted weights on their
    grid; a spiking network converted from this form carries the same grid times θ."""
    net, phrase = deploy_form(model)
    return quantize_weights(net, weight_bits).eval(), phrase


def _has_unfolded_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in model.modules())


def _fx_fold(model: nn.Module) -> nn.Module:
    """A custom ``forward``'s explicit graph with conv -> BN folded (its call sites named as in the
    spiking forms); a model that does not trace keeps its BatchNorms (counted as their own layers)."""
    try:
        return fold_batchnorm_graph(explicit_graph(model).eval())
    except ConversionError:
        return model


def pow2_network(qann: nn.Module) -> nn.Module:
    """The quantized ANN with every threshold rounded to the nearest power of two (log2)."""
    return round_thresholds_pow2(qann)
