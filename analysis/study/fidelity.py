"""Q4 and Q10 measurements: how well IF and PSG spike counts carry a value.

- :func:`worked_example`: the reviewers' example (inputs 0.1, 0.1, 0.5, 1.9, 4.9; θ = 2) through an
  IF and a PSG neuron.
- :func:`random_fidelity`: mean |spike-count value − clip(mean current, 0, θ)| / θ over random
  currents that vary over time, per T.
- :func:`recorded_fidelity`: the same on the currents each IF layer of a trained network actually
  receives (recorded per step on test images), per layer.
- :func:`layer_errors`: Q10, where the IF network's error enters and how it grows: per quantized
  layer, mean |IF rate·θ − quantized activation| against the quantized ANN on the same images.
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import torch
from torch import nn

from analysis.snn import QCFS, IFNeuron, PSGNeuron, SpikingNetwork

__all__ = ["WORKED_INPUTS", "WORKED_THRESHOLD", "layer_errors", "random_fidelity", "recorded_fidelity",
           "worked_example"]

WORKED_INPUTS = (0.1, 0.1, 0.5, 1.9, 4.9)
WORKED_THRESHOLD = 2.0
#: v_init values compared (as fractions of θ): empty membrane (clamp-and-quantize) and θ/2 (QCFS).
V_INITS = ((0.0, "v_init=0"), (0.5, "v_init=θ/2"))


def worked_example() -> pd.DataFrame:
    """The seed's example through an IF and a PSG neuron (spike rasters, one row per step)."""
    x = torch.tensor(WORKED_INPUTS, dtype=torch.float64)
    steps = len(WORKED_INPUTS)
    if_spikes = IFNeuron(WORKED_THRESHOLD, steps, 0.0)(x.reshape(steps, 1)).flatten()
    psg_spikes = PSGNeuron(WORKED_THRESHOLD, steps)(x.sum().reshape(1)).flatten()
    return pd.DataFrame({"step": list(range(steps)), "input": list(WORKED_INPUTS),
                         "if_spike": if_spikes.tolist(), "psg_spike": psg_spikes.tolist()})


def _errors(currents: torch.Tensor, theta: float, steps: int) -> dict[str, dict[str, float]]:
    """{v_init label: {"IF": mae, "PSG": mae}} of currents ``[T, N]`` (normalised by θ)."""
    ideal = currents.mean(0).clamp(0, theta)
    out = {}
    for fraction, label in V_INITS:  # v_init is a fraction of θ for both neurons
        if_value = IFNeuron(theta, steps, fraction)(currents).mean(0) * theta
        psg_value = PSGNeuron(theta, steps, v_init=fraction)(currents.sum(0)).mean(0) * theta
        out[label] = {"IF": float((if_value - ideal).abs().mean()) / theta,
                      "PSG": float((psg_value - ideal).abs().mean()) / theta}
    return out


def random_fidelity(timesteps: list[int], generator: torch.Generator, samples: int = 20_000) -> list[dict[str, Any]]:
    """Rows (source "random") over currents whose mean is uniform in [−0.2, 1.2]·θ and that vary
    over time (Gaussian noise of σ = 0.5·θ with zero mean over the T steps), θ = 1."""
    rows = []
    for steps in timesteps:
        mean = torch.rand(samples, generator=generator, dtype=torch.float64) * 1.4 - 0.2
        noise = torch.randn(steps, samples, generator=generator, dtype=torch.float64) * 0.5
        currents = mean + noise - noise.mean(0)  # uneven over time, same average
        for label, maes in _errors(currents, 1.0, steps).items():
            for neuron, mae in maes.items():
                rows.append({"source": "random", "arch": "", "layer": "", "T": steps, "v_init": label,
                             "neuron": neuron, "mae": mae})
    return rows


def _named(net: nn.Module, kind: type) -> list[tuple[str, nn.Module]]:
    return [(getattr(m, "source_name", name), m) for name, m in net.named_modules() if isinstance(m, kind)]


@torch.no_grad()
def recorded_fidelity(snn: SpikingNetwork, images: torch.Tensor, arch: str) -> list[dict[str, Any]]:
    """Rows (source "recorded") from the per-step input currents of every IF layer of ``snn`` on
    ``images``: each layer's own θ, the currents it really receives."""
    net = copy.deepcopy(snn).double().eval()
    net.layout = "sequence"
    recorded: dict[str, torch.Tensor] = {}
    neurons = _named(net, IFNeuron)
    handles = [m.register_forward_hook(lambda m, i, o, name=name: recorded.__setitem__(name, i[0].detach()))
               for name, m in neurons]
    try:
        net(images.double())
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for name, neuron in neurons:
        currents = recorded[name]
        steps = currents.shape[0]
        theta = float(neuron.threshold.flatten()[0])
        for label, maes in _errors(currents.reshape(steps, -1), theta, steps).items():
            for kind, mae in maes.items():
                rows.append({"source": "recorded", "arch": arch, "layer": name, "T": steps, "v_init": label,
                             "neuron": kind, "mae": mae})
    return rows


@torch.no_grad()
def layer_errors(qann: nn.Module, snn: SpikingNetwork, images: torch.Tensor, arch: str) -> list[dict[str, Any]]:
    """Q10: per quantized activation of ``qann`` (in forward order) and the IF layer converted from it,
    mean |IF spike rate·θ − quantized activation| on ``images``, its mean activation and the ratio.
    ``block`` is the module path that holds the activation (a residual block, or "" at top level)."""
    q64 = copy.deepcopy(qann).double().eval()
    s64 = copy.deepcopy(snn).double().eval()
    s64.layout = "sequence"
    quant_out: list[tuple[str, torch.Tensor]] = []
    spike_out: list[torch.Tensor] = []
    quants = [(name, m) for name, m in q64.named_modules() if isinstance(m, QCFS)]
    neurons = [m for _, m in _named(s64, IFNeuron)]
    if len(quants) != len(neurons):
        raise ValueError(f"{arch}: {len(quants)} quantized activations but {len(neurons)} IF layers; "
                         "the networks do not correspond")
    handles = [m.register_forward_hook(lambda m, i, o, name=name: quant_out.append((name, o.detach())))
               for name, m in quants]
    handles += [m.register_forward_hook(lambda m, i, o: spike_out.append(o.detach().mean(0) * m.threshold))
                for m in neurons]
    try:
        q64(images.double())
        s64(images.double())
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    steps = snn.steps
    for index, ((name, quant), rate) in enumerate(zip(quant_out, spike_out, strict=True)):
        error = float((rate - quant).abs().mean())
        mean = float(quant.abs().mean())
        rows.append({"arch": arch, "T": steps, "layer": name, "layer_index": index,
                     "block": name.rsplit(".", 1)[0] if "." in name else "",
                     "if_mean_abs_error": error, "activation_mean": mean,
                     "relative_error": error / mean if mean > 0 else float("nan")})
    return rows
