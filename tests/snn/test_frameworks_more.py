"""Norse and Sinabs networks counted by class path, unrecognised stateful neurons refused, and the
ledger of a spiking network never an ANN's (issue 30, item a)."""

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import neuron_spec
from analysis.snn.timeloop import TimeLoop

norse = pytest.importorskip("norse.torch")
sl = pytest.importorskip("sinabs.layers")

B, T = 4, 5


class NorseLoop(nn.Module):
    """Norse's idiom: a SequentialState of cells stepped over the frames of a [T, B, ...] input,
    the state passed back in."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = norse.SequentialState(nn.Linear(6, 8), norse.LIFBoxCell(), nn.Linear(8, 3), norse.LIFCell())
        with torch.no_grad():
            self.net[0].weight.mul_(20)
            self.net[2].weight.mul_(20)

    def forward(self, x):
        state, outs = None, []
        for t in range(x.shape[0]):
            out, state = self.net(x[t], state)
            outs.append(out)
        return torch.stack(outs).mean(0)


def _spikes_of(module, store):
    return module.register_forward_hook(lambda m, i, o: store.append((o[0] if isinstance(o, tuple) else o).detach()))


def test_norse_cells_counted_with_spikes_and_acs_equal_a_hand_count():
    model = NorseLoop().eval()
    x = torch.rand(T, B, 6)
    seen1, seen3 = [], []
    hooks = [_spikes_of(model.net[1], seen1), _spikes_of(model.net[3], seen3)]
    with count_events(model, strict=True) as ledger:
        model(x)
    for h in hooks:
        h.remove()
    spikes1 = float(torch.stack(seen1).sum())
    assert spikes1 > 0
    assert ledger.samples == B and ledger.timesteps == T and ledger.method == "direct_lif"
    assert ledger.total("ac") == pytest.approx(spikes1 * 3 / B)  # each spike reaches 3 synapses
    box, lif = ledger.layer("net.1"), ledger.layer("net.3")
    assert box.spikes == pytest.approx(spikes1 / B) and lif.spikes == pytest.approx(float(torch.stack(seen3).sum()) / B)
    # LIFBoxCell: one state (v); LIFCell: two (v, i); per update one cmp; dt/τ = 0.1 is a multiply
    assert box.vmem_reads == box.vmem_writes == box.cmp == 8 * T
    assert lif.vmem_reads == 2 * 3 * T and lif.cmp == 3 * T
    assert box.rule == "norse.LIFBoxCell.leak_mul.hard_reset" and box.mask == box.spikes
    assert box.add == 2 * 8 * T and lif.add == 3 * 3 * T  # v + f·(x − v); i + x, then the same two
    assert box.mul == 8 * T and lif.mul == 2 * 3 * T  # the membrane leak; and the synaptic decay
    assert not ledger.unsupported


def test_norse_lif_layer_on_a_native_sequence():
    torch.manual_seed(1)
    net = norse.SequentialState(nn.Linear(6, 8), norse.LIF(), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        net[0].weight.mul_(20)
    x = torch.rand(T, B, 6)
    seen = []
    hook = _spikes_of(net[1], seen)
    with count_events(net, strict=True, time_axis=0) as ledger:
        net(x)
    hook.remove()
    spikes = float(seen[0].sum())
    assert spikes > 0 and ledger.samples == B and ledger.timesteps == T
    assert ledger.layer("2").ac == pytest.approx(spikes * 3 / B)
    assert ledger.layer("0").mac == pytest.approx(T * 8 * 6)


def sinabs_net(squeeze: bool):
    torch.manual_seed(2)
    neuron1 = sl.IAFSqueeze(batch_size=B) if squeeze else sl.IAF()
    neuron2 = sl.LIFSqueeze(tau_mem=4.0, batch_size=B) if squeeze else sl.LIF(tau_mem=4.0)
    layers = [nn.Conv2d(1, 4, 3, padding=1), neuron1, nn.Flatten(), nn.Linear(4 * 8 * 8, 3), neuron2]
    if not squeeze:
        layers = [sl.FlattenTime(), nn.Conv2d(1, 4, 3, padding=1), sl.UnflattenTime(B), sl.IAF(),
                  sl.FlattenTime(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3), sl.UnflattenTime(B), sl.LIF(tau_mem=4.0)]
    net = nn.Sequential(*layers).eval()
    with torch.no_grad():
        next(m for m in net if isinstance(m, nn.Conv2d)).weight.mul_(3)
    return net


def test_sinabs_squeezed_net_counts_multi_spikes_and_acs_equal_a_hand_count():
    net = sinabs_net(squeeze=True)
    x = torch.rand(B * T, 1, 8, 8)
    seen = []
    hook = _spikes_of(net[1], seen)
    with count_events(net, strict=True) as ledger:
        net(x)
    hook.remove()
    out = seen[0]
    assert float(out.max()) > 1  # MultiSpike (Sinabs's default): several spikes in one step
    spikes = float(out.sum())
    assert ledger.samples == B and ledger.timesteps == T and ledger.method == "direct_lif"
    iaf = ledger.layer("1")
    assert iaf.rule == "sinabs.IAFSqueeze.no_leak.soft_reset"
    assert iaf.spikes == pytest.approx(spikes / B) and iaf.output_nonzero == pytest.approx(float((out > 0).sum()) / B)
    assert ledger.layer("3").ac == pytest.approx(spikes * 3 / B)  # one AC per spike and synapse
    lif = ledger.layer("4")
    assert lif.rule == "sinabs.LIFSqueeze.leak_mul.soft_reset" and lif.mul >= 2 * 3 * T  # α·v and (1 − α)·x


def test_sinabs_batch_first_net_counts_b_samples_and_t_steps():
    net = sinabs_net(squeeze=False)
    x = torch.rand(B, T, 1, 8, 8)
    with count_events(net, strict=True) as ledger:
        net(x)
    assert ledger.samples == B and ledger.timesteps == T
    assert ledger.layer("3").spikes > 0 and ledger.layer("6").ac == pytest.approx(ledger.layer("3").spikes * 3)


def test_sinabs_spec_reads_threshold_reset_and_leak():
    spec = neuron_spec(sl.LIF(tau_mem=2.0, spike_threshold=torch.tensor(0.5)))
    assert spec.threshold == 0.5 and spec.reset == "soft" and spec.multi_spike
    assert spec.leak == pytest.approx(float(torch.exp(torch.tensor(-0.5))))
    iaf = neuron_spec(sl.IAF())
    assert iaf.leak is None and iaf.layout == "bt"


def test_timeloop_runs_sinabs_and_norse_nets():
    x = torch.rand(B, 1, 8, 8)
    loop = TimeLoop(sinabs_net(squeeze=True), T)
    with count_events(loop, strict=True) as ledger:
        out = loop(x)
    assert out.shape == (B, 3) and ledger.samples == B and ledger.timesteps == T
    loop = TimeLoop(NorseLoop().net.eval(), T)
    with count_events(loop, strict=True) as ledger:
        out = loop(torch.rand(B, 6))
    assert out.shape == (B, 3) and ledger.samples == B and ledger.timesteps == T and ledger.layer("net.1").spikes > 0


def test_unrecognised_stateful_neurons_are_refused_or_listed_and_never_an_ann():
    class Cell(nn.Module):  # a Norse-style cell: state passed in and returned, no threshold attribute
        def forward(self, x, state=None):
            v = x if state is None else 0.5 * state + x
            return (v > 1).float(), v

    class Memory(nn.Module):  # keeps its membrane between calls, named as nothing we know
        def __init__(self):
            super().__init__()
            self.register_buffer("acc", torch.zeros(()))

        def forward(self, x):
            self.acc = self.acc + x
            return (self.acc > 1).float()

    x = torch.rand(3, 6) * 2
    for neuron in (Cell(), Memory(), norse.LSNNCell()):
        net = nn.Sequential(nn.Linear(6, 6), neuron).eval()

        def run(net=net):
            out = net(x)
            return out

        with pytest.raises(ValueError, match=r"stateful neuron|no counting rule"), count_events(net, strict=True):
            run()
        with count_events(net) as ledger:
            run()
        assert ledger.unsupported and ledger.unsupported[0][0] == "1"
        assert ledger.method != "ann"


# -- issue 30 (d): framework_form's per-channel thresholds, the snnTorch conv tutorial, RLeaky ----------
snn = pytest.importorskip("snntorch")
sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")


class ConvTutorial(nn.Module):
    """snnTorch's convolutional tutorial: F.max_pool2d written in forward, a loop over T."""

    def __init__(self, steps=T):
        super().__init__()
        torch.manual_seed(6)
        self.steps = steps
        self.conv1, self.lif1 = nn.Conv2d(1, 4, 3), snn.Leaky(beta=0.5)
        self.conv2, self.lif2 = nn.Conv2d(4, 8, 3), snn.Leaky(beta=0.5)
        self.fc1, self.lif3 = nn.Linear(8 * 2 * 2, 10), snn.Leaky(beta=0.5)

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.lif3.init_leaky()
        out = []
        for _ in range(self.steps):
            spk1, mem1 = self.lif1(nn.functional.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(nn.functional.max_pool2d(self.conv2(spk1), 2), mem2)
            spk3, mem3 = self.lif3(self.fc1(spk2.view(x.shape[0], -1)), mem3)
            out.append(spk3)
        return torch.stack(out).mean(0)


def test_framework_form_accepts_the_snntorch_conv_tutorial():
    from analysis.snn.onestep import framework_form

    net = ConvTutorial().eval()
    with torch.no_grad():
        for m in (net.conv1, net.conv2, net.fc1):
            m.weight.mul_(4)
    x = torch.rand(3, 1, 14, 14)
    form = framework_form(net, T, example=x)
    assert sum(isinstance(m, nn.MaxPool2d) for m in form.body) == 2
    with torch.no_grad():
        assert torch.equal(form(x), net(x)) and net(x).sum() > 0


def test_framework_form_keeps_per_channel_thresholds():
    from analysis.snn.onestep import framework_form

    torch.manual_seed(7)
    neuron = snn.Leaky(beta=0.5, threshold=torch.tensor([0.5, 1.0, 2.0]).reshape(3, 1, 1), init_hidden=True)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), neuron, nn.Flatten(), nn.Linear(3 * 16, 4))
    with torch.no_grad():
        net[0].weight.mul_(3)
    model = TimeLoop(net.eval(), T)
    x = torch.rand(2, 1, 4, 4)
    spec = neuron_spec(neuron)
    assert isinstance(spec.threshold, torch.Tensor) and spec.threshold.numel() == 3  # not cut to 0.5
    form = framework_form(model, T)
    with torch.no_grad():
        assert torch.allclose(form(x), model(x), atol=1e-6)
        assert not torch.allclose(model(x), net[3].bias.expand(2, 4))  # the neurons fired
        first = form.body[1].neuron
        assert float(first.threshold) == 1.0  # θ_c folded into the conv's channels


def test_rleaky_is_refused_clearly():
    from analysis.snn import ConversionError
    from analysis.snn.onestep import framework_form

    net = nn.Sequential(nn.Linear(4, 4), snn.RLeaky(beta=0.5, linear_features=4, init_hidden=True))
    with pytest.raises(ValueError, match="recurrent"):
        neuron_spec(net[1])
    with pytest.raises(ConversionError, match="recurrent"):
        framework_form(TimeLoop(net, T), T)
    with pytest.raises(ValueError, match="RLeaky"), count_events(TimeLoop(net, T), strict=True):
        TimeLoop(net, T)(torch.rand(2, 4))
