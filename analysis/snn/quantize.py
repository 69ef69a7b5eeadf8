"""Weight and activation quantization of a network's deploy form: what runs is what is priced.

- :func:`quantize_weights`: every conv/linear weight tensor per output channel, symmetric, on the
  grid ``k · s_c`` with ``k`` an integer in ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` and
  ``s_c = max |W_c| / (2^(b-1) - 1)`` (a channel of zeros stays zero). The weights are replaced by
  their quantized values (fake quantization: float tensors holding exactly the integer grid), and
  each layer records its width in the attribute ``weight_bits``, which the counter reads
  (:func:`weight_bits_of`). Binary layers (XNOR-Net) are 1 bit and are left as they are; a width of
  :data:`FLOAT_WEIGHT_BITS` (32) marks float weights and changes nothing. Biases stay in float (an
  accumulator-width add, as every method's bias is priced).
- :class:`ActivationQuant` and :func:`to_int8`: the post-training INT8 ANN's activations, a ReLU
  replaced by ``round(clip(x, 0, λ) · (2^b - 1)/λ) · λ/(2^b - 1)`` (unsigned, 2^b - 1 = 255 steps for
  b = 8) with λ calibrated on training images (the :data:`CALIBRATION_PERCENTILE` of the layer's
  positive pre-activations).

Quantize the deploy form (BN folded, RepVGG re-parameterized): folding after quantizing would move the
weights off their grid.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from analysis.snn.ann_forms import to_quantized
from analysis.snn.binary import BinaryConv2d, BinaryLinear
from analysis.snn.quantizers import QCFS
from analysis.snn.vocabulary import QuantizerKind
from analysis.validate import check_int, is_integer

__all__ = [
    "CALIBRATION_PERCENTILE",
    "FLOAT_WEIGHT_BITS",
    "MAX_WEIGHT_BITS",
    "ActivationQuant",
    "check_weight_bits",
    "quantize_per_channel",
    "quantize_weights",
    "to_int8",
    "weight_bits_of",
]

#: The width that marks float (unquantized) weights.
FLOAT_WEIGHT_BITS = 32
#: The widest integer weight the quantizer makes (above it float32 cannot hold the grid exactly).
MAX_WEIGHT_BITS = 16
#: The percentile of a layer's positive pre-activations (on the calibration images) that sets the
#: INT8 ANN's clip λ: 99.99 keeps a rare outlier from stretching the 255 steps over empty range.
CALIBRATION_PERCENTILE = 99.99


def check_weight_bits(name: str, bits: int) -> int:
    """A weight width: an integer in [2, 16] (per-channel symmetric) or 32 (float weights)."""
    if is_integer(bits) and (int(bits) == FLOAT_WEIGHT_BITS or 2 <= int(bits) <= MAX_WEIGHT_BITS):
        return int(bits)
    raise ValueError(f"{name} must be an integer in [2, {MAX_WEIGHT_BITS}] (per-channel symmetric integer weights) or "
                     f"{FLOAT_WEIGHT_BITS} (float weights), got {bits!r}; 1-bit weights are a BNN's binary layers")


def quantize_per_channel(weight: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """``(integers, scales)`` of ``weight`` quantized per output channel (dim 0), symmetric, at
    ``bits``: ``integers`` (int64, in ``[-(2^(b-1) - 1), 2^(b-1) - 1]``, the weight's shape) times
    ``scales`` (one per channel, broadcastable) is the quantized weight. Rounding is to nearest
    (half to even, torch.round); the largest |weight| of a channel lands exactly on ±(2^(b-1) - 1)."""
    bits = check_weight_bits("bits", bits)
    top = 2 ** (bits - 1) - 1
    flat = weight.detach().reshape(weight.shape[0], -1)
    peak = flat.abs().amax(dim=1)
    scales = torch.where(peak > 0, peak / top, torch.ones_like(peak))
    scales = scales.reshape(-1, *([1] * (weight.dim() - 1)))
    integers = torch.clamp(torch.round(weight.detach() / scales), -top, top).to(torch.int64)
    return integers, scales


def _synapses(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def quantize_weights(model: nn.Module, bits: int) -> nn.Module:
    """A copy of ``model`` whose conv/linear weights are quantized per output channel at ``bits``
    (see the module docstring); every such layer records ``weight_bits`` (binary layers 1, float 32).
    ``bits = 32`` returns a copy with float weights, marked 32."""
    bits = check_weight_bits("weight_bits", bits)
    result = copy.deepcopy(model)
    with torch.no_grad():
        for layer in _synapses(result):
            if isinstance(layer, BinaryConv2d | BinaryLinear):
                layer.weight_bits = 1
                continue
            if bits < FLOAT_WEIGHT_BITS:
                integers, scales = quantize_per_channel(layer.weight, bits)
                layer.weight.copy_(integers.to(layer.weight.dtype) * scales)
            layer.weight_bits = bits
    return result


def weight_bits_of(layer: nn.Module) -> int:
    """The width of ``layer``'s weights as the network holds them: 1 for a binary layer, the
    ``weight_bits`` the quantizer recorded, else 32 (float weights)."""
    if isinstance(layer, BinaryConv2d | BinaryLinear):
        return 1
    return int(getattr(layer, "weight_bits", FLOAT_WEIGHT_BITS))


class ActivationQuant(QCFS):
    r"""The INT8 ANN's activation: unsigned, ``levels`` = 2^b - 1 steps, round to nearest.

    .. math:: y = \frac{\lambda}{L}\,\mathrm{clip}\Big(\big\lfloor x\frac{L}{\lambda} + \tfrac12\big\rfloor, 0, L\Big)

    i.e. QCFS's equation with φ = ½ (round half up) and L = 255, with λ calibrated after training
    (post-training quantization) instead of learned. A class of its own so that a network of it is
    told from a QCFS network (``analysis.methods.infer_method``).
    """

    def __init__(self, levels: int = 255, threshold: float = 1.0):
        super().__init__(levels=levels, threshold=threshold, shift=0.5, trainable=False)


@torch.no_grad()
def to_int8(ann: nn.Module, calibration_data: Tensor, bits: int = 8,
            percentile: float = CALIBRATION_PERCENTILE) -> nn.Module:
    """The post-training quantized ANN: every ReLU call site becomes an :class:`ActivationQuant` with
    2^bits - 1 steps whose clip λ is the ``percentile`` of that layer's positive pre-activations on
    ``calibration_data`` (training images, never test images), all layers calibrated in one pass of
    the float network ``ann`` with no quantizer live (:func:`~analysis.snn.calibration.float_clips`).
    Weights are not touched here: quantize them with :func:`quantize_weights`
    (the study quantizes the ANN's deploy form at 8 bits before this)."""
    bits = check_int("bits", bits, 2, MAX_WEIGHT_BITS)
    if not isinstance(calibration_data, Tensor) or calibration_data.dim() < 2 or not len(calibration_data):
        raise ValueError("to_int8 needs calibration_data: a batch of training images [N, ...] with N >= 1")
    levels = 2**bits - 1
    qann = to_quantized(ann, levels, QuantizerKind.QCFS, calibration_data=calibration_data,
                        calibration_percentile=percentile)
    for name, module in list(qann.named_modules()):
        if type(module) is QCFS:
            quant = ActivationQuant(levels, float(module.threshold))
            quant.__dict__.update({k: v for k, v in module.__dict__.items() if k in ("source_name", "float_clip")})
            parent, _, attr = name.rpartition(".")
            setattr(qann.get_submodule(parent) if parent else qann, attr, quant)
    return qann.eval()
