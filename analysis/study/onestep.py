"""Does one-step conversion hold for an SNN that was trained directly? (Q14)

OneSpike converts a T-step SNN to one step with PSG and the SNN's own thresholds: each neuron
becomes a soft-reset, non-leaky IF neuron fed the time-average of its input current for G = T
groups. That is exact for an IF SNN with soft reset whose currents are constant over time (the
first spiking layer of a net with analog input), and only approximate for anything else. Along
the path from the SNN to its one-step form, one mechanism at a time (the **ladder**, on the same
weights):

=============  ==============================================================================
rung           network
=============  ==============================================================================
``snn``        the trained SNN (its leak λ, its reset, snnTorch's delayed reset, its H(0))
``no_leak``    the same with λ = 1 (what PSG keeps of a membrane: everything)
``psg_reset``  and a soft reset, immediate, H(0) = 1: PSG's neuron, still fed the SNN's currents
               step by step
``onestep``    OneSpike(G = T): PSG fed the time-averaged currents, in one timestep
=============  ==============================================================================

so the accuracy lost from one rung to the next is what the leak, the hard reset and the timing of
the currents cost (the leak and reset steps are zero for an IF SNN with soft reset).
:func:`onestep_fidelity` measures the ladder, the agreement of each rung's predictions with the
SNN's, and per spiking layer the spikes of the SNN and of the one-step form and their mean
absolute count difference per neuron; :func:`onestep_table` does it for a user's network or a
trained SNN over several T (a Python call); the study writes ``onestep.csv`` and
``onestep_layers.csv`` from :func:`onestep_measure`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import pandas as pd
import torch
from torch import Tensor, nn

from analysis.snn import LIFNeuron, PSGLayer, SpikingNetwork, to_if_snn, to_onespike
from analysis.snn.onestep import DirectSNN, pow2_thresholds
from analysis.validate import check_choice

__all__ = ["LAYER_SAMPLES", "MODES", "RUNGS", "ladder", "onestep_fidelity", "onestep_measure", "onestep_table"]

#: The rungs from the SNN to its one-step form (see the module docstring).
RUNGS = ("snn", "no_leak", "psg_reset", "onestep")
#: PSG modes: ``exact`` (float θ, mul/mod) and ``hardware`` (θ rounded to powers of two, shift/mask).
MODES = ("exact", "hardware")
#: Test images the per-layer spike counts are compared on.
LAYER_SAMPLES = 256


def _modified(snn: SpikingNetwork, **changes) -> SpikingNetwork:
    net = copy.deepcopy(snn)
    for neuron in net.modules():
        if isinstance(neuron, LIFNeuron):
            if changes.get("no_leak"):
                neuron.decay = 1.0
            if changes.get("psg_reset"):
                if neuron.reset == "hard":
                    neuron.v_init = neuron.v_reset / float(neuron.threshold)
                neuron.reset, neuron.v_reset, neuron.reset_delay, neuron.fire_at_threshold = "soft", None, False, True
    return net


def ladder(direct: DirectSNN, mode: str = "exact") -> dict[str, nn.Module]:
    """The networks of :data:`RUNGS` from a T-step SNN in training form (``mode="hardware"``:
    thresholds rounded to powers of two first, the layer feeding each rescaled, so the SNN's
    spikes are unchanged, and PSG in hardware mode)."""
    check_choice("mode", mode, MODES)
    source = pow2_thresholds(direct) if mode == "hardware" else direct
    t = source.timesteps
    snn = to_if_snn(source.body, t, layout="sequence")
    return {"snn": snn, "no_leak": _modified(snn, no_leak=True),
            "psg_reset": _modified(snn, no_leak=True, psg_reset=True),
            "onestep": to_onespike(source.body, t, mode=mode, layout="onepass")}


def _predictions(nets: dict[str, nn.Module], batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[dict, Tensor]:
    preds: dict[str, list[Tensor]] = {name: [] for name in nets}
    labels = []
    with torch.no_grad():
        for x, y in batches:
            labels.append(y)
            for name, net in nets.items():
                preds[name].append(net.eval()(x).argmax(1))
    return {name: torch.cat(p) for name, p in preds.items()}, torch.cat(labels)


def _counts(model: nn.Module, x: Tensor, types: tuple[type, ...]) -> list[Tensor]:
    """Per-neuron spike counts ``[B, ...]`` summed over steps/groups, of every module of ``types``."""
    found: list[Tensor] = []

    def hook(module, inputs, output):
        stepped = isinstance(module, LIFNeuron) or not module.onepass  # [S, B, ...] spike maps, else counts
        found.append((output.sum(dim=0) if stepped else output).detach())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, types)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def layer_errors(snn: SpikingNetwork, onestep: SpikingNetwork, x: Tensor) -> list[dict[str, float | str]]:
    """Per spiking layer: spikes per sample of the SNN and of its one-step form, the mean absolute
    spike-count difference per neuron, and the fraction of neurons with equal counts."""
    rows = []
    names = [getattr(m, "source_name", f"layer{i}") for i, m in enumerate(snn.modules()) if isinstance(m, LIFNeuron)]
    for name, a, b in zip(names, _counts(snn, x, (LIFNeuron,)), _counts(onestep, x, (PSGLayer,)), strict=True):
        diff = (a - b).abs()
        rows.append({"layer": name, "snn_spikes": float(a.sum()) / len(x), "onestep_spikes": float(b.sum()) / len(x),
                     "count_error": float(diff.mean()), "exact_neurons": float((diff == 0).float().mean())})
    return rows


def _neurons(direct: DirectSNN) -> dict[str, object]:
    neurons = direct.neurons
    decays = sorted({n.decay for n in neurons})
    resets = sorted({n.reset + ("_delayed" if n.reset_delay else "") for n in neurons})
    return {"decay": decays[0] if len(decays) == 1 else float("nan"), "reset": "/".join(resets)}


def onestep_measure(direct: DirectSNN, batches: Iterable[tuple[Tensor, Tensor]],
                    layer_samples: int = LAYER_SAMPLES) -> tuple[dict[str, object], list[dict[str, object]]]:
    """``(summary, layers)`` of OneSpike(G = T) from ``direct`` on the test ``batches``: the
    accuracy of every rung of :func:`ladder` (``<rung>_accuracy``) and the agreement of its
    predictions with the SNN's (``<rung>_agreement``), the same for the hardware mode's one-step
    form (``hardware_onestep_*``), the neurons' ``decay`` and ``reset``, and per spiking layer
    :func:`layer_errors` on the first ``layer_samples`` images (their mean: ``count_error``)."""
    batches = list(batches)
    nets = ladder(direct)
    hardware = ladder(direct, "hardware")["onestep"]
    preds, labels = _predictions({**nets, "hardware_onestep": hardware}, batches)
    summary: dict[str, object] = {"samples": len(labels), **_neurons(direct)}
    for name, pred in preds.items():
        summary[f"{name}_accuracy"] = float((pred == labels).float().mean())
        summary[f"{name}_agreement"] = float((pred == preds["snn"]).float().mean())
    x = torch.cat([b[0] for b in batches])[:layer_samples]
    layers = layer_errors(nets["snn"], nets["onestep"], x)
    summary["count_error"] = float(pd.Series([r["count_error"] for r in layers]).mean()) if layers else float("nan")
    return summary, layers


def onestep_fidelity(direct: DirectSNN, x: Tensor, y: Tensor) -> tuple[dict[str, object], pd.DataFrame]:
    """:func:`onestep_measure` on images ``x`` with labels ``y`` (one batch): ``(summary, layers)``
    with the layers as a DataFrame."""
    summary, layers = onestep_measure(direct, [(x, y)], layer_samples=len(x))
    return {"timesteps": direct.timesteps, **summary}, pd.DataFrame(layers)


def onestep_table(networks: dict[int, DirectSNN], x: Tensor, y: Tensor) -> pd.DataFrame:
    """Q14 for your own SNN: one row per T of ``{T: network in training form}`` (e.g.
    ``{t: framework_form(net, t) for t in (2, 4, 8)}``, or directly trained SNNs) with
    :func:`onestep_fidelity`'s summary on images ``x``, labels ``y``."""
    return pd.DataFrame([{"T": t, **onestep_fidelity(direct, x, y)[0]} for t, direct in sorted(networks.items())])
