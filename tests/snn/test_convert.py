"""Conversion ladder: OneSpike(G) equals the quantized ANN with G levels; IF SNN; user-built nets."""

import copy

import pytest
import torch
from torch import nn

from analysis.models import available_models, build_model
from analysis.snn import (
    ConversionError,
    PSGLayer,
    RepeatSteps,
    SpikingNetwork,
    Stepwise,
    fold_batchnorm,
    round_thresholds_pow2,
    to_binary,
    to_if_snn,
    to_onespike,
    to_quantized,
)
from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, ClampQuant, IFNeuron, PSGNeuron


def randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.5)
    return model.eval()


def quantized(arch: str, kind: str, levels: int = 4, in_channels: int = 1, size: int = 8):
    ann = randomize_bn(build_model(arch, 10, in_channels, size))
    x = torch.rand(32, in_channels, size, size)
    return to_quantized(ann, levels, kind, calibration_data=x).eval(), x


@pytest.mark.parametrize("arch", ["mlp", "cnn_small"])
@pytest.mark.parametrize("kind", ["qcfs", "cq"])
@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_onespike_logits_equal_quantized_ann(arch, kind, groups):
    qann, x = quantized(arch, kind, levels=groups)
    qann, x = qann.double(), x.double()
    onespike = to_onespike(qann, groups)
    assert torch.allclose(onespike(x), qann(x), rtol=0, atol=1e-9)


def test_onespike_hardware_mode_equals_exact_with_pow2_thresholds():
    qann, x = quantized("cnn_small", "qcfs", levels=4)
    qann = round_thresholds_pow2(qann).double()
    x = x.double()
    hw = to_onespike(qann, 4, mode="hardware")
    assert all(n.mode == "hardware" for n in hw.modules() if isinstance(n, PSGNeuron))
    assert torch.allclose(hw(x), qann(x), atol=1e-9)


def test_hardware_mode_refuses_non_pow2_thresholds():
    qann, _ = quantized("mlp", "qcfs")
    with pytest.raises(ValueError, match="power-of-two thresholds"):
        to_onespike(qann, 4, mode="hardware")


def test_if_snn_approaches_quantized_ann_accuracy_and_is_exact_for_constant_inputs():
    # With analog input the first IF layer sees a constant current, so its spike count equals
    # the QCFS level exactly for T = L; an MLP with one hidden layer is then exact end to end.
    torch.manual_seed(1)
    ann = randomize_bn(build_model("mlp", 10, 1, 8, hidden=(32,)))
    x = torch.rand(64, 1, 8, 8, dtype=torch.float64)
    qann = to_quantized(ann, 4, "qcfs", calibration_data=x.float()).double().eval()
    snn = to_if_snn(qann, 4)
    assert snn.timesteps == 4 and snn.groups == 1
    assert torch.allclose(snn(x), qann(x), atol=1e-9)


def test_if_snn_differs_from_onespike_only_through_uneven_currents():
    qann, x = quantized("cnn_small", "qcfs", levels=4)
    qann, x = qann.double(), x.double()
    snn, onespike = to_if_snn(qann, 4), to_onespike(qann, 4)
    gap_if = (snn(x) - qann(x)).abs().max()
    gap_os = (onespike(x) - qann(x)).abs().max()
    assert gap_os < 1e-9 < gap_if  # deeper IF layers see spike trains that vary over time


def test_onespike_from_converted_if_snn_equals_onespike_from_qann():
    qann, x = quantized("cnn_small", "cq", levels=4)
    qann, x = qann.double(), x.double()
    for T in (4, 16):
        from_snn = to_onespike(to_if_snn(qann, T), 4)
        assert torch.allclose(from_snn(x), qann(x), atol=1e-9)


def test_conversion_does_not_mutate_input():
    qann, _ = quantized("cnn_small", "qcfs")
    before = copy.deepcopy(qann.state_dict())
    to_onespike(qann, 4)
    to_if_snn(qann, 4)
    after = qann.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def user_sequential() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 5),
    )


@pytest.mark.parametrize("kind", ["qcfs", "cq"])
def test_user_built_sequential_converts(kind):
    # AvgPool after the activation: pooled spikes are fractional, logits stay exact by linearity.
    ann = user_sequential().eval()
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    qann = to_quantized(ann, 8, kind, calibration_data=x.float()).double().eval()
    assert torch.allclose(to_onespike(qann, 8)(x), qann(x), atol=1e-9)
    assert to_if_snn(qann, 8)(x).shape == (16, 5)


def reference_onespike(layers, thetas, v_inits, groups, x):
    """Independent reference: each PSG layer = an IF neuron fed the group-average current."""
    h = layers[0](x)  # analog first layer
    for i, layer in enumerate(layers[1:]):
        avg = h
        spikes = IFNeuron(thetas[i], groups, v_inits[i])(avg.unsqueeze(0).expand(groups, *avg.shape).clone())
        h = torch.stack([layer(s) for s in spikes]).mean(0)
    return h


def test_to_onespike_accepts_user_built_if_snn():
    torch.manual_seed(3)
    conv1, conv2, fc = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1), nn.Linear(6 * 8 * 8, 3)
    snn = nn.Sequential(
        conv1, RepeatSteps(6), IFNeuron(0.7, 6, 0.0),
        Stepwise(conv2), IFNeuron(1.3, 6, 0.5),
        Stepwise(nn.Flatten()), Stepwise(fc), nn.Identity(),
    ).double()
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    assert snn(x).shape == (6, 5, 3)  # the user's SNN runs as it is
    onespike = to_onespike(snn, 4)
    flatten_fc = nn.Sequential(nn.Flatten(), fc).double()
    expected = reference_onespike([conv1, conv2, flatten_fc], [0.7, 1.3], [0.0, 0.5], 4, x)
    assert torch.allclose(onespike(x), expected, atol=1e-9)


