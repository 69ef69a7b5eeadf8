"""Q11's binary-weighted thresholds as a real bit-plane code (issue #29 item 5): the G spikes of a
neuron are the binary digits of one level, so OneSpike(G) is exact at 2^G levels — it equals the
quantized ANN re-levelled to L = 2^G − 1 — and its events are counted as the successive
approximation it is."""

import pytest
import torch

from analysis.counting import count_events
from analysis.models import build_model
from analysis.snn import to_onespike, to_quantized
from analysis.snn.neurons import QCFS, PSGNeuron
from analysis.study.networks import relevel
from analysis.study.thresholds import binary_scales


def test_the_spikes_are_the_binary_digits_of_the_level():
    theta0, groups = 0.5, 3
    neuron = PSGNeuron([theta0 * 2**i for i in range(groups)], groups, code="bitplane")
    total = torch.tensor([-1.0, 0.0, 0.49, 0.5, 1.7, 2.5, 3.49, 3.5, 100.0])
    spikes = neuron(total)
    levels = torch.clamp(torch.floor(total / theta0), 0, 2**groups - 1)
    assert torch.equal((spikes * torch.tensor([1.0, 2.0, 4.0]).reshape(-1, 1)).sum(0), levels)
    assert spikes[:, 4].tolist() == [1.0, 1.0, 0.0]  # 1.7 / 0.5 -> level 3 = 0b011
    assert spikes[:, 5].tolist() == [1.0, 0.0, 1.0]  # level 5 = 0b101: not an ascending IF scan's 0b011
    # the rate code (an IF scan with the same thresholds) is a different, lossy code
    assert not torch.equal(PSGNeuron(neuron.threshold.tolist(), groups)(total), spikes)
    # v_init shifts the level by v_init·θ_0 (QCFS's φ = ½: round half up)
    half = PSGNeuron(neuron.threshold.tolist(), groups, v_init=0.5, code="bitplane")
    assert half(torch.tensor([0.26]))[:, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("groups", [2, 3, 4])
@pytest.mark.parametrize("kind", ["qcfs", "cq"])
def test_onespike_with_the_bitplane_code_is_the_quantized_ann_at_2_to_the_g_levels(groups, kind):
    torch.manual_seed(groups)
    ann = build_model("cnn_small", 10, 1, 8, width=8).eval()
    x = torch.rand(24, 1, 8, 8)
    qann = to_quantized(ann, 4, kind, calibration_data=x).double().eval()
    net = to_onespike(qann, groups, group_threshold_scales=binary_scales(groups), group_code="bitplane").double()
    reference = relevel(qann, 2**groups - 1)
    assert {m.levels for m in reference.modules() if isinstance(m, QCFS)} == {2**groups - 1}
    # the per-group thresholds θ·G·2^i/(2^G − 1) are held in float32: equal up to that rounding (a
    # level flip would move a logit by about θ/L times a weight, 1e-3 here)
    with torch.no_grad():
        assert (net(x.double()) - reference(x.double())).abs().max() < 1e-6
    for layout in ("grouped", "onepass"):
        laid = to_onespike(qann, groups, group_threshold_scales=binary_scales(groups), group_code="bitplane",
                           layout=layout).double()
        with torch.no_grad():
            assert (laid(x.double()) - reference(x.double())).abs().max() < 1e-6


def test_the_bitplane_code_is_counted_as_a_successive_approximation():
    torch.manual_seed(0)
    ann = build_model("mlp", 10, 1, 8).eval()
    x = torch.rand(8, 1, 8, 8)
    qann = to_quantized(ann, 4, calibration_data=x).eval()
    net = to_onespike(qann, 4, group_threshold_scales=binary_scales(4), group_code="bitplane", layout="grouped")
    with torch.no_grad(), count_events(net) as ledger:
        net(x)
    neurons = [layer for layer in ledger.layers if layer.kind == "neuron"]
    assert neurons and all(layer.rule.startswith("psg.bitplane") for layer in neurons)
    for layer in neurons:
        n = layer.neurons
        # per neuron: R = I + v (QCFS: v_init = ½), G compares, one subtraction per spike; no mul/mod
        assert layer.cmp == pytest.approx(4 * n) and layer.spikes > 0
        assert layer.mul == 0 and layer.mod == 0
        grouped_sum = 3 * n if layer.name != neurons[0].name else 0  # I = Σ_g x_g past the first layer
        assert layer.add == pytest.approx(grouped_sum + n + layer.spikes)


def test_a_bitplane_code_needs_binary_weighted_thresholds():
    with pytest.raises(ValueError, match=r"binary-weighted thresholds θ_i = 2\^i·θ_0"):
        PSGNeuron([1.0, 1.0, 1.0], 3, code="bitplane")
    with pytest.raises(ValueError, match="one threshold per group"):
        PSGNeuron(1.0, 3, code="bitplane")
    with pytest.raises(ValueError, match="code must be one of"):
        PSGNeuron([1.0, 2.0], 2, code="binary")
    qann = to_quantized(build_model("mlp", 10, 1, 8).eval(), 4)
    with pytest.raises(ValueError, match="needs group_threshold_scales"):
        to_onespike(qann, 4, group_code="bitplane")
