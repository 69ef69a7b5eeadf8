"""SNNs from elsewhere, recognised by class path: SpikingJelly (``activation_based``), snnTorch,
Norse and Sinabs (the last two's dynamics in :mod:`analysis.snn.spec`).

No framework is imported here (nor anywhere in ``analysis``): a module is recognised by the
defining module and qualified name of the classes in its MRO (:func:`class_paths`), and its
parameters are read as attributes. What this module knows of each neuron is gathered into a
:class:`NeuronSpec` (threshold, reset, leak, state variables) that the counter prices and the
OneSpike converter maps onto a PSG neuron:

========================================  ===========================================================
class                                     dynamics (h: membrane before reset, v: after; s: spike)
========================================  ===========================================================
SpikingJelly ``IFNode``                   h = v + x
SpikingJelly ``LIFNode`` (τ)              h = v + (x − (v − v_r))/τ (``decay_input``), else
                                          h = v − (v − v_r)/τ + x  (v_r = 0 for soft reset)
SpikingJelly ``ParametricLIFNode``        as LIFNode with 1/τ = sigmoid(w) (learned)
  all three                               s = H(h − θ) (H(0) = 1); v = h − θ·s (``v_reset=None``,
                                          soft) or v = v_r where s = 1 (hard), v₀ = v_r (or 0)
snnTorch ``Leaky`` (β)                    m_t = β·m_{t−1} + x_t − r_t·θ (subtract) or
                                          m_t = β·(1 − r_t)·m_{t−1} + x_t (zero) or no reset;
                                          s_t = H(m_t − θ) with H(0) = 0; r_t = s_{t−1} (the reset
                                          is applied one step late, ``reset_delay=True``)
snnTorch ``Synaptic`` (α, β)              c_t = α·c_{t−1} + x_t, m_t = β·m_{t−1} + c_t (− reset)
========================================  ===========================================================

:class:`~analysis.snn.timeloop.TimeLoop` runs such a network for T steps on analog input ``[B, ...]`` (repeating it over
time for a multi-step SpikingJelly net, calling a single-step net T times), resetting its state
first, and averages the output over time: the form in which it is counted per sample and compared
with its one-step (OneSpike) conversion.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from analysis.snn.spec import (
    NORSE,
    SINABS,
    SNNTORCH,
    SPIKINGJELLY,
    NeuronSpec,
    class_paths,
    norse_spec,
    scalar,
    scalar_or_channels,
    sinabs_spec,
)

__all__ = [
    "FRAMEWORKS",
    "NORSE",
    "SINABS",
    "SNNTORCH",
    "SPIKINGJELLY",
    "NeuronSpec",
    "call_layout",
    "carries_state",
    "class_paths",
    "framework_leaks",
    "framework_of",
    "is_framework_neuron",
    "is_multi_step",
    "looks_like_neuron",
    "neuron_spec",
    "recognised_neuron",
    "reset_state",
    "returns_state",
]

#: The frameworks whose neurons are recognised by class path.
FRAMEWORKS = (SPIKINGJELLY, SNNTORCH, NORSE, SINABS)
#: Base classes whose subclasses are stateful spiking neurons, by framework (Norse's cells and
#: layers, Sinabs's stateful layers: a subclass the spec does not know is refused, not counted as an ANN).
NEURON_BASES = {
    SPIKINGJELLY: (f"{SPIKINGJELLY}.neuron.base_node.BaseNode", f"{SPIKINGJELLY}.neuron.base_node.SimpleBaseNode",
                   f"{SPIKINGJELLY}.neuron.BaseNode", f"{SPIKINGJELLY}.neuron.SimpleBaseNode"),
    SNNTORCH: (f"{SNNTORCH}._neurons.neurons.SpikingNeuron", f"{SNNTORCH}.SpikingNeuron"),
    NORSE: (f"{NORSE}.module.snn.SNNCell", f"{NORSE}.module.snn.SNN", f"{NORSE}.module.snn.SNNRecurrentCell",
            f"{NORSE}.module.snn.SNNRecurrent"),
    SINABS: (f"{SINABS}.stateful_layer.StatefulLayer",),
}
#: Attribute names by which a user's own neuron class betrays a threshold and a membrane state.
THRESHOLD_ATTRS = ("v_threshold", "threshold", "thresh", "v_th", "vth")
STATE_ATTRS = ("v", "mem", "membrane", "_membrane", "v_mem", "u", "syn")


def framework_of(module: nn.Module) -> str | None:
    """:data:`SPIKINGJELLY`, :data:`SNNTORCH`, :data:`NORSE`, :data:`SINABS` or None, from the module's own class."""
    name = type(module).__module__
    for framework in FRAMEWORKS:
        if name == framework or name.startswith(framework + "."):
            return framework
    return None


