"""What a spiking neuron from another framework does per update, read from its attributes: the
:class:`NeuronSpec` the counter prices and the converter maps onto our own neurons, for Norse and
Sinabs (SpikingJelly and snnTorch in :mod:`analysis.snn.frameworks`). No framework is imported: a
class is recognised by the defining module and qualified name of the classes in its MRO.

========================================  ===========================================================
class                                     dynamics (f = dt/τ; v: membrane, i: synaptic current)
========================================  ===========================================================
Norse ``LIFBoxCell`` / ``LIFBox``         v' = v + f_mem·((v_leak − v) + x); z = H(v' − θ) (H(0) = 0);
                                          v = v_reset where z = 1 (hard reset)
Norse ``LIFCell`` / ``LIF``               i' = i + x; v' = v + f_mem·((v_leak − v) + i'); i = i'·(1 − f_syn);
                                          z, reset as above (two state variables)
Sinabs ``IAF`` / ``IAFSqueeze``           v' = v + x (+ synaptic current i = α_s(i + x) with τ_syn)
Sinabs ``LIF`` / ``LIFSqueeze``           v' = α·v + (1 − α)·x (``norm_input``, else + x), α = e^(−1/τ)
  both                                    z = H(v' − θ) (H(0) = 1), or ⌊v'/θ⌋ spikes (``MultiSpike``,
                                          the default: several spikes per step); v = v' − z·θ
                                          (``MembraneSubtract``) or v_r where z > 0 (``MembraneReset``);
                                          ``min_v_mem`` clips v from below (one more comparison)
========================================  ===========================================================

A Norse ``*Cell`` is one step per call, its state passed as an argument (``z, s = cell(x, s)``); the
others (``LIF``, ``LIFBox``) run ``[T, B, ...]`` in one call; Sinabs layers run ``[B, T, ...]`` and
keep their state between calls (``*Squeeze``: ``[B·T, ...]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "NORSE",
    "SINABS",
    "SNNTORCH",
    "SPIKINGJELLY",
    "NeuronSpec",
    "class_paths",
    "norse_spec",
    "scalar_or_channels",
    "sinabs_spec",
]

SPIKINGJELLY = "spikingjelly.activation_based"
SNNTORCH = "snntorch"
NORSE = "norse.torch"
SINABS = "sinabs.layers"

#: Norse neuron classes whose update the counter knows (module path of the class, then its name).
NORSE_KINDS = {f"{NORSE}.module.lif.LIFCell": "LIFCell", f"{NORSE}.module.lif.LIF": "LIF",
               f"{NORSE}.module.lif_box.LIFBoxCell": "LIFBoxCell", f"{NORSE}.module.lif_box.LIFBox": "LIFBox"}
#: Sinabs neuron classes whose update the counter knows.
SINABS_KINDS = {f"{SINABS}.iaf.IAF": "IAF", f"{SINABS}.iaf.IAFSqueeze": "IAFSqueeze",
                f"{SINABS}.lif.LIF": "LIF", f"{SINABS}.lif.LIFSqueeze": "LIFSqueeze"}


def class_paths(module: nn.Module) -> tuple[str, ...]:
    """``"defining.module.QualifiedName"`` of every class in ``module``'s MRO, most specific first."""
    return tuple(f"{cls.__module__}.{cls.__qualname__}" for cls in type(module).__mro__)


def scalar_or_channels(value, name: str, module: nn.Module) -> float | Tensor:
    """A neuron parameter as a float, or as a 1-D tensor where it differs between neurons (a
    per-channel threshold is never cut to its first element)."""
    if isinstance(value, Tensor):
        flat = value.detach().reshape(-1).to(torch.float64)
        if not bool(torch.isfinite(flat).all()):
            raise ValueError(f"{type(module).__name__}.{name} holds a non-finite value")
        if flat.numel() == 0:
            raise ValueError(f"{type(module).__name__}.{name} is empty")
        if flat.numel() > 1 and not bool((flat == flat[0]).all()):
            return flat.to(torch.float32).clone()  # one value per neuron or channel, 1-D
        return float(flat[0])
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{type(module).__name__}.{name} = {value!r} is not finite")
    return value


def scalar(value, name: str, module: nn.Module) -> float:
    """A neuron parameter that must be one number (a decay factor, a reset value)."""
    out = scalar_or_channels(value, name, module)
    if isinstance(out, Tensor):
        raise ValueError(f"{type(module).__name__}.{name} differs between neurons ({out.numel()} values): the "
                         "counter and the converter take one value per layer for it")
    return out


