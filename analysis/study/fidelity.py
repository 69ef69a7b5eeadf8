"""Q1, Q4 and Q10 measurements: how exactly OneSpike is its quantized ANN, and how well IF and PSG
spike counts carry a value.

- :func:`equivalence_unit`: Q1 on the quantized ANN's priced network (deploy form, quantized
  weights): OneSpike(G) and IF(T) against the quantized ANN with L = G = T, logits in float64, and
  the level flips of OneSpike in the float32 deploy form (and in float64) with their cause
  (:func:`level_flips`).

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
from torch import Tensor, nn

from analysis.methods import Method
from analysis.snn import QCFS, IFNeuron, PSGLayer, PSGNeuron, SpikingNetwork
from analysis.study import distributed
from analysis.study.evaluate import batches, max_logit_gap
from analysis.study.networks import derive, relevel

__all__ = ["EQUIVALENCE_METHODS", "TIE_LEVELS", "WORKED_INPUTS", "WORKED_THRESHOLD", "equivalence_unit",
           "layer_errors", "level_flips", "random_fidelity", "recorded_fidelity", "worked_example"]

#: The methods an equivalence unit (Q1) compares with the quantized ANN of as many levels; each gets
#: the columns ``<method>_max_abs_logit_diff`` and ``<method>_agreement`` of equivalence.csv (float64).
EQUIVALENCE_METHODS = (Method.ONESPIKE, Method.IF)
#: A level flip is *at a threshold* when both networks' pre-activations, in units of one level
#: (``x·L/λ + φ`` and ``I/θ + v_init``), lie within this distance of the level boundary between
#: them: far wider than float32 rounding of a sum (~1e-6 here), far narrower than a level.
TIE_LEVELS = 1e-3

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
    ``layer``: its layer name (as in layers.csv); ``block``: the module path that holds it (a
    residual block, or "" at top level)."""
    q64 = copy.deepcopy(qann).double().eval()
    s64 = copy.deepcopy(snn).double().eval()
    s64.layout = "sequence"
    quant_out: list[tuple[str, torch.Tensor]] = []
    spike_out: list[torch.Tensor] = []
    quants = _named(q64, QCFS)  # by layer name, as layers.csv names them
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
                     "block": _block(name),
                     "if_mean_abs_error": error, "activation_mean": mean,
                     "relative_error": error / mean if mean > 0 else float("nan")})
    return rows


def _block(name: str) -> str:
    """The module path that holds the layer ``name`` ("" at top level): the scope of an op's call
    site (``layer1.0/relu#2`` -> ``layer1.0``), else the module's parent."""
    scope, op, _ = name.partition("/")
    return scope if op else name.partition("#")[0].rpartition(".")[0]


