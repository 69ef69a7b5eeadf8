"""Activation clips from the float network: what a quantized network's thresholds are calibrated on.

A quantizer's clip λ is a statistic of the values its ReLU site sees in the **float** network. One
pass of the float network over the calibration images records every site's positive inputs (a
forward pre-hook per site) and keeps a seeded random sample of at most :data:`CALIBRATION_SAMPLE` of
them. λ is a ``percentile`` of that sample (the INT8 ANN: its 255 steps cover a long tail cheaply),
or the clip of least quantization error at the quantizer's own levels (:func:`mse_clip`; the
default for a quantized network of few levels, which fine-tuning then starts from: on digits,
QCFS/CQ with L = 4 fine-tuned 10 epochs from it reached 95.8–97.5% on resnet20 and repvgg_a0 vs
90.8–94.7% from the 99.9th percentile). Calibrating on a network whose quantizers are already live
would be wrong: every site after the first would see the clipped, rounded outputs of the quantizers
before it at their starting thresholds (resnet20's ``layer1.0`` saw 2.61 where the float maximum
was 4.98), and the INT8 ANN lost 10 to 14 points of accuracy to it.

The sites of a float network are its ReLU-family modules (``nn.ReLU``, ``nn.ReLU6``,
``nn.Hardtanh(0, a)``). A network whose sites are already quantizers (QCFS/ClampQuant, e.g. the
quantized network a study fine-tunes) runs its float pass with each quantizer computing the float
activation it replaced (``max(x, 0)``, or ``clip(x, 0, a)`` where it replaced a ReLU6/Hardtanh
whose clip it records as ``float_clip``), so both give the same clips for the same weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from analysis.snn.quantizers import QCFS

__all__ = [
    "CALIBRATION_SAMPLE",
    "CALIBRATION_SEED",
    "MIN_THRESHOLD",
    "MSE_CANDIDATES",
    "MSE_SAMPLE",
    "bounded_threshold",
    "calibrate_thresholds",
    "float_clips",
    "float_samples",
    "is_relu_activation",
    "mse_clip",
    "percentile_clip",
]

#: Values per site the percentile is taken from: a site with more positive values is sampled
#: (uniformly, with replacement, by a generator seeded with :data:`CALIBRATION_SEED`).
#: ``torch.quantile`` refuses inputs above 16 million values; a million keeps the 99.99th
#: percentile's standard error well under one 255th of the range.
CALIBRATION_SAMPLE = 1_000_000
#: The seed of the sample (fixed, so a calibration is reproducible).
CALIBRATION_SEED = 0
#: The smallest threshold a calibration sets (a site whose values are all but zero).
MIN_THRESHOLD = 1e-3
#: Candidate clips of :func:`mse_clip` (``max·k/100``, k = 1..100) and the values it scores them on.
MSE_CANDIDATES = 100
MSE_SAMPLE = 200_000


def is_relu_activation(module: nn.Module) -> bool:
    """``module`` is a ReLU-family activation of a float network (a site a quantizer replaces)."""
    return type(module) in (nn.ReLU, nn.ReLU6, nn.Hardtanh)


def _float_output(module: QCFS, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
    """The float activation a quantizer replaced, computed in its place during the float pass."""
    clip = getattr(module, "float_clip", None)
    return inputs[0].clamp(min=0) if clip is None else inputs[0].clamp(0, float(clip))


def _sampled(values: list[Tensor], sample: int, generator: torch.Generator) -> Tensor:
    positive = torch.cat(values) if len(values) > 1 else values[0]
    if positive.numel() > sample:
        index = torch.randint(positive.numel(), (sample,), generator=generator)
        positive = positive[index.to(positive.device)]
    return positive.float()


def _check_percentile(percentile: float) -> float:
    if not 0 < float(percentile) <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    return float(percentile)


@torch.no_grad()
def float_samples(network: nn.Module, data: Tensor, sample: int = CALIBRATION_SAMPLE,
                  seed: int = CALIBRATION_SEED) -> dict[nn.Module, Tensor]:
    """Every activation site of ``network`` and a seeded random sample (at most ``sample``, uniform
    with replacement) of the positive values it receives in one pass of the float network over
    ``data``. Sites are ReLU-family modules and QCFS/ClampQuant quantizers (run as the float
    activation they replaced, see the module docstring); a module called at several places pools
    its values. A site that saw no positive value is left out. ``network`` is left as it was."""
    if not isinstance(data, Tensor) or data.dim() < 2 or not len(data):
        got = f"a tensor of shape {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(f"calibration data must be a batch of training images [N, ...] with N >= 1, got {got}")
    if int(sample) < 1:
        raise ValueError(f"sample must be a positive number of values, got {sample!r}")
    sites = [m for m in network.modules() if is_relu_activation(m) or isinstance(m, QCFS)]
    seen: dict[nn.Module, list[Tensor]] = {m: [] for m in sites}

    def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        values = inputs[0].detach().flatten()
        seen[module].append(values[values > 0])

    handles = [m.register_forward_pre_hook(record) for m in sites]
    handles += [m.register_forward_hook(_float_output) for m in sites if isinstance(m, QCFS)]
    was_training = network.training
    try:
        network.eval()
        network(data)
    except RuntimeError as exc:
        raise ValueError(f"the calibration images (shape {tuple(data.shape)}) do not run through the network: "
                         f"{str(exc).splitlines()[0]}; pass training images of the shape the network takes") from None
    finally:
        for handle in handles:
            handle.remove()
        network.train(was_training)
    generator = torch.Generator().manual_seed(int(seed))
    samples = {m: _sampled(values, int(sample), generator) for m, values in seen.items() if values}
    return {m: values for m, values in samples.items() if values.numel()}


def percentile_clip(values: Tensor, percentile: float) -> float:
    """The ``percentile`` (in (0, 100]) of ``values``."""
    return float(torch.quantile(values.float(), _check_percentile(percentile) / 100))


def mse_clip(values: Tensor, levels: int, shift: float, candidates: int = MSE_CANDIDATES) -> float:
    """The clip λ in ``{max·k/candidates}`` that minimises the mean squared error between ``values``
    and their quantization ``λ/L·clip(floor(x·L/λ + shift), 0, L)`` at ``levels`` L (scored on the
    first :data:`MSE_SAMPLE` of them, a sample that is already random): the mean-squared-error
    calibration of post-training quantization. At few levels it clips far below the top percentile
    (four levels spread over a long tail would leave most values at zero)."""
    values = values.float()[:MSE_SAMPLE]
    top = float(values.max())
    best, error = top, float("inf")
    for k in range(1, int(candidates) + 1):
        clip = top * k / candidates
        quantized = torch.clamp(torch.floor(values * (levels / clip) + shift), 0, levels) * (clip / levels)
        found = float(((quantized - values) ** 2).mean())
        if found < error:
            best, error = clip, found
    return best


@torch.no_grad()
def float_clips(network: nn.Module, data: Tensor, percentile: float = 99.9, sample: int = CALIBRATION_SAMPLE,
                seed: int = CALIBRATION_SEED) -> dict[nn.Module, float]:
    """The clip of every activation site of ``network``: the ``percentile`` (in (0, 100]) of the
    site's positive values in one pass of the float network over ``data`` (:func:`float_samples`)."""
    percentile = _check_percentile(percentile)
    return {m: percentile_clip(values, percentile) for m, values in float_samples(network, data, sample, seed).items()}