def is_framework_neuron(module: nn.Module) -> bool:
    """A SpikingJelly, snnTorch, Norse or Sinabs spiking neuron (any subclass of their neuron base classes)."""
    paths = set(class_paths(module))
    return any(base in paths for bases in NEURON_BASES.values() for base in bases)


def looks_like_neuron(module: nn.Module) -> bool:
    """Whether a module looks like a stateful spiking neuron: a framework neuron, or a class that
    carries both a threshold and a membrane-like state attribute (``threshold``/``v_threshold`` and
    ``v``/``mem``/...). The counter refuses (``strict=True``) or lists such a module when no rule
    recognises it, rather than count its network as a dense ANN."""
    if is_framework_neuron(module):
        return True
    names = set(vars(module)) | set(getattr(module, "_buffers", {})) | set(getattr(module, "_parameters", {}))
    names |= set(getattr(module, "_memories", {}))
    return any(a in names for a in THRESHOLD_ATTRS) and any(a in names for a in STATE_ATTRS)


def is_multi_step(module: nn.Module) -> bool:
    """A SpikingJelly module in multi-step mode (``step_mode='m'``): its input is ``[T, B, ...]``."""
    return framework_of(module) == SPIKINGJELLY and getattr(module, "step_mode", "s") == "m"


def _spikingjelly_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    name = type(module).__name__
    v_reset = getattr(module, "v_reset", 0.0)
    reset = "soft" if v_reset is None else "hard"
    threshold = scalar_or_channels(module.v_threshold, "v_threshold", module)
    base = dict(framework=SPIKINGJELLY, threshold=threshold, reset=reset, v_reset=0.0 if v_reset is None
                else float(v_reset))
    if any(p.endswith(".ParametricLIFNode") for p in paths):
        leak = scalar(torch.sigmoid(module.w.detach()), "w", module)
        return NeuronSpec(kind="ParametricLIFNode", leak=leak, input_leak=bool(module.decay_input), **base)
    if any(p.endswith(".LIFNode") for p in paths):
        return NeuronSpec(kind="LIFNode", leak=1.0 / scalar(module.tau, "tau", module),
                          input_leak=bool(module.decay_input), **base)
    if any(p.endswith(".IFNode") for p in paths):
        return NeuronSpec(kind="IFNode", **base)
    raise ValueError(f"no neuron spec for SpikingJelly's {name}: recognised are IFNode, LIFNode, ParametricLIFNode")


def _snntorch_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    name = type(module).__name__
    if any(p.endswith((".RLeaky", ".RSynaptic")) for p in paths):
        raise ValueError(f"snnTorch {name} is a recurrent neuron: its spikes feed back into the layer through its own "
                         "weights (all-to-all or a convolution) at the next step. Neither its recurrent synapses' ACs "
                         "nor its dynamics are counted, and OneSpike has no feedback to convert it to; use snn.Leaky/"
                         "snn.Synaptic, or count the recurrence as an explicit nn.Linear in forward")
    if getattr(module, "inhibition", False) or getattr(module, "state_quant", False):
        raise ValueError(f"snnTorch {name} with inhibition or state_quant is not recognised (counted as a plain "
                         "neuron it would be wrong)")
    reset = {0: "soft", 1: "hard", 2: "none"}[int(module.reset_mechanism_val)]
    graded = scalar(getattr(module, "graded_spikes_factor", 1.0), "graded_spikes_factor", module)
    if graded != 1.0:
        raise ValueError(f"snnTorch {name} with graded_spikes_factor={graded} emits graded spikes, not binary ones")
    beta = min(max(scalar(module.beta, "beta", module), 0.0), 1.0)  # snnTorch clamps β to [0, 1]
    base = dict(framework=SNNTORCH, threshold=scalar_or_channels(module.threshold, "threshold", module), reset=reset,
                leak=None if beta == 1.0 else beta,  # β = 1 keeps the whole membrane: no leak to price
                reset_delay=bool(getattr(module, "reset_delay", True)), fires_at_threshold=False)
    if any(p.endswith("._neurons.synaptic.Synaptic") for p in paths):
        alpha = min(max(scalar(module.alpha, "alpha", module), 0.0), 1.0)
        return NeuronSpec(kind="Synaptic", synaptic=alpha, **base)
    if any(p.endswith("._neurons.leaky.Leaky") for p in paths):
        return NeuronSpec(kind="Leaky", **base)
    raise ValueError(f"no neuron spec for snnTorch's {name}: recognised are Leaky and Synaptic")


