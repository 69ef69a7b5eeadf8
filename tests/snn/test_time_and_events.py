"""Time as a declared axis and inputs declared as events (issue 30, items b and c): a native
SpikingJelly [T, B, ...] call against its SynOpCounter, an snnTorch loop over x[t], TimeLoop on
sequences, an event input's first layer as ACs, and operators that keep spikes spikes."""

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import TimeLoop

sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
sj_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")
snn = pytest.importorskip("snntorch")

T, B = 3, 8


def sj_net():
    torch.manual_seed(1)
    net = nn.Sequential(sj_layer.Conv2d(2, 4, 3, padding=1), sj_neuron.IFNode(v_reset=None),
                        sj_layer.MaxPool2d(2), sj_layer.Flatten(), sj_layer.Linear(4 * 4 * 4, 10),
                        sj_neuron.LIFNode(tau=2.0))
    sj_functional.set_step_mode(net, "m")
    with torch.no_grad():
        net[0].weight.mul_(3)
    return net.eval()


def sj_synops(net, x):
    sj_functional.reset_net(net)
    counter = sj_counter.SynOpCounter()
    with torch.no_grad(), sj_counter.DispatchCounterMode([counter]):
        net(x)
    sj_functional.reset_net(net)
    return counter.get_total()


def events(shape, p=0.3, seed=0):
    torch.manual_seed(seed)
    return (torch.rand(shape) < p).float()


@pytest.mark.parametrize("declared", [True, False])
def test_native_spikingjelly_sequence_counts_b_samples_t_steps_and_its_synops(declared):
    net = sj_net()
    x = events((T, B, 2, 8, 8))
    kwargs = dict(time_axis=0) if declared else {}
    with count_events(net, strict=True, input_spikes=True, **kwargs) as ledger:
        net(x)
    assert ledger.samples == B and ledger.timesteps == T
    assert ledger.meta["time_axis"] == 0 and ledger.meta.get("time_axis_inferred", False) is not declared
    # SpikingJelly's SynOpCounter counts every layer fed binary spikes (the event input too)
    assert ledger.total("ac") * B == pytest.approx(sj_synops(net, x))
    assert ledger.layer("0").rule == "conv.spike_input" and ledger.layer("0").mac == 0


def test_analog_sequence_first_layer_is_macs_and_spikingjelly_counts_it_zero():
    net = sj_net()
    torch.manual_seed(3)
    x = torch.rand(T, B, 2, 8, 8)
    with count_events(net, strict=True, time_axis=0) as ledger:
        net(x)
    first = ledger.layer("0")
    assert first.rule == "conv.analog_input" and first.mac == T * 4 * 8 * 8 * 2 * 9
    # the later layers are driven by spikes: equal to SpikingJelly's count, which skips the analog layer
    assert ledger.total("ac") * B == pytest.approx(sj_synops(net, x))


class SnnTorchLoop(nn.Module):
    """The snnTorch tutorial: spikegen-style [T, B, ...] input, a loop over x[t]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.fc1, self.lif1 = nn.Linear(20, 12), snn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(12, 4), snn.Leaky(beta=0.9)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for step in range(x.shape[0]):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


@pytest.mark.parametrize("declared", [True, False])
def test_snntorch_loop_over_frames_counts_b_samples_and_t_steps(declared):
    net = SnnTorchLoop().eval()
    with torch.no_grad():
        net.fc1.weight.mul_(4)
    x = events((T, B, 20), p=0.5)
    seen = []
    hook = net.lif1.register_forward_hook(lambda m, i, o: seen.append(o[0].detach()))
    with count_events(net, strict=True, input_spikes=True, **(dict(time_axis=0) if declared else {})) as ledger:
        net(x)
    hook.remove()
    spikes1 = float(torch.stack(seen).sum())
    assert ledger.samples == B and ledger.timesteps == T
    assert ledger.layer("lif1").spikes == pytest.approx(spikes1 / B)
    assert ledger.layer("fc1").ac == pytest.approx(float(x.sum()) * 12 / B)  # the events reach 12 synapses each
    assert ledger.layer("fc2").ac == pytest.approx(spikes1 * 4 / B)


def test_a_batch_its_neurons_contradict_is_refused_naming_time_axis():
    net = SnnTorchLoop().eval()
    x = torch.rand(T, B, 20)
    with pytest.raises(ValueError, match="time_axis"), count_events(net, time_axis=1):
        net(x)


def test_timeloop_refuses_a_sequence_unless_declared_and_steps_its_frames():
    net = sj_net()
    loop = TimeLoop(net, T)
    x = events((T, B, 2, 8, 8))
    with pytest.raises(ValueError, match="sequence=True"):
        loop(x)
    seq = TimeLoop(net, T, sequence=True)
    with count_events(seq, strict=True, input_spikes=True) as ledger:
        out = seq(x)
    assert out.shape == (B, 10) and ledger.samples == B and ledger.timesteps == T
    assert ledger.total("ac") * B == pytest.approx(sj_synops(net, x))
    single = sj_net()
    sj_functional.set_step_mode(single, "s")
    seq = TimeLoop(single, T, sequence=True)
    with count_events(seq, strict=True, input_spikes=True) as stepped:
        out2 = seq(x)
    assert torch.allclose(out, out2) and stepped.total("ac") == pytest.approx(ledger.total("ac"))


def test_input_spikes_must_be_spike_counts():
    net = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(ValueError, match="spike counts"), count_events(net, input_spikes=True):
        net(torch.rand(2, 4))
    with pytest.raises(ValueError, match="time_axis"), count_events(net, time_axis=2):
        pass


def test_event_counts_weigh_each_event_once():
    net = nn.Sequential(nn.Linear(4, 3))
    x = torch.tensor([[0.0, 2.0, 1.0, 0.0]])  # three events on two inputs
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(x)
    assert ledger.layer("0").ac == 9 and ledger.layer("0").mac == 0


class SEWBlock(nn.Module):
    """SEW-ResNet's IAND ((1 − s)·x), an AND, a channel chunk, a cat and a max of spikes."""

    def __init__(self, how: str):
        super().__init__()
        torch.manual_seed(4)
        self.how = how
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.sn = sj_neuron.IFNode()
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, s):
        out = self.sn(self.conv(s))
        if self.how == "iand":
            y = (1.0 - out) * s
        elif self.how == "and":
            y = torch.logical_and(out.bool(), s.bool()).float()
        elif self.how == "chunk":
            a, b = s.chunk(2, dim=1)
            y = torch.cat([b, torch.maximum(a, out[:, :1])], dim=1)
        else:  # a spike-preserving max pooling over width of spikes and input
            y = nn.functional.max_pool2d(torch.cat([s, out], dim=1), kernel_size=(1, 2))
        return self.fc(y.flatten(1))


@pytest.mark.parametrize("how", ["iand", "and", "chunk", "max"])
def test_operators_on_spikes_pass_spikes_on(how):
    net = SEWBlock(how).eval()
    with torch.no_grad():
        net.conv.weight.mul_(3)
    x = events((B, 2, 4, 4), p=0.5, seed=5)
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(x)
    fc = ledger.layer("fc")
    assert fc.rule == "linear.spike_input" and fc.mac == 0 and fc.ac > 0
    assert ledger.total("mac") == 0  # every synaptic layer of the block is driven by spikes