# -- Q1: OneSpike(G) against the quantized ANN with L = G, and its precision ------------------------
def _levels_quant(module: QCFS, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(z, level)`` of a QCFS input: the pre-activation in level units and its level, computed
    with the same operations, in the same dtype, as ``QCFS.forward``."""
    z = x * (module.levels / module.threshold.to(x.dtype)) + module.shift
    return z, torch.clamp(torch.floor(z), 0, module.levels)


def _levels_psg(layer: PSGLayer, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(z, level)`` of a one-pass PSG layer's input, as ``PSGNeuron.spike_count`` computes it."""
    neuron = layer.neuron
    total = x if layer.grouped_input else x * layer.groups
    z = total / neuron.threshold.to(total.dtype) + neuron.v_init
    return z, torch.clamp(torch.floor(z), 0, neuron.groups)


def _sites(net: nn.Module, kind: type) -> dict[str, nn.Module]:
    return {getattr(m, "source_name", name): m for name, m in net.named_modules() if isinstance(m, kind)}


@torch.no_grad()
def level_flips(onespike: SpikingNetwork, quantized: nn.Module, test_set, dtype: torch.dtype,
                device: str = "cpu") -> tuple[dict[str, float], list[dict[str, Any]]]:
    """OneSpike(G) against the quantized ANN with L = G, both run in ``dtype`` on the test set.

    Per quantized activation (joined with its PSG layer by ``source_name``): ``activations`` compared,
    ``level_flips`` (elements whose level, the QCFS level or the PSG spike count, differs) and
    ``at_threshold`` (flips where both pre-activations lie within :data:`TIE_LEVELS` of the one
    level boundary between them: float rounding decided the level, not the method; the other flips
    follow from a flip in an earlier layer). Overall: ``prediction_flips`` (test images whose
    predicted class differs) of ``samples``, ``max_abs_logit_diff`` and ``max_abs_logit`` (the
    quantized ANN's largest |logit|, the scale of the difference)."""
    spiking = copy.deepcopy(onespike).to(dtype).eval().to(device)
    spiking.layout = "onepass"
    plain = copy.deepcopy(quantized).to(dtype).eval().to(device)
    quants, psgs = _sites(plain, QCFS), _sites(spiking, PSGLayer)
    if set(quants) != set(psgs) or len(quants) != sum(isinstance(m, QCFS) for m in plain.modules()):
        raise ValueError(f"the quantized ANN's activations {list(quants)} and OneSpike's PSG layers {list(psgs)} do "
                         "not correspond")
    seen: dict[str, dict[str, tuple[Tensor, Tensor]]] = {"quant": {}, "psg": {}}
    handles = [m.register_forward_pre_hook(lambda m, i, name=name: seen["quant"].__setitem__(name, _levels_quant(
        m, i[0]))) for name, m in quants.items()]
    handles += [m.register_forward_pre_hook(lambda m, i, name=name: seen["psg"].__setitem__(name, _levels_psg(
        m, i[0]))) for name, m in psgs.items()]
    names = list(quants)
    counts = torch.zeros(len(names), 3, dtype=torch.float64)  # activations, flips, at threshold
    prediction_flips, samples, gap, peak = 0, 0, 0.0, 0.0
    try:
        for x, _ in distributed.shard(batches(test_set)):
            x = x.to(device=device, dtype=dtype)
            a, b = spiking(x), plain(x)
            prediction_flips += int((a.argmax(1) != b.argmax(1)).sum())
            samples += len(x)
            gap, peak = max(gap, float((a - b).abs().max())), max(peak, float(b.abs().max()))
            for index, name in enumerate(names):
                (z_q, level_q), (z_p, level_p) = seen["quant"][name], seen["psg"][name]
                flipped = level_q != level_p
                boundary = torch.maximum(level_q, level_p)
                tie = flipped & ((level_q - level_p).abs() == 1) & ((z_q - boundary).abs() < TIE_LEVELS) & (
                    (z_p - boundary).abs() < TIE_LEVELS)
                counts[index] += torch.tensor([flipped.numel(), int(flipped.sum()), int(tie.sum())],
                                              dtype=torch.float64)
    finally:
        for handle in handles:
            handle.remove()
    summed = distributed.all_reduce_sum([*counts.flatten().tolist(), prediction_flips, samples])
    gap, peak = distributed.all_reduce_max([gap, peak])
    counts = torch.tensor(summed[:-2], dtype=torch.float64).reshape(len(names), 3)
    layers = [{"layer": name, "layer_index": index, "activations": int(row[0]), "level_flips": int(row[1]),
               "at_threshold": int(row[2])} for index, (name, row) in enumerate(zip(names, counts, strict=True))]
    summary = {"activations": int(counts[:, 0].sum()), "level_flips": int(counts[:, 1].sum()),
               "at_threshold": int(counts[:, 2].sum()), "prediction_flips": int(summed[-2]), "samples": int(summed[-1]),
               "max_abs_logit_diff": gap, "max_abs_logit": peak}
    return summary, layers


def equivalence_unit(quantized: nn.Module, steps: int, test_set, device: str = "cpu",
                     methods: tuple[str, ...] = EQUIVALENCE_METHODS) -> dict[str, Any]:
    """Q1 for G = T = L = ``steps`` on ``quantized``, the quantized ANN's priced network (deploy
    form, quantized weights; OneSpike and IF are converted from it, as the study's are).

    ``<method>_max_abs_logit_diff`` / ``<method>_agreement`` for OneSpike and IF: logits against the
    quantized ANN with L = steps, in float64 (``precision``), where OneSpike is identical. Then
    OneSpike in the float32 deploy form that runs: ``level_flips_float32`` (activations on another
    level than the quantized ANN's), ``level_flips_at_threshold_float32`` (of them, decided by float
    rounding at a level boundary), ``prediction_flips_float32``, ``max_abs_logit_diff_float32``,
    ``max_abs_logit_float32``, ``activations_compared``, and ``level_flips_float64`` (the same count
    in float64). ``layers``: the per-layer counts (:func:`level_flips`). ``methods``: the group-parallel
    method whose levels are compared first (OneSpike), then the others compared by their logits."""
    q64 = copy.deepcopy(quantized).cpu().double()
    same64 = relevel(q64, steps)
    out: dict[str, Any] = {"precision": "float64"}
    grouped, *others = methods
    flips64, layers64 = level_flips(derive(grouped, q64, steps), same64, test_set, torch.float64, device)
    gaps = {  # the group-parallel method's float64 logits were compared by level_flips already
        grouped: {"max_abs_logit_diff": flips64["max_abs_logit_diff"],
                  "agreement": 1 - flips64["prediction_flips"] / flips64["samples"]},
        **{method: max_logit_gap(derive(method, q64, steps), same64, test_set, device) for method in others}}
    for method in methods:
        out.update({f"{method}_{measure}": gaps[method][measure] for measure in ("max_abs_logit_diff", "agreement")})
    q32 = copy.deepcopy(quantized).cpu().float()
    flips32, layers32 = level_flips(derive(grouped, q32, steps), relevel(q32, steps), test_set,
                                    torch.float32, device)
    out.update({"activations_compared": flips32["activations"], "level_flips_float32": flips32["level_flips"],
                "level_flips_at_threshold_float32": flips32["at_threshold"],
                "prediction_flips_float32": flips32["prediction_flips"],
                "max_abs_logit_diff_float32": flips32["max_abs_logit_diff"],
                "max_abs_logit_float32": flips32["max_abs_logit"], "level_flips_float64": flips64["level_flips"]})
    out["layers"] = [{"layer": row32["layer"], "layer_index": row32["layer_index"], "activations": row32["activations"],
                      "level_flips_float32": row32["level_flips"], "at_threshold_float32": row32["at_threshold"],
                      "level_flips_float64": row64["level_flips"]}
                     for row32, row64 in zip(layers32, layers64, strict=True)]
    return out
