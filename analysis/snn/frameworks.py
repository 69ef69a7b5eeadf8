"""SNNs from elsewhere, recognised by class path: SpikingJelly (``activation_based``) and snnTorch.

Neither framework is imported here (nor anywhere in ``analysis``): a module is recognised by the
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

:class:`TimeLoop` runs such a network for T steps on analog input ``[B, ...]`` (repeating it over
time for a multi-step SpikingJelly net, calling a single-step net T times), resetting its state
first, and averages the output over time: the form in which it is counted per sample and compared
with its one-step (OneSpike) conversion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from analysis.snn.modules import RepeatSteps
from analysis.snn.neurons import check_positive_int

__all__ = [
    "SNNTORCH",
    "SPIKINGJELLY",
    "NeuronSpec",
    "TimeLoop",
    "carries_state",
    "class_paths",
    "framework_leaks",
    "framework_of",
    "is_framework_neuron",
    "is_multi_step",
    "looks_like_neuron",
    "neuron_spec",
    "reset_state",
]

SPIKINGJELLY = "spikingjelly.activation_based"
SNNTORCH = "snntorch"
#: Base classes whose subclasses are stateful spiking neurons, by framework.
NEURON_BASES = {
    SPIKINGJELLY: (f"{SPIKINGJELLY}.neuron.base_node.BaseNode", f"{SPIKINGJELLY}.neuron.base_node.SimpleBaseNode",
                   f"{SPIKINGJELLY}.neuron.BaseNode", f"{SPIKINGJELLY}.neuron.SimpleBaseNode"),
    SNNTORCH: (f"{SNNTORCH}._neurons.neurons.SpikingNeuron", f"{SNNTORCH}.SpikingNeuron"),
}
#: Attribute names by which a user's own neuron class betrays a threshold and a membrane state.
THRESHOLD_ATTRS = ("v_threshold", "threshold", "thresh", "v_th", "vth")
STATE_ATTRS = ("v", "mem", "membrane", "_membrane", "v_mem", "u", "syn")


def class_paths(module: nn.Module) -> tuple[str, ...]:
    """``"defining.module.QualifiedName"`` of every class in ``module``'s MRO, most specific first."""
    return tuple(f"{cls.__module__}.{cls.__qualname__}" for cls in type(module).__mro__)


def framework_of(module: nn.Module) -> str | None:
    """:data:`SPIKINGJELLY`, :data:`SNNTORCH` or None, from the module's own class."""
    name = type(module).__module__
    for framework in (SPIKINGJELLY, SNNTORCH):
        if name == framework or name.startswith(framework + "."):
            return framework
    return None


def is_framework_neuron(module: nn.Module) -> bool:
    """A SpikingJelly or snnTorch spiking neuron (any subclass of their neuron base classes)."""
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


@dataclass(frozen=True)
class NeuronSpec:
    """What a spiking neuron does per update, read from its attributes.

    ``reset``: ``"soft"`` (subtract θ), ``"hard"`` (set to ``v_reset``) or ``"none"``.
    ``leak``: the factor the membrane's leak multiplies by per update (``1/τ`` for SpikingJelly's
    LIF, which multiplies the difference ``x − (v − v_r)``; ``β`` for snnTorch), None for IF.
    ``input_leak``: SpikingJelly's ``decay_input`` (the input is scaled by 1/τ too).
    ``synaptic``: snnTorch's synaptic-current decay α (a second state variable), else None.
    ``reset_delay``: snnTorch applies a spike's reset at the next update (``reset_delay=True``).
    ``fires_at_threshold``: H(0) = 1 (SpikingJelly, ours) or 0 (snnTorch fires on h > θ).
    """

    framework: str
    kind: str
    threshold: float
    reset: str
    v_reset: float = 0.0
    leak: float | None = None
    input_leak: bool = False
    synaptic: float | None = None
    reset_delay: bool = False
    fires_at_threshold: bool = True

    @property
    def states(self) -> int:
        """State variables read and written per update (membrane, and a synaptic current)."""
        return 2 if self.synaptic is not None else 1


def _scalar(value, name: str, module: nn.Module) -> float:
    value = float(value.detach().reshape(-1)[0]) if isinstance(value, Tensor) else float(value)
    if not math.isfinite(value):
        raise ValueError(f"{type(module).__name__}.{name} = {value!r} is not finite")
    return value


def _spikingjelly_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    name = type(module).__name__
    v_reset = getattr(module, "v_reset", 0.0)
    reset = "soft" if v_reset is None else "hard"
    threshold = _scalar(module.v_threshold, "v_threshold", module)
    base = dict(framework=SPIKINGJELLY, threshold=threshold, reset=reset, v_reset=0.0 if v_reset is None
                else float(v_reset))
    if any(p.endswith(".ParametricLIFNode") for p in paths):
        leak = _scalar(torch.sigmoid(module.w.detach()), "w", module)
        return NeuronSpec(kind="ParametricLIFNode", leak=leak, input_leak=bool(module.decay_input), **base)
    if any(p.endswith(".LIFNode") for p in paths):
        return NeuronSpec(kind="LIFNode", leak=1.0 / _scalar(module.tau, "tau", module),
                          input_leak=bool(module.decay_input), **base)
    if any(p.endswith(".IFNode") for p in paths):
        return NeuronSpec(kind="IFNode", **base)
    raise ValueError(f"no neuron spec for SpikingJelly's {name}: recognised are IFNode, LIFNode, ParametricLIFNode")