@dataclass(frozen=True)
class NeuronSpec:
    """What a spiking neuron does per update, read from its attributes.

    ``threshold``: θ, a float or a 1-D tensor (one per channel). ``reset``: ``"soft"`` (subtract θ),
    ``"hard"`` (set to ``v_reset``) or ``"none"``. ``leak``: the factor the membrane's leak
    multiplies by per update (``1/τ`` for SpikingJelly's LIF and Norse's ``dt/τ``, which multiply a
    difference; ``β`` for snnTorch; ``α`` for Sinabs), None for IF. ``input_leak``: the input is
    scaled too (SpikingJelly's ``decay_input``, Norse, Sinabs's ``norm_input``).
    ``synaptic``: the decay factor of a second state variable, a synaptic current (snnTorch
    ``Synaptic``'s α, Norse's 1 − dt/τ_syn, Sinabs's e^(−1/τ_syn)), else None.
    ``reset_delay``: snnTorch applies a spike's reset at the next update.
    ``fires_at_threshold``: H(0) = 1 (SpikingJelly, Sinabs, ours) or 0 (snnTorch, Norse).
    ``charge_adds``: additions of one charge where the framework's own form fixes it (Norse,
    Sinabs), else None (see :mod:`analysis.counting.rules.frameworks`). ``extra_factors``: further
    multiplications per update (Sinabs's input normalisation 1 − α). ``multi_spike``: several
    spikes per update (Sinabs ``MultiSpike``: ⌊v/θ⌋, one division per update). ``floor``: the
    membrane is clipped from below (Sinabs ``min_v_mem``: one comparison per update).
    ``layout``: the input layout of one call: ``"step"`` (one step ``[B, ...]``), ``"tb"``
    (``[T, B, ...]``), ``"bt"`` (``[B, T, ...]``) or ``"squeezed"`` (``[B·T, ...]``).
    """

    framework: str
    kind: str
    threshold: float | Tensor
    reset: str
    v_reset: float = 0.0
    leak: float | None = None
    input_leak: bool = False
    synaptic: float | None = None
    reset_delay: bool = False
    fires_at_threshold: bool = True
    charge_adds: int | None = None
    extra_factors: tuple[float, ...] = ()
    multi_spike: bool = False
    floor: bool = False
    layout: str = "step"

    @property
    def states(self) -> int:
        """State variables read and written per update (membrane, and a synaptic current)."""
        return 2 if self.synaptic is not None else 1

    @property
    def per_channel(self) -> bool:
        return isinstance(self.threshold, Tensor)


def _params(module: nn.Module) -> object:
    p = getattr(module, "p", None)
    if p is None:
        raise ValueError(f"Norse {type(module).__name__} has no parameters p")
    return p


def norse_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    """The spec of a Norse ``LIFCell``/``LIF``/``LIFBoxCell``/``LIFBox`` (see the module docstring)."""
    kind = next((NORSE_KINDS[p] for p in class_paths(module) if p in NORSE_KINDS), None)  # most specific
    if kind is None:
        raise ValueError(f"no neuron spec for Norse's {type(module).__name__}: recognised are "
                         f"{sorted(set(NORSE_KINDS.values()))}")
    p, dt = _params(module), scalar(getattr(module, "dt", 0.001), "dt", module)
    f_mem = dt * scalar(p.tau_mem_inv, "p.tau_mem_inv", module)
    v_leak = scalar(p.v_leak, "p.v_leak", module)
    synaptic = None
    if kind in ("LIFCell", "LIF"):
        synaptic = 1.0 - dt * scalar(p.tau_syn_inv, "p.tau_syn_inv", module)
    # charge: (i + x,) v_leak − v (when v_leak ≠ 0), + input, v + f·(...)
    adds = (1 if synaptic is not None else 0) + 2 + (1 if v_leak != 0.0 else 0)
    return NeuronSpec(framework=NORSE, kind=kind, threshold=scalar_or_channels(p.v_th, "p.v_th", module),
                      reset="hard", v_reset=scalar(p.v_reset, "p.v_reset", module), leak=f_mem, input_leak=True,
                      synaptic=synaptic, fires_at_threshold=False, charge_adds=adds,
                      layout="step" if kind.endswith("Cell") else "tb")


def sinabs_spec(module: nn.Module, paths: set[str]) -> NeuronSpec:
    """The spec of a Sinabs ``IAF``/``IAFSqueeze``/``LIF``/``LIFSqueeze`` (see the module docstring)."""
    kind = next((SINABS_KINDS[p] for p in class_paths(module) if p in SINABS_KINDS), None)  # most specific
    if kind is None:
        raise ValueError(f"no neuron spec for Sinabs's {type(module).__name__}: recognised are "
                         f"{sorted(set(SINABS_KINDS.values()))}")
    name = type(module).__name__
    spike_fn = getattr(module, "spike_fn", None)
    spike_name = getattr(spike_fn, "__name__", type(spike_fn).__name__)
    if spike_name not in ("SingleSpike", "MultiSpike"):
        raise ValueError(f"Sinabs {name} with spike_fn={spike_name}: recognised are SingleSpike and MultiSpike")
    theta = scalar_or_channels(module.spike_threshold, "spike_threshold", module)
    reset_fn = module.reset_fn
    reset_name = type(reset_fn).__name__
    if reset_name == "MembraneSubtract":
        if getattr(reset_fn, "subtract_value", None) is not None:
            raise ValueError(f"Sinabs {name}: MembraneSubtract(subtract_value=...) differs from the threshold; "
                             "recognised is the default subtraction of spike_threshold")
        reset, v_reset = "soft", 0.0
    elif reset_name == "MembraneReset":
        reset, v_reset = "hard", float(reset_fn.reset_value)
    else:
        raise ValueError(f"Sinabs {name} with reset_fn={reset_name}: recognised are MembraneSubtract and MembraneReset")
    alpha = scalar(module.alpha_mem_calculated, "alpha_mem", module)
    leak = None if alpha == 1.0 else alpha
    syn = module.alpha_syn_calculated
    synaptic = None if syn is None else scalar(syn, "alpha_syn", module)
    norm = bool(getattr(module, "norm_input", False)) and leak is not None
    adds = 1 + (1 if synaptic is not None else 0)  # α·v + input (and i + x)
    return NeuronSpec(framework=SINABS, kind=kind, threshold=theta, reset=reset, v_reset=v_reset, leak=leak,
                      input_leak=norm, synaptic=synaptic, charge_adds=adds,
                      extra_factors=(1.0 - alpha,) if norm else (), multi_spike=spike_name == "MultiSpike",
                      floor=getattr(module, "min_v_mem", None) is not None,
                      layout="squeezed" if kind.endswith("Squeeze") else "bt")