def neuron_spec(module: nn.Module) -> NeuronSpec:
    """The :class:`NeuronSpec` of a SpikingJelly ``IFNode``/``LIFNode``/``ParametricLIFNode``, an
    snnTorch ``Leaky``/``Synaptic``, a Norse ``LIFCell``/``LIF``/``LIFBoxCell``/``LIFBox`` or a Sinabs
    ``IAF``/``LIF`` (and their ``*Squeeze``); a ``ValueError`` naming the class for anything else."""
    paths = set(class_paths(module))
    if any(p.startswith(SPIKINGJELLY + ".") for p in paths):
        return _spikingjelly_spec(module, paths)
    if any(p.startswith(SNNTORCH + ".") for p in paths):
        return _snntorch_spec(module, paths)
    if any(p.startswith(NORSE + ".") for p in paths):
        return norse_spec(module, paths)
    if any(p.startswith(SINABS + ".") for p in paths):
        return sinabs_spec(module, paths)
    raise ValueError(f"{type(module).__name__} is no SpikingJelly, snnTorch, Norse or Sinabs neuron")


def recognised_neuron(module: nn.Module) -> bool:
    """A framework neuron whose update the counter knows (:func:`neuron_spec` reads it)."""
    if not is_framework_neuron(module):
        return False
    try:
        neuron_spec(module)
    except ValueError:
        return False
    return True


def call_layout(module: nn.Module) -> str:
    """The input layout of one call of a framework neuron: ``"step"`` ``[B, ...]``, ``"tb"``
    ``[T, B, ...]``, ``"bt"`` ``[B, T, ...]`` or ``"squeezed"`` ``[B·T, ...]``."""
    framework = framework_of(module)
    if framework == SPIKINGJELLY:
        return "tb" if is_multi_step(module) else "step"
    if framework in (NORSE, SINABS):
        try:
            return neuron_spec(module).layout
        except ValueError:  # a neuron the spec does not know (it is refused when counted)
            return "step"
    return "step"


def returns_state(module: nn.Module) -> bool:
    """Whether the neuron's state is passed in and returned by the caller (Norse: ``z, s = cell(x, s)``)."""
    return framework_of(module) == NORSE


def carries_state(module: nn.Module, args: tuple = ()) -> bool:
    """Whether a framework neuron starts this call from state left by an earlier call (it was not
    reset since): SpikingJelly's membrane ``v`` is a number after ``reset()`` and a tensor once it
    ran; snnTorch's ``mem`` (and ``syn``) are empty or zero after ``reset_mem()``/``init_leaky()``;
    Sinabs's state buffers are empty or zero after ``reset_states()``; a Norse neuron carries the
    state passed to it as its second argument (``args``: the call's positional arguments)."""
    framework = framework_of(module)
    if framework == SPIKINGJELLY:
        return isinstance(getattr(module, "v", None), Tensor)
    if framework == SNNTORCH:
        states = (getattr(module, name, None) for name in ("mem", "syn"))
        return any(isinstance(s, Tensor) and s.numel() > 0 and bool(s.detach().any()) for s in states)
    if framework == NORSE:
        return len(args) > 1 and args[1] is not None
    if framework == SINABS:
        return any(b.numel() > 0 and bool(b.detach().any()) for b in module.buffers())
    return False


def framework_leaks(module: nn.Module) -> bool:
    """Whether a framework neuron leaks: SpikingJelly's (Parametric)LIFNode always (decay 1 − 1/τ),
    snnTorch's neurons where β < 1, Norse's and Sinabs's LIF, any neuron whose synaptic current
    decays; a neuron the spec does not recognise counts as leaky (it is no plain IF neuron)."""
    try:
        spec = neuron_spec(module)
    except ValueError:
        return True
    if spec.synaptic is not None:
        return True
    if spec.framework == SNNTORCH:
        return spec.leak is not None and spec.leak < 1.0
    return spec.leak is not None


def reset_state(net: nn.Module) -> None:
    """Reset every neuron state of a framework network (``functional.reset_net`` / ``utils.reset``
    without importing them): SpikingJelly memory modules' ``reset()``, snnTorch neurons'
    ``reset_mem()``, Sinabs layers' ``reset_states()`` (Norse keeps no state in its modules)."""
    for m in net.modules():
        framework = framework_of(m)
        if framework == SPIKINGJELLY and callable(getattr(m, "reset", None)) and hasattr(m, "_memories"):
            m.reset()
        elif framework == SNNTORCH and callable(getattr(m, "reset_mem", None)):
            m.reset_mem()
        elif framework == SINABS and callable(getattr(m, "reset_states", None)):
            m.reset_states()
