"""Bad input gets a clear error naming the argument and the accepted values (issue 7).

Each case checks the message, not only the exception type: an error from deep inside torch would
pass a bare ``pytest.raises(Exception)`` and still leave the user lost.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.data import DataError, load_dataset
from analysis.models import build_model
from analysis.snn import ConversionError, to_if_snn, to_onespike, to_quantized
from analysis.snn.neurons import QCFS, ClampQuant, IFNeuron, PSGNeuron
from analysis.study import StudyConfig


@pytest.fixture(scope="module")
def qann():
    torch.manual_seed(0)
    return to_quantized(build_model("cnn_small", 10, 1, 8), 4).eval()


@pytest.mark.parametrize("value", [0, -1, 2.5, float("nan"), "4", True])
@pytest.mark.parametrize("name", ["timesteps", "groups"])
def test_steps_and_groups_must_be_positive_integers(qann, name, value):
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer \(1, 2, 4, \.\.\.\), got"):
        if name == "timesteps":
            to_if_snn(qann, value)
        else:
            to_onespike(qann, value)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("make", [
    lambda th: IFNeuron(th, 4), lambda th: PSGNeuron(th, 4), lambda th: QCFS(4, th), lambda th: ClampQuant(4, th),
])
def test_thresholds_must_be_finite_and_positive(make, value):
    with pytest.raises(ValueError, match=r"threshold must be (finite and > 0|> 0)"):
        make(value)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.01, max_value=100).filter(lambda v: math.frexp(v)[0] != 0.5))
def test_hardware_mode_rejects_any_non_power_of_two_threshold(theta):
    with pytest.raises(ValueError, match=r"power-of-two thresholds .*round_thresholds_pow2"):
        PSGNeuron(theta, 4, mode="hardware")


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=3, max_value=1000).filter(lambda g: g & (g - 1) != 0))
def test_hardware_mode_rejects_non_power_of_two_groups(groups):
    with pytest.raises(ValueError, match=r"power-of-two number of groups"):
        PSGNeuron(1.0, groups, mode="hardware")


@pytest.mark.parametrize("convert", [lambda q: to_onespike(q, 4), lambda q: to_if_snn(q, 4)])
def test_networks_reject_wrong_rank_channels_and_non_finite_input(qann, convert):
    net = convert(qann)
    with pytest.raises(ValueError, match=r"expects images \[B, 1, H, W\]; got shape \(8, 64\)"):
        net(torch.rand(8, 64))
    with pytest.raises(ValueError, match=r"expects images \[B, 1, H, W\]; got shape \(2, 3, 8, 8\)"):
        net(torch.rand(2, 3, 8, 8))
    bad = torch.rand(2, 1, 8, 8)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN/Inf"):
        net(bad)


def test_neurons_reject_non_finite_currents():
    with pytest.raises(ValueError, match="NaN/Inf"):
        PSGNeuron(1.0, 4)(torch.tensor([1.0, float("inf")]))
    with pytest.raises(ValueError, match=r"\[T=4, B, \.\.\.\]"):
        IFNeuron(1.0, 4)(torch.zeros(2, 3))


def test_unknown_names_get_did_you_mean():
    with pytest.raises(ValueError, match=r"unknown architecture 'resnet'\. Did you mean .*Available: "):
        build_model("resnet")
    with pytest.raises(ValueError, match=r"unknown method 'onspike'\. Did you mean 'onespike'"):
        StudyConfig(methods=["onspike"])
    with pytest.raises(ValueError, match=r"cifar10"):
        load_dataset("cifar-1O")


def test_missing_data_folder_names_folder_and_layout(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nowhere")):
        load_dataset("cifar10", tmp_path / "nowhere")


def test_unsupported_layer_names_type_and_fix():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), QCFS(4), torch.nn.Upsample(scale_factor=2))
    with pytest.raises(ConversionError, match=r"Upsample.*register_converter"):
        to_onespike(model, 4)


def test_an_empty_batch_is_one_clear_error():
    from analysis.models import build_model

    qann = to_quantized(build_model("cnn_small", 10, 1, 8), 4)
    for net in (to_onespike(qann, 4), to_if_snn(qann, 4)):
        with pytest.raises(ValueError, match="empty batch"):
            net(torch.zeros(0, 1, 8, 8))
