"""Activation clips come from the float network (issue #29 item 4): one pass with no quantizer live,
a seeded random sample of each site's values, the same clips for the INT8 ANN, ``to_quantized``'s
calibration and the quantized network a study fine-tunes."""

import pytest
import torch
from torch import nn

from analysis.data import load_dataset
from analysis.snn import QCFS, ActivationQuant, calibrate_thresholds, float_clips, to_int8, to_quantized
from analysis.snn.calibration import mse_clip
from analysis.study.config import StudyConfig
from analysis.study.evaluate import batches
from analysis.study.networks import ModelSpec, priced_form
from analysis.study.training import TrainConfig, evaluate, train_for
from analysis.study.variants import CALIBRATION_SAMPLES


def _deep_net() -> nn.Sequential:
    """x -> relu(x) -> relu(10 x) -> logits: the second site's float values reach 10x the first's."""
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2))
    with torch.no_grad():
        for layer, weight in ((net[0], 1.0), (net[2], 10.0), (net[4], 1.0)):
            layer.weight.fill_(weight)
            layer.bias.zero_()
    return net.eval()


def _thresholds(net: nn.Module) -> list[float]:
    return [float(m.threshold.detach()) for m in net.modules() if isinstance(m, QCFS)]


def test_every_clip_is_the_float_networks_statistic_not_one_clipped_by_the_quantizers_before_it():
    torch.manual_seed(0)
    x = 4 * torch.rand(2000, 1)
    net = _deep_net()
    with torch.no_grad():
        second = net[2](net[1](net[0](x)))  # the second ReLU site's float inputs, up to 40
    expected = [float(torch.quantile(x[x > 0], 0.999)), float(torch.quantile(second[second > 0], 0.999))]
    qann = to_quantized(net, 4, calibration_data=x, calibration_percentile=99.9)
    assert _thresholds(qann) == pytest.approx(expected, rel=1e-6)
    # with the first quantizer live at its starting threshold 1.0, the second site could see at most
    # 10 x 1.0: the float statistic (about 40) is far above anything a clipped pass records
    assert _thresholds(qann)[1] > 3.5 * 10 * 1.0
    int8 = to_int8(net, x, percentile=99.9)
    assert [float(m.threshold) for m in int8.modules() if isinstance(m, ActivationQuant)] == pytest.approx(expected,
                                                                                                           rel=1e-6)
    # the quantized network a study fine-tunes (quantizers live, thresholds 1.0) gets the same clips
    live = to_quantized(net, 4)
    assert _thresholds(live) == [1.0, 1.0]
    assert _thresholds(calibrate_thresholds(live, x, percentile=99.9)) == pytest.approx(expected, rel=1e-6)
    # and the network is left as it was: its weights, and the float ANN untouched
    assert net[2].weight.item() == 10.0 and not any(isinstance(m, QCFS) for m in net.modules())


def test_the_percentile_is_taken_from_a_seeded_random_sample_not_the_first_values():
    x = torch.cat([torch.full((100, 1), 0.1), torch.full((900, 1), 5.0)])  # the first 100 are small
    net = nn.Sequential(nn.Identity(), nn.ReLU())
    site = net[1]
    clip = float_clips(net, x, percentile=50, sample=100)[site]
    assert clip == 5.0  # the first 100 values would give 0.1
    assert float_clips(net, x, percentile=50, sample=100)[site] == clip  # seeded: reproducible
    assert float_clips(net, x, percentile=5, sample=10_000)[site] == pytest.approx(0.1)  # all values: exact
    # a sample, not the whole: a small sample of a spread distribution differs from the exact value
    spread = torch.linspace(0.001, 1, 100_000).reshape(-1, 1)
    exact = float(torch.quantile(spread.flatten(), 0.9))
    sampled = float_clips(net, spread, percentile=90, sample=1000)[site]
    assert sampled != exact and sampled == pytest.approx(exact, abs=0.05)
    assert float_clips(net, spread, percentile=90, sample=1000, seed=1)[site] != sampled