@torch.no_grad()
def calibrate_thresholds(qann: nn.Module, data: Tensor, percentile: float | None = None) -> nn.Module:
    """Set each QCFS/ClampQuant threshold of ``qann`` from its site's positive values in the float
    network (:func:`float_samples`; in place, returns ``qann``): their ``percentile``, or with
    ``percentile=None`` the clip of least quantization error at the quantizer's own levels and shift
    (:func:`mse_clip`); never below :data:`MIN_THRESHOLD` nor above the ``float_clip`` of a
    ReLU6/Hardtanh it replaced. A standard initialisation before fine-tuning; a site without
    positive values keeps its threshold."""
    if percentile is not None:
        _check_percentile(percentile)
    for module, values in float_samples(qann, data).items():
        if isinstance(module, QCFS):
            clip = percentile_clip(values, percentile) if percentile is not None else \
                mse_clip(values, module.levels, module.shift)
            module.threshold.fill_(bounded_threshold(clip, getattr(module, "float_clip", None)))
    return qann


def bounded_threshold(clip: float, float_clip: float | None) -> float:
    """A calibrated threshold: ``clip`` at least :data:`MIN_THRESHOLD`, at most ``float_clip``."""
    value = max(clip, MIN_THRESHOLD)
    return value if float_clip is None else min(value, float(float_clip))
