"""Activations that are not ReLUs: what :func:`~analysis.snn.convert.to_quantized` cannot quantize.

Only the ReLU family (``nn.ReLU``, ``F.relu``, ``nn.ReLU6``, ``nn.Hardtanh(0, a)``, ``clamp(0[, a])``)
becomes a quantizer, and through it a spiking neuron. Any other activation (Hardswish and
Hardsigmoid in MobileNetV3, SiLU in EfficientNet, GELU in ViT/ConvNeXt, a sigmoid gate) would stay
in floating point, so the "quantized" network would not be one. :func:`float_activation_sites`
finds them, as module layers and as functional call sites, each with the user's source line where
the trace recorded it, so that ``to_quantized`` refuses the network by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from analysis.snn.trace import source_line

__all__ = ["FLOAT_ACTIVATION_FUNCTIONS", "FLOAT_ACTIVATION_METHODS", "FLOAT_ACTIVATION_TYPES", "float_activation_sites"]

#: Activation modules that are not a ReLU or a [0, a] clip.
FLOAT_ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU,
    nn.Mish, nn.Softplus, nn.PReLU, nn.RReLU, nn.LogSigmoid, nn.Softsign, nn.Tanhshrink, nn.GLU, nn.Threshold,
)
#: The same as functions (``F.gelu(x)``, ``torch.sigmoid(x)``), by the name the message shows.
FLOAT_ACTIVATION_FUNCTIONS: dict[object, str] = {
    F.hardswish: "F.hardswish", F.hardsigmoid: "F.hardsigmoid", F.silu: "F.silu", F.gelu: "F.gelu",
    torch.sigmoid: "torch.sigmoid", F.sigmoid: "F.sigmoid", torch.tanh: "torch.tanh", F.tanh: "F.tanh",
    F.leaky_relu: "F.leaky_relu", F.elu: "F.elu", F.selu: "F.selu", torch.selu: "torch.selu", F.celu: "F.celu",
    F.mish: "F.mish", F.softplus: "F.softplus", F.prelu: "F.prelu", F.logsigmoid: "F.logsigmoid",
    F.softsign: "F.softsign", F.glu: "F.glu",
}
#: ... and as tensor methods (``x.sigmoid()``).
FLOAT_ACTIVATION_METHODS: frozenset[str] = frozenset({"sigmoid", "sigmoid_", "tanh", "tanh_"})


def float_activation_sites(model: nn.Module) -> list[str]:
    """Every non-ReLU activation of ``model`` (a module tree or a traced ``GraphModule``), one
    phrase each: ``"'features.1.act' (Hardswish)"`` or ``"F.gelu at 'act' (nets.py:22 in act():
    return F.gelu(x))"``."""
    sites = [f"{name!r} ({type(m).__name__})" for name, m in model.named_modules()
             if isinstance(m, FLOAT_ACTIVATION_TYPES)]
    if isinstance(model, fx.GraphModule):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target in FLOAT_ACTIVATION_FUNCTIONS:
                label = FLOAT_ACTIVATION_FUNCTIONS[node.target]
            elif node.op == "call_method" and node.target in FLOAT_ACTIVATION_METHODS:
                label = f"x.{node.target.rstrip('_')}()"
            else:
                continue
            line = source_line(node)
            sites.append(f"{label} at node {node.name!r}" + (f" ({line})" if line else ""))
    return sites
