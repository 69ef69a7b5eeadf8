"""The built-in methods: how each is built from the trained network of the method it descends from,
how a network of it is recognised (its detector), and their registration in
:data:`~analysis.methods.registry.METHODS` (in the order tables and figures use).

How a method is built (``build(parent, steps=..., levels=..., **options)``) from the network of the
method it descends from (``parent``; the ANN, or the quantized ANN for the spiking methods):

========== ========== ================================================================================
method     parent     network
========== ========== ================================================================================
``ann``    (trained)  the full-precision ANN (ReLU), FP32 weights
``int8``   ``ann``    the ANN post-training quantized: 8-bit per-channel weights, 8-bit activations (255
                      steps, clip at the 99.99th percentile of training pre-activations)
``qcfs``   ``ann``    ReLU -> QCFS with L levels (shift ½), then fine-tuned (``training="quantized"``)
``cq``     ``ann``    ReLU -> clamp-and-quantize with L levels (no shift), fine-tuned
``if``     ``qcfs``   T-step IF SNN (θ = λ, v_init = φ, reset by subtraction)
``onespike`` ``qcfs`` OneSpike(G): PSG layers, G groups in one timestep
``bnn``    ``ann``    sign activations, binary hidden weights (XNOR-Net α), trained (``training="binary"``)
========== ========== ================================================================================

Directly trained SNNs (``training="direct"``: surrogate gradients, BPTT over T, trained from scratch
in the ANN's shape, once per T; :mod:`analysis.study.direct`), and OneSpike made from them:

================== ============== ====================================================================
``direct_if``      ``ann`` shape  T-step IF SNN (soft reset), every ReLU an IF neuron, trained directly
``direct_lif``     ``ann`` shape  T-step LIF SNN (λ = 0.5, hard reset to 0: SpikingJelly's LIFNode(τ=2)
                                  default), trained directly
``direct_if_psg``  ``direct_if``  OneSpike(G = T) with the SNN's own thresholds (PSG)
``direct_lif_psg`` ``direct_lif`` OneSpike(G = T) with the SNN's own thresholds (PSG keeps no leak and
                                  resets by subtraction: Q14 measures what that costs)
================== ============== ====================================================================

A SpikingJelly, snnTorch, Norse or Sinabs network (or one with a neuron of the user's own that
carries a threshold and a membrane) is a directly trained SNN too: counted, it is ``direct_lif`` when
one of its neurons leaks (or is not recognised), else ``direct_if``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from analysis.methods.registry import register_method
from analysis.methods.spec import Builder, Method, MethodSpec, TrainingKind
from analysis.palette import EXTRA_METHOD_COLORS, OKABE_ITO, TOL_MUTED
from analysis.snn.ann_forms import to_binary, to_quantized
from analysis.snn.binary import BinaryActivation, BinaryConv2d, BinaryLinear
from analysis.snn.context import fold_batchnorm
from analysis.snn.convert import to_if_snn, to_onespike
from analysis.snn.frameworks import framework_leaks, is_framework_neuron, looks_like_neuron
from analysis.snn.lif import LIFNeuron
from analysis.snn.neurons import IFNeuron, PSGNeuron
from analysis.snn.onestep import DirectSNN, framework_form, spiking_from_ann
from analysis.snn.quantize import FLOAT_WEIGHT_BITS, ActivationQuant, to_int8
from analysis.snn.quantizers import QCFS
from analysis.snn.vocabulary import QuantizerKind, StepAxis

__all__: list[str] = []  # importing this module registers the built-in methods; it exports nothing


def _same(parent: nn.Module, **_: Any) -> nn.Module:
    """The ANN is its own network (trained from scratch)."""
    return parent


def _quantized(kind: QuantizerKind) -> Builder:
    def build(parent: nn.Module, levels: int = 4, **_: Any) -> nn.Module:
        return to_quantized(parent, levels, kind, calibrated_later=True)  # trained (or calibrated) next

    build.__doc__ = f"ReLU -> {kind} with ``levels`` levels (weights copied from the ANN)."
    return build


def _int8(parent: nn.Module, calibration_data=None, **_: Any) -> nn.Module:
    """The ANN with 8-bit activations calibrated on ``calibration_data`` (give ``parent`` with its
    weights already quantized: the study passes the ANN's deploy form at 8 bits)."""
    if calibration_data is None:
        raise ValueError("the int8 method calibrates its activation ranges: pass calibration_data (training images)")
    return to_int8(parent, calibration_data)


def _binary(parent: nn.Module, **_: Any) -> nn.Module:
    return to_binary(parent)


def _if(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    # levels are the parent's (a spiking network's levels are its steps): not an option of the SNN
    return to_if_snn(parent, steps, **options)


def _onespike(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    return to_onespike(parent, steps, **options)


def _direct(decay: float, v_reset: float | None) -> Builder:
    def build(parent: nn.Module, steps: int = 4, levels: int | None = None, example: Any = None,
              **_: Any) -> DirectSNN:
        if any(is_framework_neuron(m) for m in parent.modules()):
            return framework_form(parent, steps, example)
        return spiking_from_ann(parent, steps, decay=decay, v_reset=v_reset)

    build.__doc__ = (f"The T-step SNN to train directly: every ReLU of ``parent`` (the ANN's shape) a neuron with "
                     f"decay {decay} and {'soft reset' if v_reset is None else f'hard reset to {v_reset}'}, with "
                     "surrogate gradients; a SpikingJelly/snnTorch ``parent`` keeps its own neurons (``example``: "
                     "images, for a network written as its own forward).")
    return build


def _direct_onespike(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    # PSG with the directly trained SNN's own thresholds; a spike is worth 1, as it was in training. Batch
    # norm folded as in the SNN's deploy form (to_if_snn folds it): to_onespike keeps the batch norms of
    # a body with spiking neurons, which would price a mul and an add per element and group that the SNN
    # does not pay.
    body = parent.body if isinstance(parent, DirectSNN) else parent
    return to_onespike(fold_batchnorm(body), steps, **options)


def _foreign_neuron(m: nn.Module) -> bool:
    """A spiking neuron from another framework or a user's own (recognised or not): the network
    spikes, so it is never counted as an ANN."""
    return is_framework_neuron(m) or (looks_like_neuron(m) and not type(m).__module__.startswith("analysis."))


def _leaky(m: nn.Module) -> bool:
    return (isinstance(m, LIFNeuron) and m.leaky) or (_foreign_neuron(m) and framework_leaks(m))


for _spec in (
    MethodSpec(Method.ANN, "ANN (float)", "ANN", OKABE_ITO["black"], _same, training=TrainingKind.FULL_PRECISION,
               weight_bits=FLOAT_WEIGHT_BITS),
    MethodSpec(Method.INT8, "INT8 ANN", "INT8", EXTRA_METHOD_COLORS["dark_grey"], _int8, parent=Method.ANN,
               act_levels=255, weight_bits=8, needs_calibration=True, detect=lambda m: isinstance(m, ActivationQuant)),
    MethodSpec(Method.QCFS, "QCFS (L levels)", "QCFS", OKABE_ITO["bluish_green"], _quantized(QuantizerKind.QCFS),
               parent=Method.ANN, training=TrainingKind.QUANTIZED, quantized=True,
               detect=lambda m: isinstance(m, QCFS) and bool(m.shift) and not isinstance(m, ActivationQuant)),
    MethodSpec(Method.CQ, "clamp-quant (L)", "CQ", OKABE_ITO["sky_blue"], _quantized(QuantizerKind.CQ),
               parent=Method.ANN, training=TrainingKind.QUANTIZED, quantized=True,
               detect=lambda m: isinstance(m, QCFS) and not m.shift),
    MethodSpec(Method.IF, "IF SNN (T steps)", "IF", OKABE_ITO["vermillion"], _if, parent=Method.QCFS, spiking=True,
               steps=StepAxis.TIME, vmem_bits=16, detect=lambda m: isinstance(m, IFNeuron)),
    MethodSpec(Method.ONESPIKE, "OneSpike (G groups)", "OneSpike", OKABE_ITO["blue"], _onespike, parent=Method.QCFS,
               spiking=True, steps=StepAxis.GROUPS, vmem_bits=16, detect=lambda m: isinstance(m, PSGNeuron)),
    MethodSpec(Method.BNN, "BNN", "BNN", TOL_MUTED["indigo"], _binary, parent=Method.ANN,
               training=TrainingKind.BINARY,
               detect=lambda m: isinstance(m, BinaryActivation | BinaryConv2d | BinaryLinear)),
    MethodSpec(Method.DIRECT_IF, "IF SNN, trained directly (T steps)", "dIF", OKABE_ITO["orange"], _direct(1.0, None),
               parent=Method.ANN, training=TrainingKind.DIRECT, spiking=True, steps=StepAxis.TIME, vmem_bits=16,
               detect=lambda m: isinstance(m, LIFNeuron) or _foreign_neuron(m)),
    MethodSpec(Method.DIRECT_LIF, "LIF SNN, trained directly (T steps)", "dLIF", EXTRA_METHOD_COLORS["dark_orange"],
               _direct(0.5, 0.0), parent=Method.ANN, training=TrainingKind.DIRECT, spiking=True, steps=StepAxis.TIME,
               vmem_bits=16, detect=_leaky),
    MethodSpec(Method.DIRECT_IF_PSG, "OneSpike from direct IF (G groups)", "dIF→PSG", OKABE_ITO["reddish_purple"],
               _direct_onespike, parent=Method.DIRECT_IF, spiking=True, steps=StepAxis.GROUPS, vmem_bits=16),
    MethodSpec(Method.DIRECT_LIF_PSG, "OneSpike from direct LIF (G groups)", "dLIF→PSG",
               EXTRA_METHOD_COLORS["dark_reddish_purple"],
               _direct_onespike, parent=Method.DIRECT_LIF, spiking=True, steps=StepAxis.GROUPS, vmem_bits=16),
):
    register_method(_spec)
