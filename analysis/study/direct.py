"""Directly trained SNNs (surrogate gradients, BPTT over T) and whether one-step conversion holds
for them (Q14).

- :func:`train_direct` trains an architecture of the zoo as an IF or LIF SNN of T steps on a data
  set split, from scratch (the ANN's shape, not its weights);
- :func:`onestep_fidelity` converts such an SNN (or a SpikingJelly/snnTorch network brought into
  the same form by :func:`analysis.snn.onestep.framework_form`) to OneSpike with PSG and the SNN's
  own thresholds (``mode="hardware"``: rounded to powers of two, the layer before rescaled), and
  measures on the same images: accuracy of both, prediction agreement, and per layer the spikes of
  each and the mean absolute spike-count error per neuron;
- :func:`onestep_table` does it for IF and LIF neurons over several T: one row per (neuron, T).

What PSG reproduces: a soft-reset, non-leaky IF neuron fed a constant current, exactly (its first
spiking layer, whose current is the repeated analog input, matches spike for spike). What it cannot:
the leak (PSG integrates without loss, so a LIF layer's one-step counts run high), a hard reset
(PSG keeps the overshoot a hard reset discards), and the timing of a current that varies over
time (every later layer). The tables say how much each costs in accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn

from analysis.data import DataSplit
from analysis.models import build_model
from analysis.snn import LIFNeuron, PSGLayer, to_if_snn, to_onespike
from analysis.snn.onestep import DirectSNN, pow2_thresholds, spiking_from_ann
from analysis.study.training import TrainConfig, predict, train

__all__ = ["NEURONS", "DirectSpec", "onestep_fidelity", "onestep_table", "train_direct"]


@dataclass(frozen=True)
class DirectSpec:
    """A directly trained neuron: ``decay`` λ (1: IF) and ``v_reset`` (None: soft reset)."""

    label: str
    decay: float = 1.0
    v_reset: float | None = None


#: The neurons the study trains directly: IF and LIF (λ = 0.5, a shift) with soft reset, and LIF
#: with a hard reset to 0 (SpikingJelly's default).
NEURONS: dict[str, DirectSpec] = {
    "if_soft": DirectSpec("IF, soft reset"),
    "lif_soft": DirectSpec("LIF λ=0.5, soft reset", decay=0.5),
    "lif_hard": DirectSpec("LIF λ=0.5, hard reset", decay=0.5, v_reset=0.0),
}


def train_direct(arch: str, split: DataSplit, timesteps: int, neuron: str = "if_soft",
                 config: TrainConfig | None = None, **arch_options) -> DirectSNN:
    """Train ``arch`` (a zoo name) directly as a T-step SNN with the ``neuron`` of :data:`NEURONS`
    (surrogate gradients, BPTT over T, Adam); returns the trained :class:`DirectSNN` in eval mode."""
    if neuron not in NEURONS:
        raise ValueError(f"neuron must be one of {sorted(NEURONS)}, got {neuron!r}")
    spec = NEURONS[neuron]
    config = config or TrainConfig(epochs=10, progress=False)
    torch.manual_seed(config.seed)
    ann = build_model(arch, num_classes=split.num_classes, in_channels=split.in_channels,
                      image_size=split.image_size, **arch_options)
    direct = spiking_from_ann(ann, timesteps, decay=spec.decay, v_reset=spec.v_reset)
    train(direct, split.train, config, desc=f"direct {arch} {neuron} T={timesteps}")
    return direct.eval()


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


def onestep_fidelity(direct: DirectSNN, x: Tensor, y: Tensor, mode: str = "exact"
                     ) -> tuple[dict[str, float], pd.DataFrame]:
    """OneSpike(G = T) from a T-step SNN in training form, against that SNN, on images ``x``
    (labels ``y``). Returns ``(summary, layers)``: ``summary`` holds ``snn_accuracy``,
    ``onestep_accuracy``, ``agreement`` (fraction of identical predictions), ``timesteps`` and
    ``mode``; ``layers`` one row per spiking layer: ``snn_spikes`` and ``onestep_spikes`` per sample,
    ``count_error`` (mean |count difference| per neuron) and ``exact_neurons`` (fraction of neurons
    with equal counts). ``mode="hardware"`` rounds thresholds to powers of two first (the spikes of
    the SNN are unchanged by the rescaling; PSG then runs in fixed point)."""
    if mode not in ("exact", "hardware"):
        raise ValueError(f"mode must be 'exact' or 'hardware', got {mode!r}")
    source = pow2_thresholds(direct) if mode == "hardware" else direct
    t = source.timesteps
    snn = to_if_snn(source.body, t, layout="sequence")
    one = to_onespike(source.body, t, mode=mode, layout="onepass")
    with torch.no_grad():
        snn_logits, one_logits = snn(x), one(x)
    snn_pred, one_pred = snn_logits.argmax(1), one_logits.argmax(1)
    summary = {"timesteps": t, "mode": mode, "snn_accuracy": float((snn_pred == y).float().mean()),
               "onestep_accuracy": float((one_pred == y).float().mean()),
               "agreement": float((snn_pred == one_pred).float().mean()), "samples": len(y)}
    rows = []
    names = [getattr(m, "source_name", f"layer{i}") for i, m in enumerate(snn.modules()) if isinstance(m, LIFNeuron)]
    for name, a, b in zip(names, _counts(snn, x, (LIFNeuron,)), _counts(one, x, (PSGLayer,)), strict=True):
        diff = (a - b).abs()
        rows.append({"layer": name, "snn_spikes": float(a.sum()) / len(x), "onestep_spikes": float(b.sum()) / len(x),
                     "count_error": float(diff.mean()), "exact_neurons": float((diff == 0).float().mean())})
    return summary, pd.DataFrame(rows)


def onestep_table(arch: str, split: DataSplit, timesteps: list[int], neurons: list[str] | None = None,
                  config: TrainConfig | None = None, samples: int = 512, **arch_options) -> pd.DataFrame:
    """Train ``arch`` directly for every neuron of ``neurons`` (default all of :data:`NEURONS`) and
    every T, and measure :func:`onestep_fidelity` (exact and hardware PSG) on up to ``samples``
    test images: one row per (neuron, T, mode) with the summary and the mean per-layer count error."""
    x, y = predict(nn.Identity(), split.test)  # the test images, in order
    x, y = x[:samples], y[:samples]
    rows = []
    for neuron in neurons or list(NEURONS):
        for t in timesteps:
            direct = train_direct(arch, split, t, neuron, config, **arch_options)
            for mode in ("exact", "hardware"):
                summary, layers = onestep_fidelity(direct, x, y, mode)
                rows.append({"arch": arch, "neuron": neuron, "neuron_label": NEURONS[neuron].label, **summary,
                             "count_error": float(layers["count_error"].mean()),
                             "first_layer_exact": float(layers["exact_neurons"].iloc[0])})
    return pd.DataFrame(rows)
