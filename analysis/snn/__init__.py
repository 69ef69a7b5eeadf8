"""Stage 2 of the data flow: neurons, the modules of converted networks, and the conversion ladder
ANN -> quantized ANN -> T-step IF SNN -> OneSpike (and ANN -> BNN).

``neurons`` (QCFS, ClampQuant, IFNeuron, PSGNeuron, binary layers) <- ``context`` (conversion
context, BN folding, the converter registry) <- ``modules`` (Stepwise, PSGLayer, SpikingNetwork,
residual modules) <- ``convert`` (to_quantized, to_if_snn, to_onespike, to_binary).
"""

from analysis.snn.context import (
    CONVERTERS,
    ConversionContext,
    ConversionError,
    convert_module,
    fold_batchnorm,
    fuse_conv_bn,
    register_converter,
)
from analysis.snn.convert import (
    calibrate_thresholds,
    round_thresholds_pow2,
    to_binary,
    to_if_snn,
    to_onespike,
    to_quantized,
)
from analysis.snn.modules import (
    InputClamp,
    MeanOverSteps,
    PSGLayer,
    RepeatGroups,
    RepeatSteps,
    ResidualAdd,
    ResidualBlock,
    ShortcutScale,
    SpikingNetwork,
    Stepwise,
)
from analysis.snn.neurons import (
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    BinaryLinear,
    ClampQuant,
    IFNeuron,
    PSGNeuron,
    is_power_of_two,
)

__all__ = [
    "CONVERTERS",
    "QCFS",
    "BinaryActivation",
    "BinaryConv2d",
    "BinaryLinear",
    "ClampQuant",
    "ConversionContext",
    "ConversionError",
    "IFNeuron",
    "InputClamp",
    "MeanOverSteps",
    "PSGLayer",
    "PSGNeuron",
    "RepeatGroups",
    "RepeatSteps",
    "ResidualAdd",
    "ResidualBlock",
    "ShortcutScale",
    "SpikingNetwork",
    "Stepwise",
    "calibrate_thresholds",
    "convert_module",
    "fold_batchnorm",
    "fuse_conv_bn",
    "is_power_of_two",
    "register_converter",
    "round_thresholds_pow2",
    "to_binary",
    "to_if_snn",
    "to_onespike",
    "to_quantized",
]
