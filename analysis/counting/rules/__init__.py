"""The module rules, grouped by layer family; importing this package registers them all in
:data:`analysis.counting.registry.COUNTING_RULES`. (``operators``, the operator rules of the arithmetic
aten operators, and ``functional``, those of the same activations and normalisations, register into
the operator pass and are imported by :mod:`analysis.counting` after it.)"""

from analysis.counting.rules.attention import attention_rule
from analysis.counting.rules.elementwise import activation_rule, batch_stats_norm_rule, norm_rule
from analysis.counting.rules.event_input import event_input_rule
from analysis.counting.rules.frameworks import (
    complete_snn_ledger,
    framework_neuron_rule,
    lif_rule,
    sj_container_rule,
    sj_layer_rule,
)
from analysis.counting.rules.neurons import (
    binary_activation_rule,
    clip_rule,
    if_rule,
    psg_layer_rule,
    psg_neuron_rule,
    quant_rule,
    relu_rule,
)
from analysis.counting.rules.nir import nir_conv1d_rule, nir_neuron_rule
from analysis.counting.rules.norse_sinabs import norse_sinabs_rule
from analysis.counting.rules.pooling import avgpool_rule, maxpool_rule
from analysis.counting.rules.structure import (
    batchnorm_rule,
    clamp_rule,
    flatten_rule,
    readout_rule,
    repeat_rule,
    residual_rule,
    shortcut_scale_rule,
)
from analysis.counting.rules.synapses import binary_synapse_rule, reached_synapses, synapse_rule

__all__ = [
    "activation_rule",
    "attention_rule",
    "avgpool_rule",
    "batch_stats_norm_rule",
    "batchnorm_rule",
    "binary_activation_rule",
    "binary_synapse_rule",
    "clamp_rule",
    "clip_rule",
    "complete_snn_ledger",
    "event_input_rule",
    "flatten_rule",
    "framework_neuron_rule",
    "if_rule",
    "lif_rule",
    "maxpool_rule",
    "nir_conv1d_rule",
    "nir_neuron_rule",
    "norm_rule",
    "norse_sinabs_rule",
    "psg_layer_rule",
    "psg_neuron_rule",
    "quant_rule",
    "reached_synapses",
    "readout_rule",
    "relu_rule",
    "repeat_rule",
    "residual_rule",
    "shortcut_scale_rule",
    "sj_container_rule",
    "sj_layer_rule",
    "synapse_rule",
]
