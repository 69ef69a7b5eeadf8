"""SNNs fed event frames one per step, their one-step forms, and how both are counted."""

from __future__ import annotations

import pytest
import torch

from analysis.counting import count_events
from analysis.data.events import load_moving_digits
from analysis.snn import fold_batchnorm, to_onespike
from analysis.snn.events import EventSNN, event_network
from analysis.study.networks import ModelSpec, derive


def _event_snn(method: str, arch: str = "mlp", frames: int = 4, size: int = 12) -> EventSNN:
    torch.manual_seed(0)
    options = {"width": 4} if arch == "cnn_small" else {}
    ann = ModelSpec(arch, options).build(10, 2, size)
    snn = EventSNN(derive(method, ann, steps=frames).body, frames).eval()
    with torch.no_grad():  # larger weights than at initialisation: every layer spikes
        for layer in snn.body.modules():
            if isinstance(layer, torch.nn.Linear | torch.nn.Conv2d):
                layer.weight.mul_(4.0)
    return snn


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return load_moving_digits("direction", seed=0, frames=4, size=12, subset=24).test.tensors[0]


@pytest.mark.parametrize("method", ["direct_if", "direct_lif"])
@pytest.mark.parametrize("arch", ["mlp", "cnn_small"])
def test_the_t_step_network_is_the_trained_snn_fed_frame_t_at_step_t(method, arch, frames):
    snn = _event_snn(method, arch)
    net = event_network(snn, "if")
    with torch.no_grad():
        assert torch.allclose(net(frames), snn(frames), atol=1e-5)
        reversed_frames = frames.flip(1)
        assert not torch.allclose(net(reversed_frames), net(frames))  # the SNN sees the order
    with count_events(net) as ledger:
        net(frames)
    spiking = [layer for layer in ledger.layers if layer.kind == "neuron"]
    assert all(layer.spikes > 0 for layer in spiking) and ledger.samples == len(frames) and ledger.timesteps == 4


@pytest.mark.parametrize("method", ["direct_if", "direct_lif"])
def test_the_one_step_form_sees_only_the_sum_of_the_frames(method, frames):
    snn = _event_snn(method, "cnn_small")
    onepass, grouped = event_network(snn, "onespike"), event_network(snn, "onespike", layout="grouped")
    analog = to_onespike(fold_batchnorm(snn.body), 4, layout="onepass")
    with torch.no_grad():
        out = onepass(frames)
        assert torch.allclose(grouped(frames), out, atol=1e-5)
        # the first layer averages the T frames' currents: the same as the static mean image
        assert torch.allclose(analog(frames.mean(1)), out, atol=1e-5)
        assert torch.equal(onepass(frames[:, torch.tensor([2, 0, 3, 1])]), out)  # any order, the same output
        assert torch.equal(onepass(frames.flip(1)), out)


@pytest.mark.parametrize("kind", ["if", "onespike"])
def test_event_input_is_counted_as_spikes_one_ac_per_event_and_synapse(kind, frames):
    snn = _event_snn("direct_if")
    net = event_network(snn, kind)
    with count_events(net, strict=True) as ledger:
        net(frames)
    first = next(layer for layer in ledger.layers if layer.kind == "linear")
    events_per_sample = float(frames.sum()) / len(frames)
    assert first.input_spiking and first.mac == 0
    assert first.ac == pytest.approx(events_per_sample * 128)  # 128 hidden units: each event reaches 128
    assert ledger.total("mac") == 0 and ledger.samples == len(frames)
    assert (ledger.timesteps, ledger.groups) == ((4, 1) if kind == "if" else (1, 4))
    assert ledger.meta["input_encoding"] == "events"
    assert not any(layer.kind == "norm" for layer in ledger.layers)  # batch norm folded in both forms


def test_the_same_events_cost_the_same_first_layer_in_both_forms(frames):
    snn = _event_snn("direct_lif", "cnn_small")
    acs = []
    for kind in ("if", "onespike"):
        net = event_network(snn, kind)
        with count_events(net) as ledger:
            net(frames)
        acs.append(next(layer.ac for layer in ledger.layers if layer.kind == "conv"))
    assert acs[0] == acs[1] > 0


def test_bad_event_input_is_refused_by_name(frames):
    snn = _event_snn("direct_if")
    with pytest.raises(ValueError, match=r"event frames \[B, T=4, C, H, W\]"):
        snn(frames[:, 0])
    with pytest.raises(ValueError, match="T=4"):
        event_network(snn, "if")(frames[:, :3])
    with pytest.raises(ValueError, match="empty batch"):
        event_network(snn, "onespike")(frames[:0])
    with pytest.raises(TypeError, match="EventSNN"):
        event_network(derive("direct_if", ModelSpec("mlp", {}).build(10, 2, 12), steps=4), "if")
    with pytest.raises(ValueError, match=r"event_network method .* must be one of 'if', 'onespike', got 'qcfs'"):
        event_network(snn, "qcfs")
    net = event_network(snn, "if")
    with pytest.raises(ValueError, match="sequence"):
        net.layout = "stream"


def test_the_one_step_form_of_a_directly_trained_snn_pays_no_batch_norm_its_snn_does_not():
    """Both deploy forms fold batch norm: OneSpike made from a DirectSNN used to keep it, priced a
    mul and an add per element and group."""
    torch.manual_seed(0)
    direct = derive("direct_if", ModelSpec("cnn_small", {"width": 4}).build(10, 1, 8), steps=4).eval()
    x = torch.rand(4, 1, 8, 8)
    net = derive("direct_if_psg", direct, steps=4)
    with torch.no_grad(), count_events(net) as ledger:
        net(x)
    assert not any(layer.kind == "norm" for layer in ledger.layers)


def test_first_layer_acs_equal_the_counters_declared_event_input(frames):
    """The EventInput rule and count_events(input_spikes=True, time_axis=0) (a native [T, B, ...]
    call) count the same first layer the same: one AC per event and synapse."""
    snn = _event_snn("direct_if")
    net = event_network(snn, "if")
    with count_events(net) as ours:
        net(frames)
    linear = torch.nn.Linear(2 * 12 * 12, 128, bias=False)
    plain = torch.nn.Sequential(torch.nn.Flatten(start_dim=2), linear)
    with torch.no_grad(), count_events(plain, input_spikes=True, time_axis=0) as declared:
        plain(frames.transpose(0, 1))
    first = next(layer for layer in ours.layers if layer.kind == "linear")
    assert declared.samples == ours.samples == len(frames)
    assert declared.layer("1").ac == pytest.approx(first.ac) and declared.layer("1").mac == 0