def test_a_relu_called_twice_pools_both_calls_and_a_site_that_never_fires_keeps_its_start():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.relu(x) * 3 - 100)  # the second call never fires

    x = torch.rand(500, 1)
    clips = float_clips(Twice().eval(), x, percentile=100)
    assert list(clips.values()) == [pytest.approx(float(x.max()))]
    graph = to_quantized(Twice().eval(), 4, calibration_data=x, calibration_percentile=100)  # one quantizer a call
    assert _thresholds(graph) == [pytest.approx(float(x.max())), 1.0]


def _quantization_error(values, clip, levels, shift):
    quantized = torch.clamp(torch.floor(values * levels / clip + shift), 0, levels) * clip / levels
    return float(((quantized - values) ** 2).mean())


@pytest.mark.parametrize("shift", [0.5, 0.0])
def test_the_default_clip_of_a_few_level_quantizer_is_the_one_of_least_quantization_error(shift):
    torch.manual_seed(0)
    values = torch.distributions.Exponential(1.0).sample((50_000,))  # a long tail, as ReLU outputs have
    clip = mse_clip(values, 4, shift)
    top = float(torch.quantile(values, 0.999))
    assert clip < 0.6 * top  # four levels are not spread over the tail
    for other in (top, float(values.max()), 0.5 * clip, 1.5 * clip):
        assert _quantization_error(values, clip, 4, shift) <= _quantization_error(values, other, 4, shift)
    assert mse_clip(values, 255, shift) > 2 * clip  # many levels afford a wide clip


def test_to_quantized_and_the_fine_tuned_networks_calibration_use_the_float_values_at_their_levels():
    torch.manual_seed(0)
    x = 4 * torch.rand(2000, 1)
    net = _deep_net()
    with torch.no_grad():
        second = net[2](net[1](net[0](x))).flatten()
    for kind, shift in (("qcfs", 0.5), ("cq", 0.0)):
        expected = [mse_clip(x.flatten(), 4, shift), mse_clip(second[second > 0], 4, shift)]
        assert expected[1] > 10.0  # above what the second site sees behind a live quantizer at 1.0
        assert _thresholds(to_quantized(net, 4, kind, calibration_data=x)) == pytest.approx(expected, rel=1e-6)
        live = to_quantized(net, 4, kind)
        assert _thresholds(calibrate_thresholds(live, x)) == pytest.approx(expected, rel=1e-6)


def test_calibration_data_that_does_not_fit_gets_a_clear_error():
    net = _deep_net()
    with pytest.raises(ValueError, match=r"calibration images \(shape \(4, 3\)\) do not run through the network"):
        to_quantized(net, 4, calibration_data=torch.rand(4, 3))
    with pytest.raises(ValueError, match="batch of training images"):
        float_clips(net, torch.rand(0, 1))
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        float_clips(net, torch.rand(4, 1), percentile=0)


@pytest.mark.slow  # trains the default study's four ANNs on digits (about a minute on one core)
@pytest.mark.parametrize("arch", StudyConfig().archs)
def test_int8_is_within_one_point_of_the_float_ann_on_every_default_architecture(arch):
    config = StudyConfig()
    split = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    ann = ModelSpec(arch, config.options_for(arch), None).build(split.num_classes, split.in_channels, split.image_size)
    train_for("ann", ann, split.train, TrainConfig(epochs=config.epochs_ann, lr=config.lr, batch_size=config.batch_size,
                                                   progress=False, patience=config.plateau_patience,
                                                   min_delta=config.plateau_delta))
    images = next(iter(batches(split.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))[0]
    float_accuracy = evaluate(priced_form(ann.eval(), 32)[0], split.test)
    int8_accuracy = evaluate(to_int8(priced_form(ann, 8)[0], images), split.test)
    assert abs(int8_accuracy - float_accuracy) <= 0.01, (arch, float_accuracy, int8_accuracy)