def test_per_group_thresholds_change_spike_values():
    qann, x = quantized("cnn_small", "qcfs", levels=4)
    scales = [2.0, 1.0, 1.0, 0.5]
    net = to_onespike(qann, 4, group_threshold_scales=scales)
    psg = [m for m in net.modules() if isinstance(m, PSGNeuron)]
    assert psg and all(m.per_group for m in psg)
    steps = [m for m in net.modules() if isinstance(m, Stepwise) and m.step_scales is not None]
    assert steps and all(s.step_scales.tolist() == scales for s in steps)
    assert net(x).shape == (32, 10)
    with pytest.raises(ValueError, match="one per group"):
        to_onespike(qann, 4, group_threshold_scales=[1.0, 2.0])


def test_spike_input_encoding_matches_input_floored_to_levels():
    qann, x = quantized("cnn_small", "cq", levels=4)
    qann, x = qann.double(), x.double()
    net = to_onespike(qann, 4, input_encoding="spikes")
    floored = torch.floor(x.clamp(0, 1) * 4) / 4
    assert torch.allclose(net(x), qann(floored), atol=1e-9)
    # the IF encoder emits floor(T·x) spikes too, so the first spiking layer sees the same counts
    encoder = to_if_snn(qann, 4, input_encoding="spikes").body.encoder
    assert torch.equal(encoder(x).sum(0), floored.squeeze(0) * 4)


def test_fold_batchnorm_is_exact():
    ann = randomize_bn(build_model("cnn_small", 10, 1, 8)).double()
    x = torch.rand(8, 1, 8, 8, dtype=torch.float64)
    folded = fold_batchnorm(ann)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), ann(x), atol=1e-10)


def test_unsupported_layers_get_clear_errors():
    with pytest.raises(ConversionError, match=r"MaxPool2d cannot be converted"):
        to_onespike(to_quantized(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), 4), 4)
    with pytest.raises(ConversionError, match="to_quantized"):
        to_onespike(user_sequential(), 4)
    with pytest.raises(ConversionError, match=r"no nn\.ReLU"):
        to_quantized(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), 4)
    with pytest.raises(ConversionError, match="Tanh"):
        to_onespike(nn.Sequential(nn.Linear(2, 2), QCFS(4), nn.Tanh()), 4)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        to_onespike(to_quantized(user_sequential(), 4), 0)
    with pytest.raises(ValueError, match="timesteps must be a positive integer"):
        to_if_snn(to_quantized(user_sequential(), 4), -2)


def test_network_structure_and_facts():
    qann, _ = quantized("cnn_small", "qcfs")
    net = to_onespike(qann, 8)
    assert isinstance(net, SpikingNetwork) and net.timesteps == 1 and net.groups == 8
    layers = [m for m in net.modules() if isinstance(m, PSGLayer)]
    assert [layer.grouped_input for layer in layers] == [False, True, True]


def test_to_binary_keeps_shape_and_first_last_real():
    ann = build_model("cnn_small", 10, 1, 8)
    bnn = to_binary(ann)
    convs = [m for m in bnn.modules() if isinstance(m, nn.Conv2d)]
    assert type(convs[0]) is nn.Conv2d and all(isinstance(c, BinaryConv2d) for c in convs[1:])
    assert type(list(bnn.modules())[-1]) is nn.Linear
    assert sum(isinstance(m, BinaryActivation) for m in bnn.modules()) == 3
    assert bnn(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_registry_and_clampquant_kind():
    assert {"mlp", "cnn_small"} <= set(available_models())
    qann = to_quantized(build_model("mlp"), 4, "cq")
    assert all(type(m) is ClampQuant for m in qann.modules() if isinstance(m, QCFS))
    with pytest.raises(ValueError, match="Did you mean 'cnn_small'"):
        build_model("cnn_smal")


@pytest.mark.parametrize("scales", [None, [2.0, 1.0, 1.0, 0.5], [1.0, 0.5, 0.5, 0.25]])
def test_onepass_layout_equals_grouped_reference(scales):
    qann, x = quantized("cnn_small", "qcfs", levels=4)
    qann, x = qann.double(), x.double()
    grouped = to_onespike(qann, 4, group_threshold_scales=scales, layout="grouped")
    onepass = to_onespike(qann, 4, group_threshold_scales=scales, layout="onepass")
    assert onepass.resolved_layout == "onepass" and grouped.resolved_layout == "grouped"
    assert torch.allclose(onepass(x), grouped(x), atol=1e-9)
    if scales is None:
        assert torch.allclose(onepass(x), qann(x), atol=1e-9)


@pytest.mark.parametrize("encoding", ["analog", "spikes"])
def test_stream_layout_equals_sequence_layout(encoding):
    qann, x = quantized("cnn_small", "qcfs", levels=4)
    qann, x = qann.double(), x.double()
    sequence = to_if_snn(qann, 8, encoding, layout="sequence")
    stream = to_if_snn(qann, 8, encoding, layout="stream")
    assert torch.allclose(stream(x), sequence(x), atol=1e-12)
    assert not any(m.streaming for m in stream.modules() if isinstance(m, IFNeuron))
    assert to_if_snn(qann, 32).resolved_layout == "stream" and to_if_snn(qann, 4).resolved_layout == "sequence"


def test_layout_names_are_checked():
    qann, _ = quantized("mlp", "qcfs")
    with pytest.raises(ValueError, match="layout for a if network must be one of"):
        to_if_snn(qann, 4, layout="onepass")
    with pytest.raises(ValueError, match="layout for a onespike network"):
        to_onespike(qann, 4, layout="stream")