def _snntorch_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    name = type(module).__name__
    if getattr(module, "inhibition", False) or getattr(module, "state_quant", False):
        raise ValueError(f"snnTorch {name} with inhibition or state_quant is not recognised (counted as a plain "
                         "neuron it would be wrong)")
    reset = {0: "soft", 1: "hard", 2: "none"}[int(module.reset_mechanism_val)]
    graded = _scalar(getattr(module, "graded_spikes_factor", 1.0), "graded_spikes_factor", module)
    if graded != 1.0:
        raise ValueError(f"snnTorch {name} with graded_spikes_factor={graded} emits graded spikes, not binary ones")
    beta = min(max(_scalar(module.beta, "beta", module), 0.0), 1.0)  # snnTorch clamps β to [0, 1]
    base = dict(framework=SNNTORCH, threshold=_scalar(module.threshold, "threshold", module), reset=reset,
                leak=None if beta == 1.0 else beta,  # β = 1 keeps the whole membrane: no leak to price
                reset_delay=bool(getattr(module, "reset_delay", True)), fires_at_threshold=False)
    if any(p.endswith("._neurons.synaptic.Synaptic") for p in paths):
        alpha = min(max(_scalar(module.alpha, "alpha", module), 0.0), 1.0)
        return NeuronSpec(kind="Synaptic", synaptic=alpha, **base)
    if any(p.endswith("._neurons.leaky.Leaky") for p in paths):
        return NeuronSpec(kind="Leaky", **base)
    raise ValueError(f"no neuron spec for snnTorch's {name}: recognised are Leaky and Synaptic")


def neuron_spec(module: nn.Module) -> NeuronSpec:
    """The :class:`NeuronSpec` of a SpikingJelly ``IFNode``/``LIFNode``/``ParametricLIFNode`` or an
    snnTorch ``Leaky``/``Synaptic`` (a ``ValueError`` naming the class for anything else)."""
    paths = set(class_paths(module))
    if any(p.startswith(SPIKINGJELLY + ".") for p in paths):
        return _spikingjelly_spec(module, paths)
    if any(p.startswith(SNNTORCH + ".") for p in paths):
        return _snntorch_spec(module, paths)
    raise ValueError(f"{type(module).__name__} is neither a SpikingJelly nor an snnTorch neuron")


def carries_state(module: nn.Module) -> bool:
    """Whether a SpikingJelly or snnTorch neuron holds state left by an earlier call (it was not
    reset since): SpikingJelly's membrane ``v`` is a number after ``reset()`` and a tensor once it
    ran; snnTorch's ``mem`` (and ``syn``) are empty or zero after ``reset_mem()``/``init_leaky()``."""
    framework = next((f for f in (SPIKINGJELLY, SNNTORCH) for p in class_paths(module) if p.startswith(f + ".")),
                     None)
    if framework == SPIKINGJELLY:
        return isinstance(getattr(module, "v", None), Tensor)
    if framework == SNNTORCH:
        states = (getattr(module, name, None) for name in ("mem", "syn"))
        return any(isinstance(s, Tensor) and s.numel() > 0 and bool(s.detach().any()) for s in states)
    return False


def framework_leaks(module: nn.Module) -> bool:
    """Whether a SpikingJelly or snnTorch neuron leaks: SpikingJelly's (Parametric)LIFNode always
    (decay 1 − 1/τ), snnTorch's neurons where β < 1 or a synaptic current decays; a neuron the
    spec does not recognise counts as leaky (it is no plain IF neuron)."""
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
    """Reset every neuron state of a SpikingJelly or snnTorch network (``functional.reset_net`` /
    ``utils.reset`` without importing them): SpikingJelly memory modules' ``reset()``, snnTorch
    neurons' ``reset_mem()``."""
    for m in net.modules():
        framework = framework_of(m)
        if framework == SPIKINGJELLY and callable(getattr(m, "reset", None)) and hasattr(m, "_memories"):
            m.reset()
        elif framework == SNNTORCH and callable(getattr(m, "reset_mem", None)):
            m.reset_mem()


class TimeLoop(nn.Module):
    """Run a SpikingJelly or snnTorch network for ``timesteps`` steps on analog input ``[B, ...]``.

    The state is reset first. A multi-step SpikingJelly net (``step_mode='m'``) gets the input
    repeated over time (:class:`~analysis.snn.RepeatSteps`, a view) in one call and its output
    ``[T, B, ...]`` is averaged over T; any other net (single-step SpikingJelly, an snnTorch
    ``nn.Sequential`` of ``init_hidden=True`` neurons) is called T times and its outputs (the first
    element of a tuple) are averaged. Counting it gives per-sample counts over the T steps.
    """

    def __init__(self, net: nn.Module, timesteps: int):
        super().__init__()
        self.net = net
        self.timesteps = check_positive_int("timesteps", timesteps)
        self.repeat = RepeatSteps(self.timesteps)

    @property
    def multi_step(self) -> bool:
        return any(is_multi_step(m) for m in self.net.modules())

    def forward(self, x: Tensor) -> Tensor:
        reset_state(self.net)
        if self.multi_step:
            return self.net(self.repeat(x)).mean(dim=0)
        total = None
        for _ in range(self.timesteps):
            out = self.net(x)
            out = out[0] if isinstance(out, tuple | list) else out
            total = out if total is None else total + out
        return total / self.timesteps

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}"
