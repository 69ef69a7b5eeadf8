"""Stage 2 of the data flow: neurons, the modules of converted networks, and the conversion ladder
ANN -> quantized ANN -> T-step IF SNN -> OneSpike (and ANN -> BNN).

``vocabulary`` (the closed sets every later stage shares: :class:`StepAxis`, :class:`SpikingForm`,
:class:`QuantizerKind`) <- ``neurons`` (QCFS, ClampQuant, IFNeuron, PSGNeuron, binary layers) <- ``context`` (conversion
context, BN folding, the converter registry) <- ``modules`` (the layers of converted networks: Stepwise,
PSGLayer, ShortcutScale, residual modules) <- ``network`` (SpikingNetwork) <- ``ops`` (Concat, Reshape,
Mean: functional ops as modules) <- ``rules`` (the type -> rule conversions, the zoo's blocks included)
and ``trace`` (torch.fx: explicit graphs with one node per call site, named by ``call_sites``) <-
``graph`` (node-by-node
conversion of a traced model) <- ``convert`` (to_quantized, to_if_snn, to_onespike, to_binary: the
module tree where it is exact, else the graph) <- ``quantize`` (per-channel weight quantization of
the deploy form, the INT8 ANN's activations).
"""

from analysis.snn.ann_forms import round_thresholds_pow2, to_binary, to_quantized
from analysis.snn.binary import BinaryActivation, BinaryConv2d, BinaryLinear
from analysis.snn.calibration import CALIBRATION_SAMPLE, calibrate_thresholds, float_clips
from analysis.snn.context import (
    CONVERTERS,
    ConversionContext,
    ConversionError,
    convert_module,
    fold_batchnorm,
    fuse_conv_bn,
    register_converter,
)
from analysis.snn.convert import to_if_snn, to_onespike
from analysis.snn.frameworks import NeuronSpec, is_framework_neuron, looks_like_neuron, neuron_spec
from analysis.snn.graph import convert_graph, fold_batchnorm_graph
from analysis.snn.lif import FoldedTime, LIFNeuron, spike_fn
from analysis.snn.modules import (
    InputClamp,
    MeanOverSteps,
    PSGLayer,
    RepeatGroups,
    RepeatSteps,
    ResidualAdd,
    ResidualBlock,
    ShortcutScale,
    Stepwise,
)
from analysis.snn.network import SpikingNetwork
from analysis.snn.neurons import IFNeuron, PSGNeuron
from analysis.snn.nir_export import to_nir
from analysis.snn.nir_io import from_nir
from analysis.snn.nir_nodes import NIRConv1d, NIRNetwork, NIRNeuron
from analysis.snn.ops import Concat, Mean, Reshape
from analysis.snn.psg_code import is_power_of_two
from analysis.snn.quantize import (
    CALIBRATION_PERCENTILE,
    FLOAT_WEIGHT_BITS,
    ActivationQuant,
    check_weight_bits,
    quantize_per_channel,
    quantize_weights,
    to_int8,
    weight_bits_of,
)
from analysis.snn.quantizers import QCFS, ClampQuant
from analysis.snn.timeloop import TimeLoop
from analysis.snn.trace import call_site_names, explicit_graph, trace, tree_convertible
from analysis.snn.vocabulary import QuantizerKind, SpikingForm, StepAxis, Word

__all__ = [
    "CALIBRATION_PERCENTILE",
    "CALIBRATION_SAMPLE",
    "CONVERTERS",
    "FLOAT_WEIGHT_BITS",
    "QCFS",
    "ActivationQuant",
    "BinaryActivation",
    "BinaryConv2d",
    "BinaryLinear",
    "ClampQuant",
    "Concat",
    "ConversionContext",
    "ConversionError",
    "FoldedTime",
    "IFNeuron",
    "InputClamp",
    "LIFNeuron",
    "Mean",
    "MeanOverSteps",
    "NIRConv1d",
    "NIRNetwork",
    "NIRNeuron",
    "NeuronSpec",
    "PSGLayer",
    "PSGNeuron",
    "QuantizerKind",
    "RepeatGroups",
    "RepeatSteps",
    "Reshape",
    "ResidualAdd",
    "ResidualBlock",
    "ShortcutScale",
    "SpikingForm",
    "SpikingNetwork",
    "StepAxis",
    "Stepwise",
    "TimeLoop",
    "Word",
    "calibrate_thresholds",
    "call_site_names",
    "check_weight_bits",
    "convert_graph",
    "convert_module",
    "explicit_graph",
    "float_clips",
    "fold_batchnorm",
    "fold_batchnorm_graph",
    "from_nir",
    "fuse_conv_bn",
    "is_framework_neuron",
    "is_power_of_two",
    "looks_like_neuron",
    "neuron_spec",
    "quantize_per_channel",
    "quantize_weights",
    "register_converter",
    "round_thresholds_pow2",
    "spike_fn",
    "to_binary",
    "to_if_snn",
    "to_int8",
    "to_nir",
    "to_onespike",
    "to_quantized",
    "trace",
    "tree_convertible",
    "weight_bits_of",
]
